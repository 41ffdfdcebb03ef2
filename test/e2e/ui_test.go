//go:build e2e

package e2e

import (
	"bufio"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// personManifest is a ServiceAccount with the rights a person using the UI has in a namespace: see tasks
// and templates, start and cancel tasks, read their logs and events.
const personManifest = `apiVersion: v1
kind: ServiceAccount
metadata: {name: alice}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: alice}
rules:
- {apiGroups: [longtask.dev], resources: [longtasks, longtasktemplates], verbs: [get, list, watch, create, patch]}
- {apiGroups: [""], resources: [pods, pods/log, events], verbs: [get, list]}
- {apiGroups: [batch], resources: [jobs], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: alice}
subjects: [{kind: ServiceAccount, name: alice}]
`

// sayTemplate prints its message three times, a second apart, with progress between.
const sayTemplate = `apiVersion: longtask.dev/v1alpha1
kind: LongTaskTemplate
metadata: {name: say}
spec:
  parameters:
  - {name: message, required: true}
  task:
    image: busybox:1.35
    command: ["sh", "-c"]
    args:
    - |
      for i in 1 2 3; do echo "line $i: $MESSAGE"; echo "::progress $i/3"; sleep 1; done
      echo "::result said it"
    env:
    - {name: MESSAGE, value: $(params.message)}
`

// personToken applies personManifest in ns and returns a token of alice, as `kubectl create token` makes.
func personToken(t *testing.T, ns string) string {
	t.Helper()
	applyManifest(t, ns, personManifest)
	return kubectl(t, ns, "create", "token", "alice")
}

// uiRequest sends a request to the deployed UI, with a bearer token when one is given.
func uiRequest(t *testing.T, method, path, token string, form url.Values, header map[string]string) *http.Response {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, uiURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// TestUIStartsATaskAndFollowsItsLog is what make dev's user does in the browser, on the deployed UI with
// --auth=token: start a task from a template's form, follow its output live, see its result.
func TestUIStartsATaskAndFollowsItsLog(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	applyManifest(t, ns, sayTemplate)
	token := personToken(t, ns)

	if resp := uiRequest(t, http.MethodGet, "/api/tasks", "", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("the UI answered a visitor without a token %d, want 401", resp.StatusCode)
	}

	form := "/templates/" + ns + "/say"
	resp := uiRequest(t, http.MethodGet, form, token, nil, nil)
	page, _ := io.ReadAll(resp.Body)
	m := csrfField.FindSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil || len(resp.Cookies()) == 0 {
		t.Fatalf("the template's form: %d\n%s", resp.StatusCode, page)
	}
	cookie := resp.Cookies()[0]
	const message = `hello <b>world</b>`
	resp = uiRequest(t, http.MethodPost, form, token, url.Values{"csrf": {string(m[1])}, "param.message": {message}},
		map[string]string{"Cookie": cookie.Name + "=" + cookie.Value})
	location := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(location, "/tasks/"+ns+"/say-") {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("starting the task: %d, Location %q\n%s", resp.StatusCode, location, body)
	}
	name := strings.TrimPrefix(location, "/tasks/"+ns+"/")

	// Follow the output as the page's script does, from before the pod runs until the task ends.
	stream := uiRequest(t, http.MethodGet, location+"/log", token, nil, map[string]string{"Accept": "text/event-stream"})
	var lines []string
	end := ""
	scanner := bufio.NewScanner(stream.Body)
	event := ""
	for scanner.Scan() {
		line := scanner.Text()
		if e, ok := strings.CutPrefix(line, "event: "); ok {
			event = e
		} else if data, ok := strings.CutPrefix(line, "data: "); ok && event == "lines" {
			lines = append(lines, data)
		} else if ok && event == "end" {
			end = data
		}
	}
	want := []string{"line 1: " + message, "line 2: " + message, "line 3: " + message}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("the log stream sent %q, want %q", lines, want)
	}
	if end != "the task succeeded" {
		t.Errorf("the log stream ended with %q, want it to say the task succeeded", end)
	}

	kubectl(t, ns, "wait", "--for=condition=Succeeded", "longtask/"+name, "--timeout="+waitTimeout)
	expectStatus(t, ns, name, map[string]string{
		".status.result": "said it",
		".metadata.labels.longtask\\.dev/template": "say",
		".spec.parameters[0].value":                message,
	})
	resp = uiRequest(t, http.MethodGet, location, token, nil, nil)
	body, _ := io.ReadAll(resp.Body)
	// The result, the output, Run again, the attempt's pod with its exit code, and the task's Events.
	for _, want := range []string{"said it", "line 3: hello &lt;b&gt;world&lt;/b&gt;", "Run again", "exit code 0", "Created Job " + name} {
		if !strings.Contains(string(body), want) {
			t.Errorf("the task's page does not show %q:\n%s", want, body)
		}
	}
}
