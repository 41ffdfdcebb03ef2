package images

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestHelmValues(t *testing.T) {
	cases := map[string]struct {
		refs    map[string]string
		want    []string
		wantErr string
	}{
		"digests": {
			refs: map[string]string{Manager: "10.0.0.1:5000/longtask-manager@sha256:aa", Worker: "10.0.0.1:5000/longtask-worker@sha256:bb",
				UI: "10.0.0.1:5000/longtask-ui@sha256:cc", Pause: "10.0.0.1:5000/longtask-pause@sha256:dd"},
			want: []string{"--set", "image.registry=10.0.0.1:5000", "--set", "manager.image.digest=sha256:aa",
				"--set", "worker.image.digest=sha256:bb", "--set", "ui.image.digest=sha256:cc"},
		},
		"tags": {
			refs: TagRefs("ghcr.io/you", "v1"),
			want: []string{"--set", "image.registry=ghcr.io/you", "--set", "manager.image.tag=v1",
				"--set", "worker.image.tag=v1", "--set", "ui.image.tag=v1"},
		},
		"two registries": {
			refs:    map[string]string{Manager: "a/longtask-manager:v1", Worker: "b/longtask-worker:v1", UI: "a/longtask-ui:v1"},
			wantErr: "two registries, a and b",
		},
		"a missing image": {
			refs:    map[string]string{Manager: "a/longtask-manager:v1"},
			wantErr: "no reference for the " + Worker,
		},
		"neither tag nor digest": {
			refs:    map[string]string{Manager: "localhost:5000/longtask-manager", Worker: "a/longtask-worker:v1", UI: "a/longtask-ui:v1"},
			wantErr: "neither a tag nor a digest",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := HelmValues(tc.refs)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("values (-want,+got):\n%s", diff)
			}
		})
	}
}
