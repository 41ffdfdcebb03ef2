//go:build e2e && faults

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// The fault suite (make test-faults) proves what the README promises: tasks survive the restart of
// anything but their own pod. Each fault hits 50 running tasks of mixed kinds; then every task must reach
// the phase it would have reached without the fault, with its final progress and result, with exactly one
// Job and no program run to success twice, and none may stay Running. Each fault's figures go to the
// report (FAULTS_REPORT, by default bin/faults.md).

// taskKind is one kind of task in the mix, and what it ends with when nothing goes wrong.
type taskKind struct {
	name    string
	count   int
	retries int32
	// script is the task's shell program; %d is replaced by the task's index within its kind.
	script func(i int) string
	// phase, current/total and result are what a task of this kind ends with.
	phase          longtaskv1.Phase
	current, total int64
	result         func(i int) string
	// attempts is how many attempts the task needs.
	attempts int32
	// resumable tasks checkpoint, so a lost attempt is run again from where it was.
	resumable bool
}

// longSteps is how many seconds the i-th long task runs: 20 s to 48 s, so that some finish during each
// fault and some after.
func longSteps(i int) int { return 20 + 2*(i%15) }

// taskMix is 50 tasks: quick ones, long ones that checkpoint and may be retried, ones that fail their first
// attempt and succeed on retry, chatty ones reporting 4000 times in 20 s, and ones that fail.
var taskMix = []taskKind{
	{
		name: "quick", count: 10, phase: longtaskv1.PhaseSucceeded, current: 5, total: 5, attempts: 1,
		script: func(int) string {
			return `for i in 1 2 3 4 5; do echo "::progress $i/5"; sleep 0.4; done; echo "::result quick"`
		},
		result: func(int) string { return "quick" },
	},
	{
		name: "long", count: 15, retries: 2, phase: longtaskv1.PhaseSucceeded, attempts: 1, resumable: true,
		script: func(i int) string {
			n := longSteps(i)
			return fmt.Sprintf(`start=${LONGTASK_CHECKPOINT:-0}
i=$start
while [ $i -lt %d ]; do i=$((i+1)); echo "::progress $i/%d"; echo "::checkpoint $i"; sleep 1; done
echo "::result long from $start"`, n, n)
		},
		result: func(int) string { return "long from 0" },
	},
	{
		name: "retrying", count: 10, retries: 2, phase: longtaskv1.PhaseSucceeded, current: 2, total: 2, attempts: 2, resumable: true,
		script: func(int) string {
			return `if [ -z "$LONGTASK_CHECKPOINT" ]; then echo "::progress 1/2"; echo "::checkpoint first"; sleep 2; exit 1; fi
echo "::progress 2/2"; echo "::result retried"`
		},
		result: func(int) string { return "retried" },
	},
	{
		name: "chatty", count: 10, phase: longtaskv1.PhaseSucceeded, current: 4000, total: 4000, attempts: 1,
		script: func(int) string {
			return `s=0
while [ $s -lt 20 ]; do s=$((s+1)); j=0; while [ $j -lt 200 ]; do j=$((j+1)); echo "::progress $(( (s-1)*200 + j ))/4000"; done; sleep 1; done
echo "::result chatty"`
		},
		result: func(int) string { return "chatty" },
	},
	{
		name: "failing", count: 5, phase: longtaskv1.PhaseFailed, current: 1, total: 3, attempts: 1,
		script: func(int) string { return `echo "::progress 1/3"; sleep 3; echo "no such file" >&2; exit 3` },
		result: func(int) string { return "" },
	},
}

// fault is one fault the suite injects. inject returns when the fault is over: the component is back.
type fault struct {
	name   string
	inject func(t *testing.T, ns string)
	// lossy faults lose the pods that were running: a task with retries runs again from its checkpoint, one
	// without fails with reason lostReason.
	lossy bool
	// rerun lists the tasks the fault runs again on purpose (a deleted Job), from their checkpoint.
	rerun []string
}

func TestFaults(t *testing.T) {
	report := newFaultReport(t)
	faults := []fault{
		{name: "the manager killed (SIGKILL) three times", inject: killManagerThrice},
		{name: "the leader of two manager replicas killed", inject: killLeader},
		{name: "kube-apiserver stopped for 30 s", inject: func(t *testing.T, _ string) {
			localclusterFault(t, "stop", "kube-apiserver")
			time.Sleep(30 * time.Second)
			localclusterFault(t, "start", "kube-apiserver")
		}},
		{name: "etcd restarted", inject: func(t *testing.T, _ string) { localclusterFault(t, "restart", "etcd") }},
		{name: "the node stopped and started again", lossy: true, inject: func(t *testing.T, _ string) {
			localclusterFault(t, "stop", "node")
			time.Sleep(10 * time.Second)
			localclusterFault(t, "start", "node")
		}},
		{name: "a task's Job deleted by hand", rerun: []string{"long-3", "long-4", "long-5"}, inject: func(t *testing.T, ns string) {
			kubectl(t, ns, "delete", "job", "long-3", "long-4", "long-5")
		}},
		{name: "the UI killed while browsers follow tasks", inject: killUIWhileFollowed},
	}
	for i, f := range faults {
		ns := fmt.Sprintf("fault-%d-%d", i+1, time.Now().Unix()%100000)
		if !t.Run(strings.ReplaceAll(f.name, " ", "_"), func(t *testing.T) { runFault(t, ns, f, report) }) {
			// A broken cluster would fail every fault after it for the wrong reason.
			break
		}
	}
}

// runFault starts the mix in a new namespace, injects the fault once the long tasks run, and checks how
// every task ended.
func runFault(t *testing.T, ns string, f fault, report *faultReport) {
	kubectl(t, "", "create", "namespace", ns)
	applyManifest(t, ns, mixManifest())
	waitForTasks(t, ns, 3*time.Minute, "half the long tasks running", func(tasks map[string]longtaskv1.LongTask) bool {
		running := 0
		for name, task := range tasks {
			if strings.HasPrefix(name, "long-") && task.Status.Phase == longtaskv1.PhaseRunning {
				running++
			}
		}
		return running >= 8
	})

	restartsBefore := operatorRestarts(t)
	started := time.Now()
	f.inject(t, ns)
	over := time.Now()
	recovery := probeRecovery(t, ns)

	tasks := waitForTasks(t, ns, 6*time.Minute, "every task finished", func(tasks map[string]longtaskv1.LongTask) bool {
		for _, task := range tasks {
			if !task.Status.Phase.Finished() {
				return false
			}
		}
		return true
	})
	lost := checkOutcomes(t, f, tasks)
	duplicates := checkOneJobEach(t, ns, tasks)
	restarts := operatorRestarts(t) - restartsBefore
	report.add(f.name, over.Sub(started), recovery, len(tasks), lost, duplicates, restarts)
}

// mixManifest is the 50 tasks of taskMix, named KIND-INDEX.
func mixManifest() string {
	var docs []string
	for _, kind := range taskMix {
		for i := range kind.count {
			script, _ := json.Marshal(kind.script(i))
			docs = append(docs, fmt.Sprintf(`apiVersion: longtask.dev/v1alpha1
kind: LongTask
metadata: {name: %s-%d, labels: {fault-mix: %s}}
spec:
  image: busybox:1.35
  command: ["sh", "-c", %s]
  retries: %d
`, kind.name, i, kind.name, script, kind.retries))
		}
	}
	return strings.Join(docs, "---\n")
}

// kindOf is the kind of a task of the mix, from its name.
func kindOf(name string) taskKind {
	for _, kind := range taskMix {
		if strings.HasPrefix(name, kind.name+"-") {
			return kind
		}
	}
	panic("no kind for " + name)
}

// lostReason is the failure reason of a task whose pod was lost with its node.
const lostReason = "PodLost"

// checkOutcomes compares how each task ended with how it would have ended without the fault, and returns
// the names of those that did not end so.
func checkOutcomes(t *testing.T, f fault, tasks map[string]longtaskv1.LongTask) []string {
	t.Helper()
	var lost []string
	for name, task := range tasks {
		kind := kindOf(name)
		index, err := strconv.Atoi(strings.TrimPrefix(name, kind.name+"-"))
		if err != nil {
			t.Fatalf("task %s of the mix has no index: %v", name, err)
		}
		problems := outcomeProblems(f, kind, index, task)
		if len(problems) > 0 {
			lost = append(lost, name)
			t.Errorf("%s: %s (status: %s)", name, strings.Join(problems, "; "), describe(task))
		}
	}
	slices.Sort(lost)
	return lost
}

func outcomeProblems(f fault, kind taskKind, index int, task longtaskv1.LongTask) []string {
	status := task.Status
	rerun := slices.Contains(f.rerun, task.Name)
	lostWithNode := f.lossy && kind.retries == 0 && status.Phase == longtaskv1.PhaseFailed && status.Failure != nil && status.Failure.Reason == lostReason
	if lostWithNode {
		// The documented outcome of a task without retries whose pod the node lost.
		return nil
	}
	var problems []string
	if status.Phase != kind.phase {
		problems = append(problems, fmt.Sprintf("ended %s, want %s", status.Phase, kind.phase))
	}
	current, total := kind.current, kind.total
	if kind.name == "long" {
		current, total = int64(longSteps(index)), int64(longSteps(index))
	}
	if p := status.Progress; p == nil || p.Current != current || p.Total != total {
		problems = append(problems, fmt.Sprintf("final progress %s, want %d/%d", describeProgress(p), current, total))
	}
	want := kind.result(index)
	resumed := (f.lossy || rerun) && kind.name == "long" && strings.HasPrefix(status.Result, "long from ") && status.Result != "long from 0"
	if status.Result != want && !resumed {
		problems = append(problems, fmt.Sprintf("result %q, want %q", status.Result, want))
	}
	if rerun && !resumed {
		problems = append(problems, "its Job was deleted mid-run, but the new Job did not resume from the checkpoint")
	}
	switch {
	case f.lossy && kind.resumable:
		if status.Attempts < kind.attempts {
			problems = append(problems, fmt.Sprintf("%d attempts, want at least %d", status.Attempts, kind.attempts))
		}
	case status.Attempts != kind.attempts && !rerun:
		problems = append(problems, fmt.Sprintf("%d attempts, want %d: a fault must not run a task again", status.Attempts, kind.attempts))
	}
	if kind.phase == longtaskv1.PhaseFailed && (status.Failure == nil || status.Failure.Reason != "TaskFailed" || status.Failure.ExitCode == nil || *status.Failure.ExitCode != 3) {
		problems = append(problems, "want failure TaskFailed with exit code 3")
	}
	return problems
}

// checkOneJobEach lists the mix's Jobs and pods and returns how many Jobs and successful runs there are
// beyond one per task.
func checkOneJobEach(t *testing.T, ns string, tasks map[string]longtaskv1.LongTask) int {
	t.Helper()
	jobs := map[string]int{}
	for _, owner := range strings.Fields(kubectl(t, ns, "get", "jobs", "-o", `jsonpath={range .items[*]}{.metadata.ownerReferences[0].name}{"\n"}{end}`)) {
		jobs[owner]++
	}
	succeeded := map[string]int{}
	for _, name := range strings.Fields(kubectl(t, ns, "get", "pods", "--field-selector=status.phase=Succeeded", "-o",
		`jsonpath={range .items[*]}{.metadata.labels.longtask\.dev/name}{"\n"}{end}`)) {
		succeeded[name]++
	}
	duplicates := 0
	for name := range tasks {
		if jobs[name] != 1 {
			t.Errorf("%s has %d Jobs, want 1", name, jobs[name])
		}
		if succeeded[name] > 1 {
			t.Errorf("%s ran to success %d times, want once", name, succeeded[name])
		}
		duplicates += max(jobs[name]-1, 0) + max(succeeded[name]-1, 0)
	}
	return duplicates
}

// probeRecovery creates a quick task right after a fault and returns how long it takes to succeed: how
// long until a user's new task works again.
func probeRecovery(t *testing.T, ns string) time.Duration {
	t.Helper()
	start := time.Now()
	applyManifest(t, ns, `apiVersion: longtask.dev/v1alpha1
kind: LongTask
metadata: {name: probe}
spec:
  image: busybox:1.35
  command: ["sh", "-c", "echo '::progress 1/1'; echo '::result probe'"]
`)
	kubectl(t, ns, "wait", "--for=condition=Succeeded", "longtask/probe", "--timeout=5m")
	kubectl(t, ns, "delete", "longtask", "probe")
	return time.Since(start)
}

// waitForTasks lists the mix's tasks every two seconds until done says so, and returns them.
func waitForTasks(t *testing.T, ns string, timeout time.Duration, what string, done func(map[string]longtaskv1.LongTask) bool) map[string]longtaskv1.LongTask {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var tasks map[string]longtaskv1.LongTask
	for {
		out, err := kubectlCmd(ns, "get", "longtasks", "-l", "fault-mix", "-o", "json").Output()
		if err == nil {
			var list longtaskv1.LongTaskList
			if err := json.Unmarshal(out, &list); err != nil {
				t.Fatal(err)
			}
			tasks = map[string]longtaskv1.LongTask{}
			for _, task := range list.Items {
				tasks[task.Name] = task
			}
			if done(tasks) {
				return tasks
			}
		}
		if time.Now().After(deadline) {
			var stuck []string
			for name, task := range tasks {
				if !task.Status.Phase.Finished() {
					stuck = append(stuck, name+" "+describe(task))
				}
			}
			slices.Sort(stuck)
			t.Fatalf("waited %s for %s; not finished:\n%s", timeout, what, strings.Join(stuck, "\n"))
		}
		time.Sleep(2 * time.Second)
	}
}

func describe(task longtaskv1.LongTask) string {
	s := fmt.Sprintf("%s, %s, attempts %d, result %q", task.Status.Phase, describeProgress(task.Status.Progress), task.Status.Attempts, task.Status.Result)
	if f := task.Status.Failure; f != nil {
		s += fmt.Sprintf(", failure %s: %s", f.Reason, f.Message)
	}
	return s
}

func describeProgress(p *longtaskv1.Progress) string {
	if p == nil {
		return "no progress"
	}
	return p.Summary
}

// localclusterFault asks the running local cluster to stop, start or restart one of its components.
func localclusterFault(t *testing.T, action, component string) {
	t.Helper()
	out, err := exec.Command(filepath.Join(root, "bin", "localcluster"), "fault", "--state-dir", stateDir, action, component).CombinedOutput()
	if err != nil {
		t.Fatalf("localcluster fault %s %s: %v\n%s", action, component, err, out)
	}
}

// operatorRestarts is how many times the kubelet has restarted the operator's containers (the manager and
// the UI), beyond those the fault killed on purpose: they show a component that gave up and crashed.
func operatorRestarts(t *testing.T) int {
	t.Helper()
	total := 0
	for _, n := range strings.Fields(kubectl(t, operatorNamespace, "get", "pods", "-o", "jsonpath={.items[*].status.containerStatuses[*].restartCount}")) {
		count, _ := strconv.Atoi(n)
		total += count
	}
	return total
}

// faultReportIntro says what the report's figures are.
const faultReportIntro = `# Faults

Written by ` + "`make test-faults`" + ` (` + "`make bench`" + ` runs it), test/e2e/faults_test.go, on the local cluster with a real node.
Each fault hits 50 tasks (10 quick, 15 long that checkpoint, with retries; 10 that fail their first attempt
and succeed on retry; 10 chatty ones reporting 4000 times in 20 s; 5 that fail), once 8 of the long ones
run. **Lost**: tasks that did not end as they would have without the fault (phase, final progress, result,
attempts, failure). **Duplicated**: Jobs beyond one per task, and programs run to success more than once.
**Recovery**: from the fault's end until a task created then has succeeded (its pod starts among the
others'). **Operator restarts**: restarts of the manager's and the UI's containers during the fault,
those the fault caused on purpose included.

`

// faultReport collects each fault's figures and writes them as a Markdown table.
type faultReport struct {
	mu   sync.Mutex
	path string
	rows []string
}

func newFaultReport(t *testing.T) *faultReport {
	path := os.Getenv("FAULTS_REPORT")
	if path == "" {
		path = filepath.Join(root, "bin", "faults.md")
	}
	r := &faultReport{path: path}
	t.Cleanup(func() {
		text := faultReportIntro + "| Fault | Fault lasted | Recovery (a new task succeeds) | Tasks | Lost | Duplicated Jobs or runs | Operator restarts |\n|---|---|---|---|---|---|---|\n" + strings.Join(r.rows, "\n") + "\n"
		if err := os.WriteFile(r.path, []byte(text), 0o644); err != nil {
			t.Error(err)
		}
		t.Logf("fault report (%s):\n%s", r.path, text)
	})
	return r
}

func (r *faultReport) add(name string, lasted, recovery time.Duration, tasks int, lost []string, duplicates, restarts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	lostText := "0"
	if len(lost) > 0 {
		lostText = fmt.Sprintf("%d (%s)", len(lost), strings.Join(lost, ", "))
	}
	r.rows = append(r.rows, fmt.Sprintf("| %s | %.1f s | %.1f s | %d | %s | %d | %d |", name, lasted.Seconds(), recovery.Seconds(), tasks, lostText, duplicates, restarts))
}
