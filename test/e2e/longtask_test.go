//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
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
	expectStatus(t, ns, "demo", map[string]string{".status.result": `{"steps": 25}`})

	// The deployed UI, running on the local node with its own RBAC, shows the finished task to a person
	// whose token may see it.
	resp := uiRequest(t, http.MethodGet, "/api/tasks/"+ns+"/demo", personToken(t, ns), nil, nil)
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
	expectStatus(t, ns, "shell", map[string]string{
		".status.progress.summary": "10/10 (100%)",
		".status.result":           `{"parts": 10}`,
	})
}

func TestFailingSampleSaysWhy(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	kubectl(t, ns, "apply", "-f", sample("failing"))
	kubectl(t, ns, "wait", "--for=condition=Failed", "longtask/failing", "--timeout="+waitTimeout)
	expectStatus(t, ns, "failing", map[string]string{
		".status.phase":            "Failed",
		".status.failure.reason":   "TaskFailed",
		".status.failure.exitCode": "3",
		".status.failure.message":  "The task exited with code 3",
		".status.progress.summary": "1/3 (33%)",
	})
	if got := jsonpath(t, ns, "failing", ".status.failure.output"); !strings.Contains(got, "input.csv: no such file or directory") {
		t.Errorf("output %q, want the error the task printed", got)
	}
}

func TestRetriesSampleResumesFromItsCheckpoint(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	kubectl(t, ns, "apply", "-f", sample("retries"))
	kubectl(t, ns, "wait", "--for=condition=Succeeded", "longtask/retries", "--timeout="+waitTimeout)
	expectStatus(t, ns, "retries", map[string]string{
		".status.attempts":         "2",
		".status.progress.attempt": "2", // the last report came from the retry
	})
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
	expectStatus(t, ns, "long", map[string]string{".status.phase": "Cancelled"})
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
	expectStatus(t, ns, "timeout", map[string]string{".status.failure.reason": "DeadlineExceeded"})
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
        # No runAsUser: the kubelet checks the user the worker image itself names.
        runAsNonRoot: true
        seccompProfile:
          type: RuntimeDefault
      containers:
      - name: task
        image: ` + workerImage(t) + `
        command: ["longtask-worker", "demo", "--steps", "3", "--max-delay", "100ms"]
        securityContext:
          allowPrivilegeEscalation: false
          capabilities:
            drop: ["ALL"]
`
	applyManifest(t, ns, manifest)
	// The Pod Security admission refuses the Job's pod if the worker's own init container asks for more
	// than the restricted standard allows.
	kubectl(t, ns, "wait", "--for=condition=Succeeded", "longtask/restricted", "--timeout="+waitTimeout)
}

func TestForceDeletedPodStopsRunning(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	marker := "longtask-e2e-marker-" + ns
	applyManifest(t, ns, `apiVersion: longtask.dev/v1alpha1
kind: LongTask
metadata:
  name: stuck
spec:
  image: busybox:1.35
  command: ["sh", "-c", "echo '::progress 1/2 waiting'; sleep 3600; : `+marker+`"]
`)
	kubectl(t, ns, "wait", "--for=condition=Running", "longtask/stuck", "--timeout="+waitTimeout)
	running := func() bool { return exec.Command("pgrep", "-f", marker).Run() == nil }
	if !running() {
		t.Fatalf("found no process of the task (pgrep -f %s)", marker)
	}
	// Removed from the API at once: the node never sees a graceful deletion, only the pod gone.
	kubectl(t, ns, "delete", "pod", "-l", "longtask.dev/name=stuck", "--force", "--grace-period=0")
	waitFor(t, "the force-deleted pod's processes to stop", func() bool { return !running() })
}
