package images

import (
	"context"
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// nonroot is the user the images run as, the same as distroless' nonroot, so that manifests written
// for distroless-based images (runAsUser, fsGroup) keep working.
const (
	nonrootID   = 65532
	nonrootUser = "65532:65532"
)

// rootFiles are the minimal base's files: enough for a static Go program to look up its user, resolve
// host names through /etc/hosts first, and write temporary files.
func rootFiles() []file {
	return []file{
		{name: "/etc", mode: fs.ModeDir | 0o755},
		{name: "/etc/group", mode: 0o644, content: []byte("root:x:0:\nnonroot:x:65532:\n")},
		{name: "/etc/nsswitch.conf", mode: 0o644, content: []byte("hosts: files dns\n")},
		{name: "/etc/passwd", mode: 0o644, content: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "/home", mode: fs.ModeDir | 0o755},
		{name: "/home/nonroot", mode: fs.ModeDir | 0o700, owner: nonrootID},
		{name: "/root", mode: fs.ModeDir | 0o700},
		{name: "/tmp", mode: fs.ModeDir | fs.ModeSticky | 0o777},
	}
}

// emptyImage is an OCI image with no layers for this machine's architecture, like FROM scratch.
func emptyImage(created time.Time) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	return mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: created},
		RootFS:       v1.RootFS{Type: "layers"},
	})
}

// minimalBase is the base made here: one layer of rootFiles, running as nonroot in /.
func minimalBase(created time.Time) (v1.Image, error) {
	img, err := emptyImage(created)
	if err != nil {
		return nil, err
	}
	layer, err := newLayer(created, rootFiles())
	if err != nil {
		return nil, fmt.Errorf("making the base layer: %w", err)
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: history(created, "base: /etc/passwd, /etc/group, /tmp, /home/nonroot")})
	if err != nil {
		return nil, err
	}
	return configure(img, created, func(cfg *v1.Config) {
		cfg.User = nonrootUser
		cfg.WorkingDir = "/"
	})
}

// pullBase pulls the base image ref for this machine's architecture. It keeps the base's user, unless
// that is root: LongTask's programs need no privileges.
func pullBase(ctx context.Context, ref string) (v1.Image, error) {
	parsed, err := parseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("base image %q: %w", ref, err)
	}
	img, err := remote.Image(parsed,
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: runtime.GOARCH}))
	if err != nil {
		return nil, fmt.Errorf("pulling the base image %s: %w", ref, err)
	}
	cfgFile, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the base image %s: %w", ref, err)
	}
	if !isRoot(cfgFile.Config.User) {
		return img, nil
	}
	cfg := cfgFile.Config.DeepCopy()
	cfg.User = nonrootUser
	return mutate.Config(img, *cfg)
}

// isRoot says whether an image's user ("name", "uid", "uid:gid", or empty for root) is root.
func isRoot(user string) bool {
	name, _, _ := strings.Cut(user, ":")
	return name == "" || name == "0" || name == "root"
}
