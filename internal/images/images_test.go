package images

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	specsv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// staticBinary and dynamicBinary are testdata/hello built by TestMain, static and as a PIE, which
// needs the dynamic loader.
var staticBinary, dynamicBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "images-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	staticBinary, dynamicBinary = filepath.Join(dir, "hello"), filepath.Join(dir, "hello-pie")
	err = errors.Join(
		goBuild("-o", staticBinary, "./testdata/hello"),
		goBuild("-buildmode=pie", "-o", dynamicBinary, "./testdata/hello"))
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	_ = os.RemoveAll(dir) // a temporary directory; the test's outcome is already decided
	os.Exit(code)
}

func goBuild(args ...string) error {
	cmd := exec.Command("go", append([]string{"build", "-ldflags=-s -w"}, args...)...)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// testOptions builds every image but busybox from staticBinary into dir.
func testOptions(dir string) BuildOptions {
	return BuildOptions{
		Out: dir,
		Binaries: map[string]string{
			Manager: staticBinary,
			Worker:  staticBinary,
			UI:      staticBinary,
			Pause:   staticBinary,
		},
		Version:  "v1.2.3",
		Revision: "abc123",
	}
}

func build(t *testing.T, opts BuildOptions) {
	t.Helper()
	if err := Build(context.Background(), opts); err != nil {
		t.Fatalf("Build: %v", err)
	}
}

// layoutDigests returns the digest of each image in the layout at dir, failing on a name seen twice.
func layoutDigests(t *testing.T, dir string) map[string]v1.Hash {
	t.Helper()
	index, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	digests := map[string]v1.Hash{}
	for _, desc := range manifest.Manifests {
		name := desc.Annotations[specsv1.AnnotationRefName]
		if _, seen := digests[name]; seen {
			t.Errorf("%s is in the index twice", name)
		}
		digests[name] = desc.Digest
	}
	return digests
}

func layoutImage(t *testing.T, dir, name string) v1.Image {
	t.Helper()
	digest, ok := layoutDigests(t, dir)[name]
	if !ok {
		t.Fatalf("no image %s in %s", name, dir)
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	img, err := lp.Image(digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// runtimeConfig is the part of an image's config that decides how its container runs.
type runtimeConfig struct {
	User       string
	WorkingDir string
	Entrypoint []string
	Cmd        []string
	Env        []string
	Labels     map[string]string
}

func configOf(t *testing.T, img v1.Image) runtimeConfig {
	t.Helper()
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture == "" || !cfg.Created.Equal(time.Unix(0, 0)) {
		t.Errorf("OS %q, architecture %q, created %v; want linux, this machine's, the Unix epoch", cfg.OS, cfg.Architecture, cfg.Created)
	}
	c := cfg.Config
	return runtimeConfig{User: c.User, WorkingDir: c.WorkingDir, Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env, Labels: c.Labels}
}

func labels(title, description string) map[string]string {
	return map[string]string{
		specsv1.AnnotationTitle:       title,
		specsv1.AnnotationDescription: description,
		specsv1.AnnotationSource:      "https://github.com/longtask-dev/longtask",
		specsv1.AnnotationVersion:     "v1.2.3",
		specsv1.AnnotationRevision:    "abc123",
		specsv1.AnnotationLicenses:    "Apache-2.0",
	}
}

func TestBuildConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	build(t, testOptions(dir))

	cases := map[string]runtimeConfig{
		Manager: {
			User: "65532:65532", WorkingDir: "/", Entrypoint: []string{"/manager"},
			Labels: labels(Manager, "The LongTask operator's controller manager"),
		},
		Worker: {
			User: "65532:65532", WorkingDir: "/", Entrypoint: []string{"longtask-worker"},
			Env:    []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
			Labels: labels(Worker, "The LongTask worker, which runs a task's program and reports its progress"),
		},
		UI: {
			User: "65532:65532", WorkingDir: "/", Entrypoint: []string{"/ui"},
			Labels: labels(UI, "The LongTask web UI"),
		},
		Pause: {
			User: "65535:65535", Entrypoint: []string{"/pause"},
			Labels: labels(Pause, "The pod sandbox (pause) program of LongTask's local cluster"),
		},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(want, configOf(t, layoutImage(t, dir, name))); diff != "" {
				t.Errorf("config (-want,+got):\n%s", diff)
			}
		})
	}
}

// entry is what a user of an image sees of one of its files.
type entry struct {
	Mode  string // fs.FileMode.String()
	Owner string // uid:gid
	Link  string
}

// filesystem returns the files of img's flattened filesystem, keyed by absolute path.
func filesystem(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	files := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		header, err := tr.Next()
		if err == io.EOF {
			return files
		}
		if err != nil {
			t.Fatal(err)
		}
		name := "/" + strings.TrimSuffix(header.Name, "/")
		files[name] = entry{
			Mode:  header.FileInfo().Mode().String(),
			Owner: fmt.Sprintf("%d:%d", header.Uid, header.Gid),
			Link:  header.Linkname,
		}
	}
}

// readFile returns the content of the file at name in img's flattened filesystem.
func readFile(t *testing.T, img v1.Image, name string) []byte {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		header, err := tr.Next()
		if err != nil {
			t.Fatalf("finding %s: %v", name, err)
		}
		if "/"+header.Name == name {
			content, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return content
		}
	}
}

// baseFiles are the files of the minimal base.
var baseFiles = map[string]entry{
	"/etc":               {Mode: "drwxr-xr-x", Owner: "0:0"},
	"/etc/group":         {Mode: "-rw-r--r--", Owner: "0:0"},
	"/etc/nsswitch.conf": {Mode: "-rw-r--r--", Owner: "0:0"},
	"/etc/passwd":        {Mode: "-rw-r--r--", Owner: "0:0"},
	"/home":              {Mode: "drwxr-xr-x", Owner: "0:0"},
	"/home/nonroot":      {Mode: "drwx------", Owner: "65532:65532"},
	"/root":              {Mode: "drwx------", Owner: "0:0"},
	"/tmp":               {Mode: "dtrwxrwxrwx", Owner: "0:0"},
}

func withBase(files map[string]entry) map[string]entry {
	all := maps.Clone(baseFiles)
	maps.Copy(all, files)
	return all
}

func TestBuildFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	build(t, testOptions(dir))
	executable := entry{Mode: "-rwxr-xr-x", Owner: "0:0"}
	directory := entry{Mode: "drwxr-xr-x", Owner: "0:0"}

	cases := map[string]struct {
		files  map[string]entry
		binary string
	}{
		Manager: {files: withBase(map[string]entry{"/manager": executable}), binary: "/manager"},
		Worker: {
			files: withBase(map[string]entry{
				"/usr":                           directory,
				"/usr/local":                     directory,
				"/usr/local/bin":                 directory,
				"/usr/local/bin/longtask-worker": executable,
			}),
			binary: "/usr/local/bin/longtask-worker",
		},
		UI:    {files: withBase(map[string]entry{"/ui": executable}), binary: "/ui"},
		Pause: {files: map[string]entry{"/pause": executable}, binary: "/pause"},
	}
	want, err := os.ReadFile(staticBinary)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			img := layoutImage(t, dir, name)
			if diff := cmp.Diff(tc.files, filesystem(t, img)); diff != "" {
				t.Errorf("files (-want,+got):\n%s", diff)
			}
			if !bytes.Equal(want, readFile(t, img, tc.binary)) {
				t.Errorf("%s is not the binary that was given", tc.binary)
			}
		})
	}
}

func TestBaseUsers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	build(t, testOptions(dir))
	img := layoutImage(t, dir, Manager)
	want := "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
	if diff := cmp.Diff(want, string(readFile(t, img, "/etc/passwd"))); diff != "" {
		t.Errorf("/etc/passwd (-want,+got):\n%s", diff)
	}
	if diff := cmp.Diff("hosts: files dns\n", string(readFile(t, img, "/etc/nsswitch.conf"))); diff != "" {
		t.Errorf("/etc/nsswitch.conf (-want,+got):\n%s", diff)
	}
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		binaries map[string]string
		busybox  string
		wantErr  string
	}{
		"dynamically linked binary": {
			binaries: map[string]string{Worker: dynamicBinary},
			wantErr:  "longtask-worker: " + dynamicBinary + " is dynamically linked",
		},
		"dynamically linked busybox": {
			busybox: dynamicBinary,
			wantErr: "library/busybox: " + dynamicBinary + " is dynamically linked",
		},
		"not an executable": {
			binaries: map[string]string{UI: "testdata/hello/main.go"},
			wantErr:  "testdata/hello/main.go",
		},
		"missing binary": {
			binaries: map[string]string{Pause: ""},
			wantErr:  "no binary given for longtask-pause",
		},
		"unknown image": {
			binaries: map[string]string{"longtask-db": staticBinary},
			wantErr:  "longtask-db",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			opts := testOptions(t.TempDir())
			maps.Copy(opts.Binaries, tc.binaries)
			opts.Busybox = tc.busybox
			err := Build(context.Background(), opts)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Build error = %v, want one containing %q", err, tc.wantErr)
			}
			if _, err := os.Stat(filepath.Join(opts.Out, "index.json")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a Build that failed wrote a layout (stat index.json: %v)", err)
			}
		})
	}
}

func TestBuildIsReproducible(t *testing.T) {
	t.Parallel()
	first, second := t.TempDir(), t.TempDir()
	build(t, testOptions(first))

	// Build again a second later from a copy of the binary with another name and modification time, as
	// a rebuild would see it, so that any of these leaking into the images would change the digests.
	time.Sleep(time.Second)
	content, err := os.ReadFile(staticBinary)
	if err != nil {
		t.Fatal(err)
	}
	rebuilt := filepath.Join(t.TempDir(), "rebuilt")
	if err := os.WriteFile(rebuilt, content, 0o700); err != nil {
		t.Fatal(err)
	}
	opts := testOptions(second)
	for name := range opts.Binaries {
		opts.Binaries[name] = rebuilt
	}
	build(t, opts)
	if diff := cmp.Diff(layoutDigests(t, first), layoutDigests(t, second)); diff != "" {
		t.Errorf("digests of two builds of the same inputs (-first,+second):\n%s", diff)
	}
}

func TestBuildCreated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := testOptions(dir)
	opts.Created = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	build(t, opts)
	img := layoutImage(t, dir, Manager)
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Created.Equal(opts.Created) {
		t.Errorf("created %v, want %v", cfg.Created.Time, opts.Created)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for header, err := tr.Next(); err != io.EOF; header, err = tr.Next() {
		if err != nil {
			t.Fatal(err)
		}
		if !header.ModTime.Equal(opts.Created) {
			t.Errorf("%s was modified at %v, want %v", header.Name, header.ModTime, opts.Created)
		}
	}
}

func TestRebuildReplacesImages(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := testOptions(dir)
	build(t, opts)
	first := layoutDigests(t, dir)
	opts.Version = "v1.2.4"
	build(t, opts)
	second := layoutDigests(t, dir)

	if diff := cmp.Diff([]string{Manager, Pause, UI, Worker}, slices.Sorted(maps.Keys(second))); diff != "" {
		t.Errorf("images after rebuilding (-want,+got):\n%s", diff)
	}
	for name, digest := range first {
		if second[name] == digest {
			t.Errorf("%s was not rebuilt with the new version", name)
		}
		if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", digest.Hex)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the old manifest of %s is still in the layout (stat: %v)", name, err)
		}
	}
}
