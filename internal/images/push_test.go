package images

import (
	"context"
	"io"
	"log"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// startRegistry runs an in-memory registry on 127.0.0.1 and returns its host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	server := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(server.Close)
	return strings.TrimPrefix(server.URL, "http://")
}

func pull(t *testing.T, ref string) v1.Image {
	t.Helper()
	parsed, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(parsed)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	return img
}

func TestPush(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := testOptions(dir)
	tags := map[string]string{Manager: "v1", Worker: "v1", UI: "v1", Pause: "v1"}
	if haveBusybox(t) {
		opts.Busybox = busyboxPath
		tags[Busybox] = "1.35"
	}
	build(t, opts)
	reg := startRegistry(t)

	pushed, err := Push(context.Background(), dir, reg+"/longtask-dev", "v1")
	if err != nil {
		t.Fatalf("Push: %v", err)
	}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(tags)), slices.Sorted(maps.Keys(pushed))); diff != "" {
		t.Errorf("pushed images (-want,+got):\n%s", diff)
	}
	for imageName, digest := range layoutDigests(t, dir) {
		wantRef := reg + "/longtask-dev/" + imageName + "@" + digest.String()
		if pushed[imageName] != wantRef {
			t.Errorf("%s was pushed as %s, want %s", imageName, pushed[imageName], wantRef)
		}
		for _, ref := range []string{wantRef, reg + "/longtask-dev/" + imageName + ":" + tags[imageName]} {
			got, err := pull(t, ref).Digest()
			if err != nil {
				t.Fatal(err)
			}
			if got != digest {
				t.Errorf("pulling %s gave digest %s, want %s", ref, got, digest)
			}
		}
	}
}

func TestPushErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	build(t, testOptions(dir))
	cases := map[string]struct {
		layoutDir, registry, tag string
		wantErr                  string
	}{
		"no layout":        {layoutDir: t.TempDir(), registry: "127.0.0.1:1", tag: "v1", wantErr: "opening the image layout"},
		"no registry":      {layoutDir: dir, tag: "v1", wantErr: "no registry given"},
		"no tag":           {layoutDir: dir, registry: "127.0.0.1:1", wantErr: "no tag given"},
		"bad registry":     {layoutDir: dir, registry: "UPPER CASE", tag: "v1", wantErr: `registry "UPPER CASE"`},
		"registry is down": {layoutDir: dir, registry: "127.0.0.1:1", tag: "v1", wantErr: "pushing 127.0.0.1:1/longtask-"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Push(context.Background(), tc.layoutDir, tc.registry, tc.tag)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Push error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestBuildOnBaseImage(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		user     string
		wantUser string
	}{
		"root base gets the nonroot user": {user: "", wantUser: "65532:65532"},
		"explicit root is replaced too":   {user: "0:0", wantUser: "65532:65532"},
		"non-root base keeps its user":    {user: "1000:1000", wantUser: "1000:1000"},
	}
	for caseName, tc := range cases {
		t.Run(caseName, func(t *testing.T) {
			// A base with a file of its own and a PATH, to see that the first stays and the second gives way.
			created := time.Unix(0, 0)
			base, err := newLayer(created, []file{{name: "/etc/os-release", mode: 0o644, content: []byte("ID=test\n")}})
			if err != nil {
				t.Fatal(err)
			}
			img, err := emptyImage(created)
			if err != nil {
				t.Fatal(err)
			}
			if img, err = mutate.AppendLayers(img, base); err != nil {
				t.Fatal(err)
			}
			img, err = configure(img, created, func(cfg *v1.Config) {
				cfg.User = tc.user
				cfg.Env = []string{"PATH=/usr/sbin:/usr/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}
			})
			if err != nil {
				t.Fatal(err)
			}
			baseRef := startRegistry(t) + "/base:latest"
			ref, err := name.ParseReference(baseRef)
			if err != nil {
				t.Fatal(err)
			}
			if err := remote.Write(ref, img); err != nil {
				t.Fatal(err)
			}

			dir := t.TempDir()
			opts := testOptions(dir)
			opts.BaseImage = baseRef
			build(t, opts)

			worker := layoutImage(t, dir, Worker)
			cfg := configOf(t, worker)
			if cfg.User != tc.wantUser {
				t.Errorf("user %q, want %q", cfg.User, tc.wantUser)
			}
			wantEnv := []string{"SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt", "PATH=/usr/local/bin:/usr/bin:/bin"}
			if diff := cmp.Diff(wantEnv, cfg.Env); diff != "" {
				t.Errorf("env (-want,+got):\n%s", diff)
			}
			files := filesystem(t, worker)
			for _, want := range []string{"/etc/os-release", "/usr/local/bin/longtask-worker"} {
				if _, ok := files[want]; !ok {
					t.Errorf("no %s in the worker image", want)
				}
			}
			if _, ok := files["/etc/passwd"]; ok {
				t.Errorf("the minimal base's /etc/passwd is in an image built on %s", baseRef)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	cases := map[string]bool{
		"localhost:5000":    true,
		"127.0.0.1:5000":    true,
		"127.0.0.1":         true,
		"[::1]:5000":        true,
		"ghcr.io":           false,
		"10.0.0.1:5000":     false,
		"registry.local":    false,
		"localhost.evil.io": false,
	}
	for registry, want := range cases {
		if got := isLoopback(registry); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", registry, got, want)
		}
	}
}
