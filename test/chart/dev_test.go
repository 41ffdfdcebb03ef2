package chart

import (
	"path/filepath"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// make dev's UI signs nobody in and acts with its own account, so no pod of the cluster may reach it:
// config/dev admits no ingress to the UI's pods from any pod or address. make dev and kubectl
// port-forward still reach it, from the pod's own node, which a NetworkPolicy does not govern.
func TestConfigDevAdmitsNoPodToTheUI(t *testing.T) {
	objs := byKey(t, run(t, tool(t, "KUSTOMIZE", "kustomize"), "build", filepath.Join(root, "config", "dev")))
	ui := objs["Deployment/longtask-system/longtask-ui"]
	if ui == nil {
		t.Fatal("config/dev deploys no UI")
	}
	if args, _ := container(t, ui)["args"].([]any); !slices.Contains(args, any("--auth=none")) {
		t.Fatalf("config/dev's UI args %v, want --auth=none", args)
	}
	podLabels, _, _ := unstructured.NestedStringMap(ui.Object, "spec", "template", "metadata", "labels")

	var guarding []string
	for key, obj := range objs {
		if obj.GetKind() != "NetworkPolicy" || obj.GetNamespace() != ui.GetNamespace() {
			continue
		}
		selector, _, _ := unstructured.NestedStringMap(obj.Object, "spec", "podSelector", "matchLabels")
		if !labels.SelectorFromSet(selector).Matches(labels.Set(podLabels)) {
			continue
		}
		types, _, _ := unstructured.NestedStringSlice(obj.Object, "spec", "policyTypes")
		rules, _, _ := unstructured.NestedSlice(obj.Object, "spec", "ingress")
		if !slices.Contains(types, "Ingress") {
			continue
		}
		if len(rules) != 0 {
			t.Errorf("%s admits %v to the UI; want nothing", key, rules)
		}
		guarding = append(guarding, key)
	}
	if len(guarding) == 0 {
		t.Error("no NetworkPolicy of config/dev limits ingress to the UI's pods: every pod of the cluster can act as the UI")
	}
}
