package integration

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/longtask-dev/longtask/internal/ui"
)

// sessionSecretName is the Secret the UI reads its session key from, as config/ deploys it.
const sessionSecretName = "longtask-ui-session"

// The UI reads its session Secret and makes none: the install does. With its generated RBAC it may get
// that one Secret and create no Secret at all, and a missing one stops it with a message that says how to
// make it.
func TestUIReadsItsSessionSecretAndCreatesNone(t *testing.T) {
	t.Parallel()
	ns := fw.Namespace(t)
	fw.GrantUIInstallRole(t, ns)
	kube, err := kubernetes.NewForConfig(fw.UIConfig)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	_, err = ui.SessionKey(ctx, kube, ns, sessionSecretName)
	if err == nil || !strings.Contains(err.Error(), "kubectl create secret generic "+sessionSecretName+" -n "+ns) {
		t.Errorf("without the Secret: %v; want an error saying how to create it", err)
	}
	if err := fw.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: sessionSecretName}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Secret after the UI looked for it: %v; want it still missing", err)
	}
	_, err = kube.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: sessionSecretName}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("the UI creating a Secret: %v; want it forbidden", err)
	}

	// Made as the error says, with kubectl: 32 random bytes in base64.
	secret := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	fw.Create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: sessionSecretName, Namespace: ns}, Data: map[string][]byte{"key": []byte(secret)}})
	if key, err := ui.SessionKey(ctx, kube, ns, sessionSecretName); err != nil || string(key) != secret {
		t.Errorf("SessionKey = %q, %v; want the Secret's key", key, err)
	}
}

// The chart makes the session Secret with a random key, keeps its key on an upgrade, and leaves alone one
// that Helm does not manage (made with kubectl, or by a UI from before the chart made it). helm template
// --dry-run=server looks the Secret up on the API server as install and upgrade do.
func TestChartMakesTheUISessionSecretAndKeepsItsKey(t *testing.T) {
	t.Parallel()
	ns := fw.Namespace(t)
	release := "session"
	name := release + "-ui-session"
	ctx := context.Background()

	first := chartSessionSecret(t, release, ns)
	if key, err := base64.StdEncoding.DecodeString(first); first == "" || err != nil || len(key) != 32 {
		t.Fatalf("the chart's session key %q: %d bytes, %v; want 32 random bytes", first, len(key), err)
	}

	// Installed: an upgrade renders the same key.
	installed := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
		Annotations: map[string]string{"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": ns}},
		Data: map[string][]byte{"key": mustDecode(t, first)}}
	fw.Create(t, installed)
	if again := chartSessionSecret(t, release, ns); again != first {
		t.Errorf("an upgrade renders the key %q, want the installed %q", again, first)
	}

	// Not Helm's: not rendered, so Helm neither refuses to adopt it nor replaces its key.
	if err := fw.Client.Delete(ctx, installed); err != nil {
		t.Fatal(err)
	}
	fw.Create(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Data: map[string][]byte{"key": mustDecode(t, first)}})
	if got := chartSessionSecret(t, release, ns); got != "" {
		t.Errorf("with a Secret Helm does not manage, the chart renders one with key %q; want none", got)
	}
}

// chartSessionSecret renders the chart as release in namespace, looking objects up on the API server, and
// returns the data.key of the session Secret it renders; empty when it renders none.
func chartSessionSecret(t *testing.T, release, namespace string) string {
	t.Helper()
	helm := os.Getenv("HELM")
	if helm == "" {
		helm = fw.Path("bin", "helm")
	}
	cmd := exec.Command(helm, "template", release, fw.Path("charts", "longtask"), "--namespace", namespace,
		"--dry-run=server", "--kubeconfig", fw.Kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm template (make helm, or set HELM): %v\n%s", err, stderr.String())
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(&stdout, 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return ""
		} else if err != nil {
			t.Fatal(err)
		}
		if obj.GetKind() == "Secret" && obj.GetName() == release+"-ui-session" {
			key, _, _ := unstructured.NestedString(obj.Object, "data", "key")
			return key
		}
	}
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
