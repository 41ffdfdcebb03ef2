package integration

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

// runTaskContainer does what the kubelet would do with the Job's pod: the init container installs the
// worker into the emptyDir, then the task container's command runs with the container's environment.
// Only the emptyDir's mount point differs: a directory of the test's instead of /longtask.
func runTaskContainer(t *testing.T, job *batchv1.Job) (string, error) {
	t.Helper()
	cmd := taskContainerCommand(t, job)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// taskContainerCommand installs the worker as the Job's init container would and returns the task
// container's command, ready to start.
func taskContainerCommand(t *testing.T, job *batchv1.Job) *exec.Cmd {
	t.Helper()
	spec := job.Spec.Template.Spec
	mount := filepath.Join(t.TempDir(), "longtask")
	inPod := func(s string) string {
		if s == longtaskv1.WorkerMountPath || strings.HasPrefix(s, longtaskv1.WorkerMountPath+"/") {
			return mount + strings.TrimPrefix(s, longtaskv1.WorkerMountPath)
		}
		return s
	}
	install := spec.InitContainers[0]
	installArgs := append([]string(nil), install.Command[1:]...)
	for i := range installArgs {
		installArgs[i] = inPod(installArgs[i])
	}
	if out, err := exec.Command(fw.Binary(t, "worker", longtaskv1.WorkerBinary), installArgs...).CombinedOutput(); err != nil {
		t.Fatalf("the install-worker container failed: %v\n%s", err, out)
	}

	task := spec.Containers[0]
	cmd := exec.Command(inPod(task.Command[0]), append(task.Command[1:], task.Args...)...)
	// The worker image has longtask-worker on its PATH; the test's copy stands in for it.
	cmd.Env = []string{"PATH=" + filepath.Dir(fw.Binary(t, "worker", longtaskv1.WorkerBinary)) + ":" + os.Getenv("PATH"), "KUBECONFIG=" + fw.Kubeconfig}
	for _, env := range task.Env {
		if env.ValueFrom != nil {
			t.Fatalf("env %s comes from %v, which this test cannot resolve", env.Name, env.ValueFrom)
		}
		cmd.Env = append(cmd.Env, env.Name+"="+inPod(env.Value))
	}
	return cmd
}

// waitForFile waits until the task's program made the file at path.
func waitForFile(t *testing.T, path string) {
	t.Helper()
	framework.Eventually(t, func(g gomega.Gomega) {
		_, err := os.Stat(path)
		g.Expect(err).NotTo(gomega.HaveOccurred())
	})
}

// useKubeconfig makes a task container's command talk to the API server through another kubeconfig.
func useKubeconfig(cmd *exec.Cmd, path string) {
	for i, env := range cmd.Env {
		if strings.HasPrefix(env, "KUBECONFIG=") {
			cmd.Env[i] = "KUBECONFIG=" + path
		}
	}
}

type observed struct {
	phase    longtaskv1.Phase
	progress longtaskv1.Progress
}

func TestWatchSeesTheDemoTaskProgressToSucceeded(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("demo", ns).
		Command("longtask-worker", "demo", "--steps", "5", "--max-delay", "300ms").
		ProgressInterval(100 * time.Millisecond).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)

	ctx, cancel := context.WithTimeout(context.Background(), framework.Timeout)
	defer cancel()
	w, err := fw.Client.Watch(ctx, &longtaskv1.LongTaskList{}, client.InNamespace(ns))
	if err != nil {
		t.Fatalf("watching LongTasks: %v", err)
	}
	defer w.Stop()
	seen := make(chan []observed, 1)
	go func() { seen <- watchUntilFinished(w) }()

	start := time.Now()
	fw.SetJobStatus(t, testutil.FromJob(job).Started(start).Obj())
	out, err := runTaskContainer(t, job)
	if err != nil {
		t.Fatalf("the worker failed: %v\n%s", err, out)
	}
	fw.SetJobStatus(t, testutil.FromJob(job).Started(start).Succeeded(time.Now()).Obj())

	events := <-seen
	g := gomega.NewWithT(t)
	g.Expect(events).NotTo(gomega.BeEmpty())
	last := events[len(events)-1]
	g.Expect(last.phase).To(gomega.Equal(longtaskv1.PhaseSucceeded), "the watch never saw the task succeed: %+v", events)
	g.Expect(last.progress.Summary).To(gomega.Equal("5/5 (100%)"))

	var phases []longtaskv1.Phase
	var currents []int64
	for _, e := range events {
		if len(phases) == 0 || phases[len(phases)-1] != e.phase {
			phases = append(phases, e.phase)
		}
		if e.phase == longtaskv1.PhaseRunning && (len(currents) == 0 || currents[len(currents)-1] != e.progress.Current) {
			currents = append(currents, e.progress.Current)
		}
	}
	g.Expect(phases).To(gomega.ContainElements(longtaskv1.PhaseRunning, longtaskv1.PhaseSucceeded))
	g.Expect(phases[len(phases)-2]).To(gomega.Equal(longtaskv1.PhaseRunning), "phases seen: %v", phases)
	g.Expect(len(currents)).To(gomega.BeNumerically(">=", 2), "a watcher must see progress move while Running, saw %v", currents)
	for i := 1; i < len(currents); i++ {
		g.Expect(currents[i]).To(gomega.BeNumerically(">", currents[i-1]), "progress went backwards: %v", currents)
	}
	g.Expect(currents[len(currents)-1]).To(gomega.Equal(int64(5)), "the final report must be written before the worker exits")

	final := &longtaskv1.LongTask{}
	g.Expect(fw.Client.Get(ctx, client.ObjectKeyFromObject(task), final)).To(gomega.Succeed())
	g.Expect(final.Status.Result).To(gomega.Equal(`{"steps": 5}`))
	g.Expect(out).NotTo(gomega.ContainSubstring("::progress"), "protocol lines are consumed, not printed")
}

func TestWorkerExitsWithTheProgramsExitCode(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("fails", ns).
		Command("sh", "-c", `echo "::progress 1/3 started"; echo "disk full" >&2; exit 4`).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)

	out, err := runTaskContainer(t, job)
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 4 {
		t.Fatalf("the worker ended with %v, want exit code 4\n%s", err, out)
	}
	g := gomega.NewWithT(t)
	g.Expect(out).To(gomega.ContainSubstring("disk full"), "the program's output passes through")
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Progress).NotTo(gomega.BeNil())
		g.Expect(got.Status.Progress.Summary).To(gomega.Equal("1/3 (33%)"))
		g.Expect(got.Status.Progress.Message).To(gomega.Equal("started"))
	})
}

// watchUntilFinished collects what a watcher sees of a task until it reaches a final phase.
func watchUntilFinished(w watch.Interface) []observed {
	var events []observed
	for event := range w.ResultChan() {
		task, ok := event.Object.(*longtaskv1.LongTask)
		if !ok {
			continue
		}
		o := observed{phase: task.Status.Phase}
		if task.Status.Progress != nil {
			o.progress = *task.Status.Progress
		}
		events = append(events, o)
		if o.phase.Finished() {
			return events
		}
	}
	return events
}

// recordProgress watches a task and returns a function that stops watching and returns every progress
// the watch saw, in order, once for each change. Each worker write changes the progress it carries (its
// update time or steps), so in tests whose reports all differ this counts the worker's writes.
func recordProgress(t *testing.T, task *longtaskv1.LongTask) func() []longtaskv1.Progress {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := fw.Client.Watch(ctx, &longtaskv1.LongTaskList{}, client.InNamespace(task.Namespace),
		client.MatchingFields{"metadata.name": task.Name})
	if err != nil {
		cancel()
		t.Fatalf("watching the task: %v", err)
	}
	done := make(chan []longtaskv1.Progress, 1)
	go func() {
		var seen []longtaskv1.Progress
		for event := range w.ResultChan() {
			got, ok := event.Object.(*longtaskv1.LongTask)
			if !ok || got.Status.Progress == nil {
				continue
			}
			if n := len(seen); n == 0 || !equality.Semantic.DeepEqual(seen[n-1], *got.Status.Progress) {
				seen = append(seen, *got.Status.Progress)
			}
		}
		done <- seen
	}()
	return func() []longtaskv1.Progress {
		// Let the last writes arrive before the watch is stopped.
		time.Sleep(500 * time.Millisecond)
		cancel()
		w.Stop()
		return <-done
	}
}
