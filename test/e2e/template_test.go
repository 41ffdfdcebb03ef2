//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// apiKey is the Secret's value; it must never appear in what the task reports.
const apiKey = "e2e-secret-key-8d41"

// echoFileTemplate runs with the Secret's key in API_KEY, as a task that calls an API would, and reports
// the file it was given, from its args and from env. EXPANDED is the template author's own $(API_KEY):
// it shows that the kubelet does expand $(API_KEY) in this pod, so a value passed on unescaped would
// have reported the key.
const echoFileTemplate = `apiVersion: v1
kind: Secret
metadata: {name: api}
stringData: {key: ` + apiKey + `}
---
apiVersion: longtask.dev/v1alpha1
kind: LongTaskTemplate
metadata: {name: echo-file}
spec:
  parameters:
  - {name: file, required: true}
  task:
    image: busybox:1.35
    command: ["sh", "-c", 'echo "file: $1"; echo "::result $1|$FILE|$EXPANDED"', "sh", "$(params.file)"]
    env:
    - name: API_KEY
      valueFrom: {secretKeyRef: {name: api, key: key}}
    - {name: FILE, value: $(params.file)}
    - {name: EXPANDED, value: $(API_KEY)}
`

// A parameter's value reaches the program as typed: the real kubelet, which expands $(VAR) in command,
// args and env values, does not turn file=$(API_KEY) into the Secret's key.
func TestTemplateParameterIsNotExpandedByTheKubelet(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	applyManifest(t, ns, echoFileTemplate)
	applyManifest(t, ns, `apiVersion: longtask.dev/v1alpha1
kind: LongTask
metadata: {name: leak}
spec:
  templateRef: {name: echo-file}
  parameters:
  - {name: file, value: "$(API_KEY)"}
`)
	kubectl(t, ns, "wait", "--for=condition=Succeeded", "longtask/leak", "--timeout="+waitTimeout)

	// The args' value, the env's value, and the template's own $(API_KEY), which the kubelet expands.
	want := "$(API_KEY)|$(API_KEY)|" + apiKey
	if got := jsonpath(t, ns, "leak", ".status.result"); got != want {
		t.Errorf("the task's result is %q, want %q: the value as typed, twice, and the key only where the template's author wrote $(API_KEY)", got, want)
	}
	logs := kubectl(t, ns, "logs", "job/leak", "-c", "task")
	if !strings.Contains(logs, "file: $(API_KEY)") || strings.Contains(logs, "file: "+apiKey) {
		t.Errorf("the task's output, want the file as typed and not the key:\n%s", logs)
	}
}
