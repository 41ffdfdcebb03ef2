// Command images builds LongTask's container images into an OCI image layout, and pushes them, without
// Docker (see internal/images). The binaries must be static (CGO_ENABLED=0).
//
//	images build --out DIR --binary NAME=PATH... [--busybox PATH] [--base-image REF] [--version V] [--revision R]
//	images push --from DIR --registry REGISTRY --tag TAG
//	images overlay --out DIR --base KUSTOMIZE-DIR --registry REGISTRY --tag TAG
//
// build dates the images by SOURCE_DATE_EPOCH when it is set, and reads BASE_IMAGE when --base-image is
// not given. push prints one line per image: its name and the reference it was pushed as, by digest.
// overlay writes a kustomization that deploys the base with the images push put in REGISTRY under TAG.
package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/longtask-dev/longtask/internal/images"
)

const usage = `usage: images build --out DIR --binary NAME=PATH... [--busybox PATH] [--base-image REF] [--version V] [--revision R]
       images push --from DIR --registry REGISTRY --tag TAG
       images overlay --out DIR --base KUSTOMIZE-DIR --registry REGISTRY --tag TAG`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var run func(ctx context.Context, args []string) error
	switch os.Args[1] {
	case "build":
		run = build
	case "push":
		run = push
	case "overlay":
		run = func(_ context.Context, args []string) error { return overlay(args) }
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[2:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "images: %v\n", err)
		os.Exit(1)
	}
}

func build(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	opts := images.BuildOptions{Binaries: map[string]string{}}
	fs.StringVar(&opts.Out, "out", "bin/images", "OCI image layout directory to write the images into")
	names := []string{images.Manager, images.Worker, images.UI, images.Pause}
	fs.Func("binary", "NAME=PATH: the static binary for image NAME (one for each of "+strings.Join(names, ", ")+")", func(s string) error {
		name, path, ok := strings.Cut(s, "=")
		if !ok || name == "" || path == "" {
			return fmt.Errorf("want NAME=PATH, got %q", s)
		}
		opts.Binaries[name] = path
		return nil
	})
	fs.StringVar(&opts.Busybox, "busybox", "/bin/busybox", "static busybox binary for the "+images.Busybox+" image; empty leaves that image out")
	fs.StringVar(&opts.BaseImage, "base-image", os.Getenv("BASE_IMAGE"), "image to pull as the base of the manager, worker and UI images instead of the minimal one made here (default $BASE_IMAGE)")
	fs.StringVar(&opts.Version, "version", "", "version to label the images with")
	fs.StringVar(&opts.Revision, "revision", "", "source revision to label the images with")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("build: unexpected arguments %q", fs.Args())
	}
	for _, name := range names {
		if opts.Binaries[name] == "" {
			return fmt.Errorf("build: no --binary %s=PATH", name)
		}
	}
	if epoch := os.Getenv("SOURCE_DATE_EPOCH"); epoch != "" {
		seconds, err := strconv.ParseInt(epoch, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds", epoch)
		}
		opts.Created = time.Unix(seconds, 0)
	}
	return images.Build(ctx, opts)
}

func push(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("push", flag.ExitOnError)
	from := fs.String("from", "bin/images", "OCI image layout directory written by images build")
	registry := fs.String("registry", "", "registry and namespace to push to, like 127.0.0.1:5000 or ghcr.io/longtask-dev")
	tag := fs.String("tag", "latest", "tag to push the images with ("+images.Busybox+" is tagged with its own version)")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("push: unexpected arguments %q", fs.Args())
	}
	if *registry == "" {
		return fmt.Errorf("push: --registry is required")
	}
	pushed, err := images.Push(ctx, *from, *registry, *tag)
	if err != nil {
		return err
	}
	for _, name := range slices.Sorted(maps.Keys(pushed)) {
		fmt.Println(name, pushed[name])
	}
	return nil
}

func overlay(args []string) error {
	fs := flag.NewFlagSet("overlay", flag.ExitOnError)
	out := fs.String("out", "bin/deploy", "directory to write the kustomization into")
	base := fs.String("base", "config/default", "kustomize directory to deploy")
	registry := fs.String("registry", "", "registry and namespace the images were pushed to")
	tag := fs.String("tag", "latest", "tag the images were pushed with")
	_ = fs.Parse(args)
	if fs.NArg() > 0 {
		return fmt.Errorf("overlay: unexpected arguments %q", fs.Args())
	}
	if *registry == "" {
		return fmt.Errorf("overlay: --registry is required")
	}
	return images.WriteOverlay(*out, *base, images.TagRefs(*registry, *tag))
}
