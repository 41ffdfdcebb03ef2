//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var progressColumn = regexp.MustCompile(`(\d+)/25 \((\d+)%\)`)

func TestDemoSampleGoesFromZeroTo100Percent(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	lines := watchLines(ctx, t, ns)
	kubectl(t, ns, "apply", "-f", sample("demo"))

	var seen []int
	succeeded := false
	for line := range lines {
		if m := progressColumn.FindStringSubmatch(line); m != nil {
			current, _ := strconv.Atoi(m[1])
			seen = append(seen, current)
		}
		if strings.Contains(line, "Succeeded") {
			succeeded = true
			break
		}
	}
	if !succeeded {
		t.Fatalf("kubectl get longtasks -w never showed Succeeded; progress seen: %v", seen)
	}
	if len(seen) < 3 || seen[len(seen)-1] != 25 {
		t.Errorf("progress seen by the watch: %v; want it rising to 25/25", seen)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i] < seen[i-1] {
			t.Errorf("progress went backwards in the watch: %v", seen)
		}
	}
	kubectl(t, ns, "wait", "--for=condition=Succeeded", "longtask/demo", "--timeout="+waitTimeout)
	if got := jsonpath(t, ns, "demo", ".status.result"); got != `{"steps": 25}` {
		t.Errorf("result %q, want {\"steps\": 25}", got)
	}

	// The deployed UI, running on the local node with its own RBAC, shows the finished task.
	resp, err := http.Get(uiURL + "/api/tasks/" + ns + "/demo")
	if err != nil {
		t.Fatalf("asking the UI: %v", err)
	}
	defer resp.Body.Close()
	var shown struct {
		Phase  string `json:"phase"`
		Result string `json:"result"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&shown); err != nil || shown.Phase != "Succeeded" || shown.Result != `{"steps": 25}` {
		t.Errorf("the UI shows %+v (%v), want the succeeded task and its result", shown, err)
	}

	// The worker ran with the per-task account the deployed controller made, and that account reaches
	// only this task.
	if got := kubectl(t, ns, "get", "pods", "-l", "longtask.dev/name=demo", "-o", "jsonpath={.items[0].spec.serviceAccountName}"); got != "longtask-worker-demo" {
		t.Errorf("the task's pod ran as %q, want longtask-worker-demo", got)
	}
	as := "--as=system:serviceaccount:" + ns + ":longtask-worker-demo"
	if got := kubectl(t, ns, "auth", "can-i", "patch", "longtasks/demo", "--subresource=status", as); got != "yes" {
		t.Errorf("can the worker patch its own task's status? %q, want yes", got)
	}
	for _, forbidden := range [][]string{
		{"patch", "longtasks/other", "--subresource=status"},
		{"get", "secrets"},
		{"list", "pods"},
		{"delete", "longtasks/demo"},
	} {
		out, _ := kubectlCmd(ns, append(append([]string{"auth", "can-i"}, forbidden...), as)...).CombinedOutput()
		if strings.TrimSpace(string(out)) != "no" {
			t.Errorf("can the worker %s? %q, want no", strings.Join(forbidden, " "), strings.TrimSpace(string(out)))
		}
	}
}

func TestShellSampleReportsWithEcho(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	kubectl(t, ns, "apply", "-f", sample("shell"))
	kubectl(t, ns, "wait", "--for=condition=Succeeded", "longtask/shell", "--timeout="+waitTimeout)
	if got := jsonpath(t, ns, "shell", ".status.progress.summary"); got != "10/10 (100%)" {
		t.Errorf("progress %q, want 10/10 (100%%)", got)
	}
	if got := jsonpath(t, ns, "shell", ".status.result"); got != `{"parts": 10}` {
		t.Errorf("result %q, want {\"parts\": 10}", got)
	}
}

func TestFailingSampleSaysWhy(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	kubectl(t, ns, "apply", "-f", sample("failing"))
	kubectl(t, ns, "wait", "--for=condition=Failed", "longtask/failing", "--timeout="+waitTimeout)
	if got := jsonpath(t, ns, "failing", ".status.phase"); got != "Failed" {
		t.Errorf("phase %q, want Failed", got)
	}
	if got := jsonpath(t, ns, "failing", ".status.failure.exitCode"); got != "3" {
		t.Errorf("exit code %q, want 3", got)
	}
	if got := jsonpath(t, ns, "failing", ".status.failure.message"); got != "The task exited with code 3" {
		t.Errorf("message %q, want the exit code explained", got)
	}
	if got := jsonpath(t, ns, "failing", ".status.failure.output"); !strings.Contains(got, "input.csv: no such file or directory") {
		t.Errorf("output %q, want the error the task printed", got)
	}
	if got := jsonpath(t, ns, "failing", ".status.progress.summary"); got != "1/3 (33%)" {
		t.Errorf("progress %q, want the last report, 1/3", got)
	}
}

func TestRetriesSampleResumesFromItsCheckpoint(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	kubectl(t, ns, "apply", "-f", sample("retries"))
	kubectl(t, ns, "wait", "--for=condition=Succeeded", "longtask/retries", "--timeout="+waitTimeout)
	if got := jsonpath(t, ns, "retries", ".status.attempts"); got != "2" {
		t.Errorf("attempts %q, want 2", got)
	}
	if got := jsonpath(t, ns, "retries", ".status.progress.attempt"); got != "2" {
		t.Errorf("the last report came from attempt %q, want 2", got)
	}
	logs := kubectl(t, ns, "logs", "-l", "longtask.dev/name=retries", "-c", "task", "--prefix")
	if !strings.Contains(logs, "Attempt 2: resuming at step 5 of 10") {
		t.Errorf("the retry did not resume from the checkpoint; logs:\n%s", logs)
	}
}

func TestCancelStopsALongTask(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	kubectl(t, ns, "apply", "-f", sample("long"))
	waitFor(t, "the long task to make progress", func() bool {
		current, _ := strconv.Atoi(jsonpathOrEmpty(ns, "long", ".status.progress.current"))
		return current >= 2
	})
	kubectl(t, ns, "patch", "longtask", "long", "--type", "merge", "-p", `{"spec":{"cancel":true}}`)
	kubectl(t, ns, "wait", "--for=condition=Cancelled", "longtask/long", "--timeout="+waitTimeout)

	kubectl(t, ns, "wait", "--for=delete", "pod", "-l", "longtask.dev/name=long", "--timeout="+waitTimeout)
	if current, _ := strconv.Atoi(jsonpath(t, ns, "long", ".status.progress.current")); current < 2 {
		t.Errorf("progress after cancel is %d, want the last progress kept", current)
	}
	if got := jsonpath(t, ns, "long", ".status.phase"); got != "Cancelled" {
		t.Errorf("phase %q, want Cancelled", got)
	}
}

func TestDeletingATaskDeletesItsJobAndPods(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	kubectl(t, ns, "apply", "-f", sample("long"))
	kubectl(t, ns, "wait", "--for=condition=Running", "longtask/long", "--timeout="+waitTimeout)
	kubectl(t, ns, "delete", "longtask", "long")
	kubectl(t, ns, "wait", "--for=delete", "job/long", "--timeout="+waitTimeout)
	kubectl(t, ns, "wait", "--for=delete", "pod", "-l", "longtask.dev/name=long", "--timeout="+waitTimeout)
	if got := kubectl(t, ns, "get", "jobs,pods,serviceaccounts,roles,rolebindings", "-l", "longtask.dev/name=long", "-o", "name"); got != "" {
		t.Errorf("left behind after the task was deleted:\n%s", got)
	}
}

func TestTimeoutSampleFailsWithDeadlineExceeded(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	kubectl(t, ns, "apply", "-f", sample("timeout"))
	kubectl(t, ns, "wait", "--for=condition=Failed", "longtask/timeout", "--timeout="+waitTimeout)
	if got := jsonpath(t, ns, "timeout", ".status.failure.reason"); got != "DeadlineExceeded" {
		t.Errorf("failure reason %q, want DeadlineExceeded", got)
	}
}

func jsonpathOrEmpty(ns, task, path string) string {
	out, _ := kubectlCmd(ns, "get", "longtask", task, "-o", "jsonpath={"+path+"}").Output()
	return strings.TrimSpace(string(out))
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestTaskRunsInARestrictedNamespace(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	kubectl(t, "", "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
	manifest := `apiVersion: longtask.dev/v1alpha1
kind: LongTask
metadata:
  name: restricted
spec:
  podTemplate:
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile:
          type: RuntimeDefault
      containers:
      - name: task
        image: ` + workerImage + `
        command: ["longtask-worker", "demo", "--steps", "3", "--max-delay", "100ms"]
        securityContext:
          allowPrivilegeEscalation: false
          capabilities:
            drop: ["ALL"]
`
	cmd := kubectlCmd(ns, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
	// The Pod Security admission refuses the Job's pod if the worker's own init container asks for more
	// than the restricted standard allows.
	kubectl(t, ns, "wait", "--for=condition=Succeeded", "longtask/restricted", "--timeout="+waitTimeout)
}
