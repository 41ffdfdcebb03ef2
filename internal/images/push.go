package images

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	specsv1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// Push pushes every image in the layout at layoutDir to registry as NAME:tag, except Busybox, which is
// tagged with its own version (library/busybox:1.35). It returns each image's name mapped to the
// reference by digest it was pushed as (REGISTRY/NAME@sha256:...). Credentials come from the default
// keychain (docker login); opts are passed on to remote.Write.
func Push(ctx context.Context, layoutDir, registry, tag string, opts ...remote.Option) (map[string]string, error) {
	if registry == "" {
		return nil, errors.New("no registry given")
	}
	if tag == "" {
		return nil, errors.New("no tag given")
	}
	lp, err := layout.FromPath(layoutDir)
	if err != nil {
		return nil, fmt.Errorf("opening the image layout %s: %w", layoutDir, err)
	}
	index, err := lp.ImageIndex()
	if err != nil {
		return nil, fmt.Errorf("reading the image layout %s: %w", layoutDir, err)
	}
	manifest, err := index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("reading the image layout %s: %w", layoutDir, err)
	}
	opts = append([]remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}, opts...)
	pushed := map[string]string{}
	for _, desc := range manifest.Manifests {
		imageName := desc.Annotations[specsv1.AnnotationRefName]
		if imageName == "" || !desc.MediaType.IsImage() {
			continue
		}
		img, err := index.Image(desc.Digest)
		if err != nil {
			return nil, fmt.Errorf("reading %s from %s: %w", imageName, layoutDir, err)
		}
		imageTag := tag
		if imageName == Busybox {
			cfg, err := img.ConfigFile()
			if err != nil {
				return nil, fmt.Errorf("reading %s from %s: %w", imageName, layoutDir, err)
			}
			imageTag = busyboxTag(cfg.Config.Labels[specsv1.AnnotationVersion])
		}
		ref, err := parseReference(registry + "/" + imageName + ":" + imageTag)
		if err != nil {
			return nil, fmt.Errorf("naming %s in registry %q: %w", imageName, registry, err)
		}
		if err := remote.Write(ref, img, opts...); err != nil {
			return nil, fmt.Errorf("pushing %s: %w", ref, err)
		}
		pushed[imageName] = ref.Context().Digest(desc.Digest.String()).String()
	}
	if len(pushed) == 0 {
		return nil, fmt.Errorf("the image layout %s holds no named images", layoutDir)
	}
	return pushed, nil
}

// parseReference parses an image reference, allowing plain HTTP for a registry on this machine (a
// development or test registry rarely has a certificate).
func parseReference(ref string) (name.Reference, error) {
	parsed, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if !isLoopback(parsed.Context().RegistryStr()) {
		return parsed, nil
	}
	return name.ParseReference(ref, name.Insecure)
}

// isLoopback says whether a registry (host or host:port) is on this machine.
func isLoopback(registry string) bool {
	host := registry
	if h, _, err := net.SplitHostPort(registry); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
