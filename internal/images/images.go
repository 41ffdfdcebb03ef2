// Package images builds LongTask's container images without Docker: it writes them into an OCI image
// layout directory (Build) and pushes that layout to a registry (Push).
//
// No base image can be pulled on every machine that builds LongTask, so by default the images sit on a
// minimal base made here, in the spirit of distroless' static:nonroot. Every layer and config is made
// deterministically, so the same binaries and options always give the same digests.
package images

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	specsv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// The images' repository names, as they appear in the layout's index and under a registry.
const (
	Manager = "longtask-manager"
	Worker  = "longtask-worker"
	UI      = "longtask-ui"
	Pause   = "longtask-pause"
	Busybox = "library/busybox"
)

const (
	sourceURL = "https://github.com/longtask-dev/longtask"
	license   = "Apache-2.0"
	// busyboxLicense is BusyBox's own, which its image carries instead of LongTask's.
	busyboxLicense = "GPL-2.0-only"
)

// BuildOptions say what Build puts into the layout.
type BuildOptions struct {
	// Out is the OCI image layout directory; Build creates it if it does not exist.
	Out string
	// Binaries maps each of Manager, Worker, UI and Pause to the path of its statically linked binary.
	Binaries map[string]string
	// Busybox is the path of a static busybox binary for the Busybox image; empty leaves that image out.
	Busybox string
	// BaseImage, when set, is a registry reference (like gcr.io/distroless/static:nonroot) to pull and
	// use as the base of the manager, worker and UI images instead of the minimal base made here.
	BaseImage string
	// Version and Revision label every image (org.opencontainers.image.version and .revision).
	Version, Revision string
	// Created is every image's creation time and every file's modification time; zero means the Unix
	// epoch. Set it from SOURCE_DATE_EPOCH to date images by their sources and stay reproducible.
	Created time.Time
}

// binaryImage is how one of LongTask's programs is laid out in its image.
type binaryImage struct {
	name        string
	description string
	path        string
	entrypoint  []string
	env         []string
	// scratch puts the binary alone in the image, with no base under it.
	scratch bool
	// user overrides the base's user when set.
	user string
}

var binaryImages = []binaryImage{
	{
		name:        Manager,
		description: "The LongTask operator's controller manager",
		path:        "/manager",
		entrypoint:  []string{"/manager"},
	},
	{
		// Tasks that name no image of their own run `longtask-worker demo` here, and every task's
		// install-worker init container runs `longtask-worker install`: both find it on the PATH.
		name:        Worker,
		description: "The LongTask worker, which runs a task's program and reports its progress",
		path:        "/usr/local/bin/longtask-worker",
		entrypoint:  []string{"longtask-worker"},
		env:         []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
	},
	{
		name:        UI,
		description: "The LongTask web UI",
		path:        "/ui",
		entrypoint:  []string{"/ui"},
	},
	{
		// Like registry.k8s.io/pause: nothing but the program, as the user that image runs as.
		name:        Pause,
		description: "The pod sandbox (pause) program of LongTask's local cluster",
		path:        "/pause",
		entrypoint:  []string{"/pause"},
		scratch:     true,
		user:        "65535:65535",
	},
}

// Build writes LongTask's images into the OCI image layout opts.Out. Each image's index entry is
// annotated with org.opencontainers.image.ref.name set to its repository name, and replaces an older
// entry of that name; blobs that no entry refers to any more are then removed, so rebuilding does not
// pile up old binaries.
func Build(ctx context.Context, opts BuildOptions) error {
	if err := checkBinaries(opts); err != nil {
		return err
	}
	if opts.Created.IsZero() {
		opts.Created = time.Unix(0, 0)
	}
	opts.Created = opts.Created.UTC()
	base, err := minimalBase(opts.Created)
	if err != nil {
		return err
	}
	onBase := base
	if opts.BaseImage != "" {
		if onBase, err = pullBase(ctx, opts.BaseImage); err != nil {
			return err
		}
	}
	scratch, err := emptyImage(opts.Created)
	if err != nil {
		return err
	}

	lp, err := openLayout(opts.Out)
	if err != nil {
		return err
	}
	for _, spec := range binaryImages {
		from := onBase
		if spec.scratch {
			from = scratch
		}
		img, err := buildBinaryImage(from, spec, opts)
		if err != nil {
			return fmt.Errorf("building %s: %w", spec.name, err)
		}
		if err := writeImage(lp, spec.name, img); err != nil {
			return err
		}
	}
	if opts.Busybox != "" {
		img, err := buildBusybox(ctx, base, opts)
		if err != nil {
			return fmt.Errorf("building %s: %w", Busybox, err)
		}
		if err := writeImage(lp, Busybox, img); err != nil {
			return err
		}
	}
	if err := prune(lp); err != nil {
		return fmt.Errorf("removing unused blobs from %s: %w", opts.Out, err)
	}
	return nil
}

// checkBinaries makes sure, before anything is written, that there is a static binary for every image
// and none for an image that does not exist.
func checkBinaries(opts BuildOptions) error {
	var names []string
	for _, spec := range binaryImages {
		names = append(names, spec.name)
		if opts.Binaries[spec.name] == "" {
			return fmt.Errorf("no binary given for %s", spec.name)
		}
		if err := checkStatic(opts.Binaries[spec.name]); err != nil {
			return fmt.Errorf("%s: %w", spec.name, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(opts.Binaries)) {
		if !slices.Contains(names, name) {
			return fmt.Errorf("a binary is given for %s, but there is no such image (the images are %s)",
				name, strings.Join(names, ", "))
		}
	}
	if opts.Busybox != "" {
		if err := checkStatic(opts.Busybox); err != nil {
			return fmt.Errorf("%s: %w", Busybox, err)
		}
	}
	return nil
}

// buildBinaryImage puts one of LongTask's programs onto base.
func buildBinaryImage(base v1.Image, spec binaryImage, opts BuildOptions) (v1.Image, error) {
	content, err := os.ReadFile(opts.Binaries[spec.name])
	if err != nil {
		return nil, err
	}
	layer, err := newLayer(opts.Created, []file{{name: spec.path, mode: 0o755, content: content}})
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, History: history(opts.Created, "COPY "+spec.path)})
	if err != nil {
		return nil, err
	}
	return configure(img, opts.Created, func(cfg *v1.Config) {
		cfg.Entrypoint = spec.entrypoint
		cfg.Cmd = nil
		for _, kv := range spec.env {
			cfg.Env = setEnv(cfg.Env, kv)
		}
		if spec.user != "" {
			cfg.User = spec.user
		}
		cfg.Labels = withLabels(cfg.Labels, map[string]string{
			specsv1.AnnotationTitle:       spec.name,
			specsv1.AnnotationDescription: spec.description,
			specsv1.AnnotationSource:      sourceURL,
			specsv1.AnnotationVersion:     opts.Version,
			specsv1.AnnotationRevision:    opts.Revision,
			specsv1.AnnotationLicenses:    license,
		})
	})
}

// configure changes img's runtime config and dates it, so that a pulled base's date does not leak in.
func configure(img v1.Image, created time.Time, change func(*v1.Config)) (v1.Image, error) {
	cfgFile, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the image config: %w", err)
	}
	cfg := cfgFile.Config.DeepCopy()
	change(cfg)
	if img, err = mutate.Config(img, *cfg); err != nil {
		return nil, err
	}
	return mutate.CreatedAt(img, v1.Time{Time: created})
}

func history(created time.Time, createdBy string) v1.History {
	return v1.History{Created: v1.Time{Time: created}, CreatedBy: createdBy, Comment: "longtask hack/images"}
}

// setEnv sets the variable in kv ("NAME=value") in env, replacing an earlier value.
func setEnv(env []string, kv string) []string {
	name, _, _ := strings.Cut(kv, "=")
	env = slices.DeleteFunc(slices.Clone(env), func(e string) bool { return strings.HasPrefix(e, name+"=") })
	return append(env, kv)
}

// withLabels returns labels with add merged in; empty values in add are left out.
func withLabels(labels, add map[string]string) map[string]string {
	merged := maps.Clone(labels)
	if merged == nil {
		merged = map[string]string{}
	}
	for k, v := range add {
		if v != "" {
			merged[k] = v
		}
	}
	return merged
}

// openLayout opens the layout at dir, or makes an empty one there.
func openLayout(dir string) (layout.Path, error) {
	lp, err := layout.FromPath(dir)
	if errors.Is(err, os.ErrNotExist) {
		lp, err = layout.Write(dir, empty.Index)
	}
	if err != nil {
		return "", fmt.Errorf("opening the image layout %s: %w", dir, err)
	}
	return lp, nil
}

// writeImage writes img into the layout under name, replacing an image of that name.
func writeImage(lp layout.Path, name string, img v1.Image) error {
	platform := v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
	err := lp.ReplaceImage(img, match.Name(name),
		layout.WithAnnotations(map[string]string{specsv1.AnnotationRefName: name}),
		layout.WithPlatform(platform))
	if err != nil {
		return fmt.Errorf("writing %s into %s: %w", name, lp, err)
	}
	return nil
}

// prune removes the blobs that none of the layout's images refers to. It leaves everything alone if
// the layout holds something other than images, which Build never writes.
func prune(lp layout.Path) error {
	index, err := lp.ImageIndex()
	if err != nil {
		return err
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		return err
	}
	keep := map[v1.Hash]bool{}
	for _, desc := range manifest.Manifests {
		if !desc.MediaType.IsImage() {
			return nil
		}
		img, err := index.Image(desc.Digest)
		if err != nil {
			return err
		}
		keep[desc.Digest] = true
		config, err := img.ConfigName()
		if err != nil {
			return err
		}
		keep[config] = true
		layers, err := img.Layers()
		if err != nil {
			return err
		}
		for _, layer := range layers {
			digest, err := layer.Digest()
			if err != nil {
				return err
			}
			keep[digest] = true
		}
	}
	blobs, err := os.ReadDir(filepath.Join(string(lp), "blobs", "sha256"))
	if err != nil {
		return err
	}
	for _, blob := range blobs {
		if digest := (v1.Hash{Algorithm: "sha256", Hex: blob.Name()}); !keep[digest] {
			if err := lp.RemoveBlob(digest); err != nil {
				return err
			}
		}
	}
	return nil
}
