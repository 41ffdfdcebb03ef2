// Package chart tests the Helm chart in charts/longtask: with its default values it renders the objects
// kustomize builds from config/default, so that the two ways to install LongTask cannot drift apart, and
// its values change what they say they change. It runs bin/helm and bin/kustomize (make helm kustomize;
// make test passes them in HELM and KUSTOMIZE).
package chart

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

var root = filepath.Join("..", "..")

// helmOnlyLabels are the labels Helm charts put on what they install, which config/ has no reason to.
var helmOnlyLabels = []string{
	"helm.sh/chart",
	"app.kubernetes.io/managed-by",
	"app.kubernetes.io/instance",
	"app.kubernetes.io/version",
	"app.kubernetes.io/part-of",
}

// The chart with its default values installs what config/default does, but the Namespace (Helm's
// --create-namespace makes it) and Helm's own labels.
func TestChartRendersWhatConfigDefaultDeploys(t *testing.T) {
	fromChart := byKey(t, helmTemplate(t, "longtask", "longtask-system", "--include-crds"))
	fromConfig := byKey(t, run(t, tool(t, "KUSTOMIZE", "kustomize"), "build", filepath.Join(root, "config", "default")))

	namespace := "Namespace//longtask-system"
	if _, ok := fromConfig[namespace]; !ok {
		t.Errorf("config/default deploys no %s; the chart's docs say it does", namespace)
	}
	delete(fromConfig, namespace)
	// The chart makes the UI's session Secret with a random key (TestChartValues checks it); kustomize
	// makes no random data, so with config/ make deploy creates it.
	sessionSecret := "Secret/longtask-system/longtask-ui-session"
	if _, ok := fromChart[sessionSecret]; !ok {
		t.Errorf("the chart renders no %s", sessionSecret)
	}
	delete(fromChart, sessionSecret)
	for key, obj := range fromChart {
		stripLabels(obj)
		want, ok := fromConfig[key]
		if !ok {
			t.Errorf("the chart renders %s, which config/default does not deploy", key)
			continue
		}
		if diff := cmp.Diff(want.Object, obj.Object); diff != "" {
			t.Errorf("%s differs from config/default's (-config,+chart):\n%s", key, diff)
		}
	}
	for key := range fromConfig {
		if _, ok := fromChart[key]; !ok {
			t.Errorf("config/default deploys %s, which the chart does not render", key)
		}
	}
}

// metrics.serviceMonitor.enabled renders config/prometheus's ServiceMonitor, and metrics.readers are
// bound to the metrics reader role.
func TestChartMonitorsWhatConfigPrometheusDoes(t *testing.T) {
	fromChart := byKey(t, helmTemplate(t, "longtask", "longtask-system", "--set", "metrics.serviceMonitor.enabled=true",
		"--set", "metrics.readers[0].kind=ServiceAccount", "--set", "metrics.readers[0].name=prometheus-k8s",
		"--set", "metrics.readers[0].namespace=monitoring"))
	fromConfig := byKey(t, run(t, tool(t, "KUSTOMIZE", "kustomize"), "build", filepath.Join(root, "config", "prometheus")))
	for key, want := range fromConfig {
		got, ok := fromChart[key]
		if !ok {
			t.Errorf("config/prometheus has %s, which the chart does not render", key)
			continue
		}
		stripLabels(got)
		if diff := cmp.Diff(want.Object, got.Object); diff != "" {
			t.Errorf("%s differs from config/prometheus's (-config,+chart):\n%s", key, diff)
		}
	}
	binding := fromChart["ClusterRoleBinding//longtask-metrics-reader"]
	if binding == nil {
		t.Fatalf("no binding of metrics.readers among %v", keys(fromChart))
	}
	subjects, _, _ := unstructured.NestedSlice(binding.Object, "subjects")
	if diff := cmp.Diff([]any{map[string]any{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"}}, subjects); diff != "" {
		t.Errorf("metrics reader subjects (-want,+got):\n%s", diff)
	}
	if _, ok := byKey(t, helmTemplate(t, "longtask", "longtask-system"))["ServiceMonitor/longtask-system/longtask-manager-metrics"]; ok {
		t.Error("the default values render a ServiceMonitor; many clusters lack its CRD")
	}
}

// Each value changes what its comment in values.yaml says, and a bad one is refused naming it.
func TestChartValues(t *testing.T) {
	t.Run("watchNamespaces, budget and concurrency reach the manager's flags", func(t *testing.T) {
		objs := byKey(t, helmTemplate(t, "longtask", "ops", "--set", "manager.watchNamespaces={team-a,team-b}",
			"--set", "manager.progressWriteBudget=20", "--set", "manager.maxConcurrentReconciles=4", "--set", "manager.leaderElect=false"))
		want := []any{"--health-probe-bind-address=:8081", "--metrics-bind-address=:8443", "--worker-image=$(WORKER_IMAGE)",
			"--progress-write-budget=20", "--max-concurrent-reconciles=4", "--watch-namespaces=team-a,team-b"}
		if diff := cmp.Diff(want, container(t, objs["Deployment/ops/longtask-manager"])["args"]); diff != "" {
			t.Errorf("manager args (-want,+got):\n%s", diff)
		}
	})
	t.Run("a manager that watches some namespaces gets its rights in those only", func(t *testing.T) {
		objs := byKey(t, helmTemplate(t, "longtask", "ops", "--set", "manager.watchNamespaces={team-a,team-b}"))
		for _, key := range []string{"RoleBinding/team-a/longtask-manager", "RoleBinding/team-b/longtask-manager", "ClusterRoleBinding//longtask-manager-reviews"} {
			if _, ok := objs[key]; !ok {
				t.Errorf("no %s among %v", key, keys(objs))
			}
		}
		if _, ok := objs["ClusterRoleBinding//longtask-manager"]; ok {
			t.Error("the manager's ClusterRole is still bound cluster-wide")
		}
		rules, _, _ := unstructured.NestedSlice(objs["ClusterRole//longtask-manager-reviews"].Object, "rules")
		want := []any{
			map[string]any{"apiGroups": []any{"authentication.k8s.io"}, "resources": []any{"tokenreviews"}, "verbs": []any{"create"}},
			map[string]any{"apiGroups": []any{"authorization.k8s.io"}, "resources": []any{"subjectaccessreviews"}, "verbs": []any{"create"}},
		}
		if diff := cmp.Diff(want, rules); diff != "" {
			t.Errorf("cluster-wide rules of a namespaced manager (-want,+got):\n%s", diff)
		}
	})
	t.Run("the admission policies apply in the watched namespaces only", func(t *testing.T) {
		objs := byKey(t, helmTemplate(t, "longtask", "ops", "--set", "manager.watchNamespaces={team-a,team-b}"))
		want := map[string]any{"namespaceSelector": map[string]any{"matchExpressions": []any{
			map[string]any{"key": "kubernetes.io/metadata.name", "operator": "In", "values": []any{"team-a", "team-b"}},
		}}}
		for _, key := range []string{"ValidatingAdmissionPolicyBinding//longtask-tasks-need-create-jobs", "ValidatingAdmissionPolicyBinding//longtask-templates-need-create-jobs"} {
			if objs[key] == nil {
				t.Fatalf("no %s among %v", key, keys(objs))
			}
			got, _, _ := unstructured.NestedMap(objs[key].Object, "spec", "matchResources")
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s matchResources (-want,+got):\n%s", key, diff)
			}
		}
	})
	t.Run("images from another registry, by tag or digest", func(t *testing.T) {
		objs := byKey(t, helmTemplate(t, "longtask", "ops", "--set", "image.registry=registry.example:5000/team",
			"--set", "image.tag=v1.2.3", "--set", "image.pullPolicy=IfNotPresent",
			"--set", "worker.image.digest=sha256:0123", "--set", "ui.image.tag=v1.2.4"))
		manager := container(t, objs["Deployment/ops/longtask-manager"])
		if got, want := manager["image"], "registry.example:5000/team/longtask-manager:v1.2.3"; got != want {
			t.Errorf("manager image %v, want %s", got, want)
		}
		if got, want := manager["imagePullPolicy"], "IfNotPresent"; got != want {
			t.Errorf("manager imagePullPolicy %v, want %s", got, want)
		}
		worker := manager["env"].([]any)[0].(map[string]any)
		if got, want := worker["value"], "registry.example:5000/team/longtask-worker@sha256:0123"; got != want {
			t.Errorf("WORKER_IMAGE %v, want %s", got, want)
		}
		if got, want := container(t, objs["Deployment/ops/longtask-ui"])["image"], "registry.example:5000/team/longtask-ui:v1.2.4"; got != want {
			t.Errorf("UI image %v, want %s", got, want)
		}
	})
	t.Run("the UI's sign-in, TLS and exposure", func(t *testing.T) {
		objs := byKey(t, helmTemplate(t, "longtask", "ops", "--set", "ui.auth=none", "--set", "ui.readOnly=true",
			"--set", "ui.namespace=team-a", "--set", "ui.tls.secretName=ui-cert", "--set", "ui.service.type=NodePort",
			"--set", "ui.ingress.enabled=true", "--set", "ui.ingress.host=tasks.example"))
		ui := container(t, objs["Deployment/ops/longtask-ui"])
		// Signing nobody in, the UI answers to the Ingress's name besides localhost's, and to no other.
		want := []any{"--bind-address=:8090", "--health-probe-bind-address=:8091", "--auth=none", "--allowed-hosts=tasks.example", "--namespace=team-a", "--read-only",
			"--tls-cert-file=/etc/longtask-ui/tls/tls.crt", "--tls-private-key-file=/etc/longtask-ui/tls/tls.key"}
		if diff := cmp.Diff(want, ui["args"]); diff != "" {
			t.Errorf("UI args (-want,+got):\n%s", diff)
		}
		volumes, _, _ := unstructured.NestedSlice(objs["Deployment/ops/longtask-ui"].Object, "spec", "template", "spec", "volumes")
		if len(volumes) != 1 || volumes[0].(map[string]any)["secret"].(map[string]any)["secretName"] != "ui-cert" {
			t.Errorf("UI volumes %v, want the Secret ui-cert", volumes)
		}
		if got, _, _ := unstructured.NestedString(objs["Service/ops/longtask-ui"].Object, "spec", "type"); got != "NodePort" {
			t.Errorf("UI Service type %q, want NodePort", got)
		}
		if host, _, _ := unstructured.NestedSlice(objs["Ingress/ops/longtask-ui"].Object, "spec", "rules"); len(host) != 1 || host[0].(map[string]any)["host"] != "tasks.example" {
			t.Errorf("UI Ingress rules %v, want one for tasks.example", host)
		}
	})
	t.Run("the UI's session Secret, which the UI only reads", func(t *testing.T) {
		first := byKey(t, helmTemplate(t, "longtask", "ops"))
		second := byKey(t, helmTemplate(t, "longtask", "ops"))
		key, _, _ := unstructured.NestedString(first["Secret/ops/longtask-ui-session"].Object, "data", "key")
		if raw, err := base64.StdEncoding.DecodeString(key); err != nil || len(raw) != 32 {
			t.Errorf("the session Secret's data.key %q: %d bytes, %v; want 32", key, len(raw), err)
		}
		// A key written in the chart would be every install's: each render makes its own.
		if again, _, _ := unstructured.NestedString(second["Secret/ops/longtask-ui-session"].Object, "data", "key"); again == key {
			t.Errorf("two renders made the same session key %q", key)
		}
		rules, _, _ := unstructured.NestedSlice(first["Role/ops/longtask-ui"].Object, "rules")
		want := []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"secrets"}, "resourceNames": []any{"longtask-ui-session"}, "verbs": []any{"get"}}}
		if diff := cmp.Diff(want, rules); diff != "" {
			t.Errorf("the UI's Role (-want,+got):\n%s", diff)
		}
		if _, ok := byKey(t, helmTemplate(t, "longtask", "ops", "--set", "ui.auth=none"))["Secret/ops/longtask-ui-session"]; ok {
			t.Error("ui.auth=none renders a session Secret; nobody signs in")
		}
	})
	t.Run("scheduling and resources", func(t *testing.T) {
		objs := byKey(t, helmTemplate(t, "longtask", "ops", "--set", "manager.nodeSelector.pool=system",
			"--set", "ui.tolerations[0].key=dedicated", "--set", "ui.tolerations[0].operator=Exists",
			"--set", "manager.resources.limits.memory=1Gi"))
		if got, _, _ := unstructured.NestedString(objs["Deployment/ops/longtask-manager"].Object, "spec", "template", "spec", "nodeSelector", "pool"); got != "system" {
			t.Errorf("manager nodeSelector pool %q, want system", got)
		}
		if got, _, _ := unstructured.NestedSlice(objs["Deployment/ops/longtask-ui"].Object, "spec", "template", "spec", "tolerations"); len(got) != 1 {
			t.Errorf("UI tolerations %v, want one", got)
		}
		if got, _, _ := unstructured.NestedString(container(t, objs["Deployment/ops/longtask-manager"]), "resources", "limits", "memory"); got != "1Gi" {
			t.Errorf("manager memory limit %q, want 1Gi", got)
		}
	})
	t.Run("a second release's cluster-wide objects have names of their own", func(t *testing.T) {
		objs := byKey(t, helmTemplate(t, "team-b", "team-b"))
		for _, key := range []string{"ClusterRole//team-b-manager", "ClusterRoleBinding//team-b-manager", "ClusterRole//team-b-ui", "Deployment/team-b/team-b-manager",
			"ValidatingAdmissionPolicy//team-b-tasks-need-create-jobs", "ValidatingAdmissionPolicy//team-b-templates-need-create-jobs"} {
			if _, ok := objs[key]; !ok {
				t.Errorf("no %s among %v", key, keys(objs))
			}
		}
		for _, policy := range []string{"team-b-tasks-need-create-jobs", "team-b-templates-need-create-jobs"} {
			binding := objs["ValidatingAdmissionPolicyBinding//"+policy]
			if binding == nil {
				t.Errorf("no binding of the policy %s among %v", policy, keys(objs))
				continue
			}
			if got, _, _ := unstructured.NestedString(binding.Object, "spec", "policyName"); got != policy {
				t.Errorf("the binding %s binds the policy %q, want %q", policy, got, policy)
			}
		}
		subject, _, _ := unstructured.NestedSlice(objs["ClusterRoleBinding//team-b-manager"].Object, "subjects")
		if diff := cmp.Diff([]any{map[string]any{"kind": "ServiceAccount", "name": "team-b-manager", "namespace": "team-b"}}, subject); diff != "" {
			t.Errorf("binding subjects (-want,+got):\n%s", diff)
		}
	})
	t.Run("without the UI", func(t *testing.T) {
		for key := range byKey(t, helmTemplate(t, "longtask", "ops", "--set", "ui.enabled=false")) {
			if strings.HasSuffix(key, "-ui") {
				t.Errorf("ui.enabled=false still renders %s", key)
			}
		}
	})
	t.Run("a bad sign-in mode is refused naming the value", func(t *testing.T) {
		out, err := exec.Command(tool(t, "HELM", "helm"), "template", "longtask", filepath.Join(root, "charts", "longtask"),
			"--set", "ui.auth=password").CombinedOutput()
		if err == nil || !strings.Contains(string(out), `ui.auth: want token or none, got "password"`) {
			t.Errorf("helm template with ui.auth=password: err %v, output:\n%s", err, out)
		}
	})
}

// helmTemplate renders the chart as release in namespace.
func helmTemplate(t *testing.T, release, namespace string, args ...string) []byte {
	t.Helper()
	return run(t, tool(t, "HELM", "helm"), append([]string{"template", release, filepath.Join(root, "charts", "longtask"), "--namespace", namespace}, args...)...)
}

// tool is the path of a tool make installs into bin/, or the one the environment variable names.
func tool(t *testing.T, env, name string) string {
	t.Helper()
	if path := os.Getenv(env); path != "" {
		return path
	}
	path, err := filepath.Abs(filepath.Join(root, "bin", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: run make %s (or set %s)", path, name, env)
	}
	return path
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// byKey parses a stream of YAML documents into objects keyed KIND/NAMESPACE/NAME.
func byKey(t *testing.T, manifests []byte) map[string]*unstructured.Unstructured {
	t.Helper()
	objs := map[string]*unstructured.Unstructured{}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("parsing the rendered manifests: %v", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		key := fmt.Sprintf("%s/%s/%s", obj.GetKind(), obj.GetNamespace(), obj.GetName())
		if _, ok := objs[key]; ok {
			t.Errorf("%s is rendered twice", key)
		}
		objs[key] = obj
	}
}

func keys(objs map[string]*unstructured.Unstructured) []string {
	var out []string
	for key := range objs {
		out = append(out, key)
	}
	return out
}

// stripLabels removes Helm's labels wherever labels are: the object's, a selector's, a pod template's.
func stripLabels(obj *unstructured.Unstructured) {
	for _, path := range [][]string{
		{"metadata", "labels"},
		{"spec", "selector", "matchLabels"},
		{"spec", "template", "metadata", "labels"},
	} {
		labels, found, _ := unstructured.NestedStringMap(obj.Object, path...)
		if !found {
			continue
		}
		for _, key := range helmOnlyLabels {
			delete(labels, key)
		}
		if len(labels) == 0 {
			unstructured.RemoveNestedField(obj.Object, path...)
		} else {
			_ = unstructured.SetNestedStringMap(obj.Object, labels, path...)
		}
	}
	// A Service's selector is a plain map under spec.
	if obj.GetKind() == "Service" {
		if selector, found, _ := unstructured.NestedStringMap(obj.Object, "spec", "selector"); found {
			for _, key := range helmOnlyLabels {
				delete(selector, key)
			}
			_ = unstructured.SetNestedStringMap(obj.Object, selector, "spec", "selector")
		}
	}
}

// container is the first container of a Deployment's pod.
func container(t *testing.T, deployment *unstructured.Unstructured) map[string]any {
	t.Helper()
	if deployment == nil {
		t.Fatal("no such Deployment rendered")
	}
	containers, _, _ := unstructured.NestedSlice(deployment.Object, "spec", "template", "spec", "containers")
	if len(containers) == 0 {
		t.Fatalf("%s has no containers", deployment.GetName())
	}
	return containers[0].(map[string]any)
}
