package images

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specsv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

const busyboxPath = "/bin/busybox"

// haveBusybox says whether this machine has the static busybox the Busybox image is made of.
func haveBusybox(t *testing.T) bool {
	t.Helper()
	_, err := os.Stat(busyboxPath)
	return err == nil
}

func TestBuildBusybox(t *testing.T) {
	t.Parallel()
	if !haveBusybox(t) {
		t.Skipf("%s is missing (apt-get install busybox-static)", busyboxPath)
	}
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Busybox = busyboxPath
	build(t, opts)
	img := layoutImage(t, dir, Busybox)
	version, err := BusyboxVersion(busyboxPath)
	if err != nil {
		t.Fatal(err)
	}

	want := runtimeConfig{
		WorkingDir: "/",
		Cmd:        []string{"sh"},
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		Labels: map[string]string{
			specsv1.AnnotationTitle:       "busybox",
			specsv1.AnnotationDescription: "BusyBox " + version + ", a shell for LongTask's samples",
			specsv1.AnnotationSource:      "https://github.com/longtask-dev/longtask",
			specsv1.AnnotationVersion:     version,
			specsv1.AnnotationRevision:    "abc123",
			specsv1.AnnotationLicenses:    "GPL-2.0-only",
		},
	}
	if diff := cmp.Diff(want, configOf(t, img)); diff != "" {
		t.Errorf("config (-want,+got):\n%s", diff)
	}

	list, err := exec.Command(busyboxPath, "--list").Output()
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := withBase(map[string]entry{
		"/bin":         {Mode: "drwxr-xr-x", Owner: "0:0"},
		"/bin/busybox": {Mode: "-rwxr-xr-x", Owner: "0:0"},
	})
	for _, applet := range strings.Fields(string(list)) {
		if applet == "busybox" {
			continue // busybox lists itself
		}
		wantFiles["/bin/"+applet] = entry{Mode: "Lrwxrwxrwx", Owner: "0:0", Link: "busybox"}
	}
	files := filesystem(t, img)
	if diff := cmp.Diff(wantFiles, files); diff != "" {
		t.Errorf("files (-want,+got):\n%s", diff)
	}
	if _, ok := files["/bin/sh"]; !ok {
		t.Errorf("no /bin/sh in the busybox image")
	}
}

func TestBusyboxVersion(t *testing.T) {
	if !haveBusybox(t) {
		t.Skipf("%s is missing (apt-get install busybox-static)", busyboxPath)
	}
	out, err := exec.Command(busyboxPath).Output()
	if err != nil {
		t.Fatal(err)
	}
	version, err := BusyboxVersion(busyboxPath)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), "BusyBox v"+version+" ") {
		t.Errorf("BusyboxVersion = %q, but busybox says %q", version, strings.SplitN(string(out), "\n", 2)[0])
	}
}

func TestBusyboxVersionOfAnotherProgram(t *testing.T) {
	if _, err := BusyboxVersion(staticBinary); err == nil || !strings.Contains(err.Error(), staticBinary) {
		t.Errorf("BusyboxVersion(%s) error = %v, want one naming it", staticBinary, err)
	}
}

func TestBusyboxTag(t *testing.T) {
	cases := map[string]string{
		"1.35.0": "1.35",
		"1.36.1": "1.36",
		"1.37":   "1.37",
	}
	for version, want := range cases {
		if got := busyboxTag(version); got != want {
			t.Errorf("busyboxTag(%q) = %q, want %q", version, got, want)
		}
	}
}
