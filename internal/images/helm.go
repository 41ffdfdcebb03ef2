package images

import (
	"fmt"
	"strings"
)

// chartComponents are the Helm chart's value keys for each deployed image.
var chartComponents = map[string]string{Manager: "manager", Worker: "worker", UI: "ui"}

// HelmValues are the --set arguments that make charts/longtask run the deployed images in refs (NAME →
// REGISTRY/NAME@DIGEST or REGISTRY/NAME:TAG), the chart's counterpart of WriteOverlay. The images must
// share one registry, as the chart's image.registry is one for all.
func HelmValues(refs map[string]string) ([]string, error) {
	var values []string
	registry := ""
	for _, name := range Deployed {
		ref, ok := refs[name]
		if !ok {
			return nil, fmt.Errorf("no reference for the %s image", name)
		}
		var repo, version string
		field := "tag"
		if r, digest, ok := strings.Cut(ref, "@"); ok {
			repo, version, field = r, digest, "digest"
		} else if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
			repo, version = ref[:i], ref[i+1:]
		} else {
			return nil, fmt.Errorf("the %s image %q has neither a tag nor a digest", name, ref)
		}
		imageRegistry, ok := strings.CutSuffix(repo, "/"+name)
		if !ok {
			return nil, fmt.Errorf("the %s image %q is not named %s in its registry", name, ref, name)
		}
		if registry != "" && imageRegistry != registry {
			return nil, fmt.Errorf("the images are in two registries, %s and %s; the chart takes one", registry, imageRegistry)
		}
		registry = imageRegistry
		values = append(values, "--set", fmt.Sprintf("%s.image.%s=%s", chartComponents[name], field, version))
	}
	return append([]string{"--set", "image.registry=" + registry}, values...), nil
}
