package images

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// configRegistry is where config/ names LongTask's images; an overlay replaces it.
const configRegistry = "ghcr.io/longtask-dev"

// Deployed are the images a deployment of config/ runs; the others (pause, busybox) serve the local
// cluster only.
var Deployed = []string{Manager, Worker, UI}

// TagRefs are the references of the deployed images pushed to registry under tag.
func TagRefs(registry, tag string) map[string]string {
	refs := map[string]string{}
	for _, name := range Deployed {
		refs[name] = registry + "/" + name + ":" + tag
	}
	return refs
}

// WriteOverlay writes a kustomization in dir that deploys base (a kustomize directory such as
// config/default) with each deployed image in refs (NAME → REGISTRY/NAME@DIGEST or REGISTRY/NAME:TAG)
// in place of the one config/ names. Images in refs that are not deployed are left out.
func WriteOverlay(dir, base string, refs map[string]string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	absBase, err := filepath.Abs(base)
	if err != nil {
		return err
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	// kustomize takes only a relative path to a base.
	rel, err := filepath.Rel(absDir, absBase)
	if err != nil {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by hack/images or hack/localcluster: %s with these images.\nresources:\n- %s\nimages:\n", base, rel)
	for _, name := range Deployed {
		ref, ok := refs[name]
		if !ok {
			return fmt.Errorf("no reference for the %s image", name)
		}
		fmt.Fprintf(&b, "- name: %s/%s\n", configRegistry, name)
		if repo, digest, ok := strings.Cut(ref, "@"); ok {
			fmt.Fprintf(&b, "  newName: %s\n  digest: %s\n", repo, digest)
		} else if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
			fmt.Fprintf(&b, "  newName: %s\n  newTag: %s\n", ref[:i], ref[i+1:])
		} else {
			return fmt.Errorf("the %s image %q has neither a tag nor a digest", name, ref)
		}
	}
	return os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(b.String()), 0o644)
}
