package localcluster

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/longtask-dev/longtask/internal/images"
)

// imageTag is the tag the cluster pushes the images of its --images layout under. Deployments name them
// by digest, so a rebuilt image is never mistaken for the old one.
const imageTag = "dev"

// startRegistry serves an image registry (go-containerregistry's) on the host's loopback, with its blobs
// on disk in the state directory. It holds manifests in memory, so a start pushes the images again;
// pushing blobs it already has costs nothing.
func (c *Cluster) startRegistry() error {
	logFile, err := os.OpenFile(c.LogFile("registry"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	blobs := filepath.Join(c.opts.StateDir, "registry")
	if err := os.MkdirAll(blobs, 0o700); err != nil {
		return err
	}
	l, err := net.Listen("tcp", c.RegistryHost())
	if err != nil {
		return fmt.Errorf("the registry cannot listen: %w", err)
	}
	c.registry = &http.Server{Handler: registry.New(
		registry.WithBlobHandler(registry.NewDiskBlobHandler(blobs)),
		registry.Logger(log.New(logFile, "", log.LstdFlags)),
	)}
	go func() {
		if err := c.registry.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.logf("the registry stopped: %v", err)
		}
		_ = logFile.Close() // every log line went straight to the file; nothing is buffered to lose
	}()
	return nil
}

// RegistryHost is where the cluster's registry listens, on the host and, for containerd, in the node's
// network namespace. Images pushed there as localhost:PORT/NAME run on the node under that name.
func (c *Cluster) RegistryHost() string { return fmt.Sprintf("127.0.0.1:%d", c.ports.Registry) }

// RegistryName is the registry's name in image references.
func (c *Cluster) RegistryName() string { return fmt.Sprintf("localhost:%d", c.ports.Registry) }

// Images are the images of the --images layout as pushed to the registry: name to digest reference.
func (c *Cluster) Images() map[string]string { return c.images }

// stopRegistry stops serving.
func (c *Cluster) stopRegistry() {
	if c.registry != nil {
		_ = c.registry.Shutdown(context.Background())
	}
}

// WriteDeployOverlay writes a kustomization in dir that deploys base (a kustomize directory, such as
// config/default) with LongTask's images replaced by the ones this cluster's registry holds.
func (c *Cluster) WriteDeployOverlay(dir, base string) error {
	return images.WriteOverlay(dir, base, c.images)
}

// HelmImageValues are the --set arguments that make charts/longtask run the images this cluster's registry
// holds.
func (c *Cluster) HelmImageValues() ([]string, error) {
	return images.HelmValues(c.images)
}

// pushImages pushes the images of the --images layout to the registry, pause image included.
func (c *Cluster) pushImages(ctx context.Context) error {
	if c.opts.Images == "" {
		return errors.New("no images to run: give the layout make images builds (bin/images)")
	}
	c.logf("pushing the images of %s to %s", c.opts.Images, c.RegistryName())
	refs, err := images.Push(ctx, c.opts.Images, c.RegistryName(), imageTag)
	if err != nil {
		return fmt.Errorf("pushing the images of %s (run make images): %w", c.opts.Images, err)
	}
	if refs[images.Pause] == "" {
		return fmt.Errorf("%s has no %s image (run make images)", c.opts.Images, images.Pause)
	}
	c.images = refs
	return nil
}
