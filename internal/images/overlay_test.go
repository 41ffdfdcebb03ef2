package images

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWriteOverlayDeploysTheGivenImages builds the overlay of config/default with kubectl's kustomize,
// as make deploy applies it, and checks the image every container and the worker image variable get.
func TestWriteOverlayDeploysTheGivenImages(t *testing.T) {
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Fatal("kubectl is needed to build the overlay as make deploy does")
	}
	digest := "sha256:" + strings.Repeat("ab", 32)
	tests := map[string]struct {
		refs map[string]string
		want []string
	}{
		"by tag": {
			refs: TagRefs("registry.example.com/team", "v1.2.3"),
			want: []string{
				"image: registry.example.com/team/longtask-manager:v1.2.3",
				"image: registry.example.com/team/longtask-ui:v1.2.3",
				"value: registry.example.com/team/longtask-worker:v1.2.3",
			},
		},
		"by digest, pause and busybox left out": {
			refs: map[string]string{
				Manager: "localhost:5000/longtask-manager@" + digest,
				Worker:  "localhost:5000/longtask-worker@" + digest,
				UI:      "localhost:5000/longtask-ui@" + digest,
				Pause:   "localhost:5000/longtask-pause@" + digest,
				Busybox: "localhost:5000/library/busybox@" + digest,
			},
			want: []string{
				"image: localhost:5000/longtask-manager@" + digest,
				"image: localhost:5000/longtask-ui@" + digest,
				"value: localhost:5000/longtask-worker@" + digest,
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "deploy")
			if err := WriteOverlay(dir, filepath.Join("..", "..", "config", "default"), tc.refs); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("kubectl", "kustomize", dir).CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl kustomize: %v\n%s", err, out)
			}
			for _, want := range tc.want {
				if !strings.Contains(string(out), want) {
					t.Errorf("the overlay has no %q", want)
				}
			}
			if strings.Contains(string(out), "ghcr.io/longtask-dev") {
				t.Errorf("the overlay still names an image of config/:\n%s", grepLines(string(out), "ghcr.io"))
			}
		})
	}
}

func TestWriteOverlayRefusesAMissingImage(t *testing.T) {
	err := WriteOverlay(t.TempDir(), "config/default", map[string]string{Manager: "r/longtask-manager:v1"})
	if err == nil || !strings.Contains(err.Error(), Worker) {
		t.Errorf("got %v, want an error naming the %s image", err, Worker)
	}
}

func grepLines(text, substr string) string {
	var lines []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			lines = append(lines, line)
		}
	}
	return strings.Join(lines, "\n")
}
