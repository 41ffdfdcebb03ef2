package integration

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/cli"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

// buildPlugin builds cmd/kubectl-longtask once per run: the tests run the binary a user installs.
func buildPlugin(t *testing.T) string {
	t.Helper()
	return fw.Binary(t, "kubectl-longtask", "kubectl-longtask")
}

// plugin is `kubectl longtask args...` as the admin of the test API server, with KUBECONFIG set as a user's
// shell would have it.
func plugin(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(buildPlugin(t), args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+fw.Kubeconfig)
	return cmd
}

// runPlugin runs the plugin to its end and returns its stdout, stderr and exit code.
func runPlugin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := plugin(t, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("running kubectl longtask %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// syncBuffer is a buffer a running process writes to while the test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startPlugin starts the plugin in the background; wait returns its exit code once it ended.
func startPlugin(t *testing.T, args ...string) (stdout *syncBuffer, wait func() int) {
	t.Helper()
	stdout = &syncBuffer{}
	stderr := &syncBuffer{}
	cmd := plugin(t, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting kubectl longtask %v: %v", args, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return stdout, func() int {
		select {
		case <-done:
		case <-time.After(framework.Timeout):
			t.Fatalf("kubectl longtask %v did not end; stdout:\n%s\nstderr:\n%s", args, stdout, stderr)
		}
		if code := cmd.ProcessState.ExitCode(); code != cli.ExitOK {
			t.Logf("kubectl longtask %v exited %d; stderr:\n%s", args, code, stderr)
		}
		return cmd.ProcessState.ExitCode()
	}
}

// failTask ends the task's Job as failed after its pod exited with code 3, as the Job controller and the
// kubelet would, with the worker's termination message.
func failTask(t *testing.T, task *longtaskv1.LongTask, job *batchv1.Job, start time.Time) {
	t.Helper()
	message := `{"reason":"TaskFailed","message":"The task exited with code 3","output":"copying part 4\ndisk full: /data"}`
	fw.CreatePod(t, testutil.ControlledBy(testutil.TerminatedPod(task.Name+"-abcde", task.Namespace, task.Name, 3, "Error", message, time.Now()), job))
	fw.SetJobStatus(t, testutil.FromJob(job).Started(start).Failed(time.Now(), "BackoffLimitExceeded", "Job has reached the specified backoff limit", 1).Obj())
}

// succeedTask ends the task's Job successfully.
func succeedTask(t *testing.T, job *batchv1.Job, start time.Time) {
	t.Helper()
	fw.SetJobStatus(t, testutil.FromJob(job).Started(start).Succeeded(time.Now()).Obj())
}

func TestPluginRunStartsATaskFromATemplate(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	fw.Create(t, resizeTemplate(ns))

	stdout, stderr, code := runPlugin(t, "run", "resize-photos", "-n", ns, "-p", "count=150", "-p", "album=cats, dogs", "-o", "name")
	g := gomega.NewWithT(t)
	g.Expect(code).To(gomega.Equal(cli.ExitOK), stderr)
	name := strings.TrimSpace(stdout)
	g.Expect(name).To(gomega.HavePrefix("resize-photos-"), "the task is named after its template")

	task := &longtaskv1.LongTask{}
	g.Expect(fw.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, task)).To(gomega.Succeed())
	g.Expect(task.Spec.TemplateRef).To(gomega.Equal(&longtaskv1.TemplateRef{Name: "resize-photos"}))
	g.Expect(task.Spec.Parameters).To(gomega.Equal([]longtaskv1.ParameterValue{{Name: "count", Value: "150"}, {Name: "album", Value: "cats, dogs"}}),
		"a value with a comma is one value")
	g.Expect(task.Labels).To(gomega.HaveKeyWithValue(longtaskv1.LabelTemplate, "resize-photos"))
	g.Expect(task.ManagedFields).To(gomega.ContainElement(gomega.HaveField("Manager", cli.FieldOwner)))
	// The controller resolves it as it would any task from a template.
	job := fw.WaitForJob(t, task)
	g.Expect(job.Spec.Template.Spec.Containers[0].Command).To(gomega.ContainElements("--count", "150"))
}

func TestPluginRunRefusesABadValueAndCreatesNothing(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	fw.Create(t, resizeTemplate(ns))
	g := gomega.NewWithT(t)

	for _, tc := range []struct {
		name       string
		args       []string
		wantStderr []string
	}{
		{"value against the pattern", []string{"run", "resize-photos", "-p", "count=1000", "-p", "album=cats"},
			[]string{`spec.parameters[count]: Invalid value: "1000": must match ^[0-9]{1,3}$`, "nothing was created"}},
		{"required value missing", []string{"run", "resize-photos", "-p", "count=5"},
			[]string{"spec.parameters[album]: Required value"}},
		{"parameter the template lacks", []string{"run", "resize-photos", "-p", "album=cats", "-p", "colour=red"},
			[]string{"spec.parameters[colour]: Not found"}},
		{"not key=value", []string{"run", "resize-photos", "-p", "abc"}, []string{`-p wants NAME=VALUE, got "abc"`}},
		{"no such template", []string{"run", "resize-fotos", "-p", "album=cats"}, []string{`template "resize-fotos" not found in namespace "` + ns + `"`}},
	} {
		_, stderr, code := runPlugin(t, append(tc.args, "-n", ns)...)
		g.Expect(code).To(gomega.Equal(cli.ExitError), tc.name)
		for _, want := range tc.wantStderr {
			g.Expect(stderr).To(gomega.ContainSubstring(want), tc.name)
		}
	}
	tasks := &longtaskv1.LongTaskList{}
	g.Expect(fw.Client.List(context.Background(), tasks, client.InNamespace(ns))).To(gomega.Succeed())
	g.Expect(tasks.Items).To(gomega.BeEmpty(), "a refused run creates nothing")
}

func TestPluginRunsACommand(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	stdout, stderr, code := runPlugin(t, "run", "-n", ns, "--image", "busybox:1.36", "--name", "hello", "--total", "5", "--", "sh", "-c", "echo ::progress 1/5")
	g := gomega.NewWithT(t)
	g.Expect(code).To(gomega.Equal(cli.ExitOK), stderr)
	g.Expect(stdout).To(gomega.Equal("longtask/hello created\n"))
	task := &longtaskv1.LongTask{}
	g.Expect(fw.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "hello"}, task)).To(gomega.Succeed())
	g.Expect(task.Spec.Image).To(gomega.Equal("busybox:1.36"))
	g.Expect(task.Spec.Command).To(gomega.Equal([]string{"sh", "-c", "echo ::progress 1/5"}))
	g.Expect(task.Spec.Total).To(gomega.Equal(ptr.To[int64](5)))
}

func TestPluginCancelEndsTheTaskCancelled(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Obj()
	job, start := fw.StartTask(t, task)
	fw.Worker(t, task).Reports("::progress 5/25 Resized cat.jpg")

	stdout, stderr, code := runPlugin(t, "cancel", "resize", "-n", ns)
	g := gomega.NewWithT(t)
	g.Expect(code).To(gomega.Equal(cli.ExitOK), stderr)
	g.Expect(stdout).To(gomega.Equal("longtask/resize cancelled\n"))
	// The controller suspends the Job; the Job controller then stops its pod.
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(fw.Client.Get(context.Background(), client.ObjectKeyFromObject(job), job)).To(gomega.Succeed())
		g.Expect(job.Spec.Suspend).To(gomega.Equal(ptr.To(true)))
	})
	fw.SetJobStatus(t, testutil.FromJob(job).Started(start).Stopped().Obj())
	got := fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseCancelled))
	})
	g.Expect(got.Spec.Cancel).To(gomega.BeTrue())

	_, stderr, code = runPlugin(t, "result", "resize", "-n", ns)
	g.Expect(code).To(gomega.Equal(cli.ExitTaskFailed))
	g.Expect(stderr).To(gomega.ContainSubstring("longtask/resize Cancelled"))
	stdout, _, code = runPlugin(t, "cancel", "resize", "-n", ns)
	g.Expect(code).To(gomega.Equal(cli.ExitOK))
	g.Expect(stdout).To(gomega.Equal("longtask/resize already Cancelled, nothing to cancel\n"))
	_, stderr, code = runPlugin(t, "cancel", "nope", "-n", ns)
	g.Expect(code).To(gomega.Equal(cli.ExitError))
	g.Expect(stderr).To(gomega.ContainSubstring(`longtask "nope" not found in namespace "` + ns + `"`))
}

func TestPluginResultPrintsTheResult(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Obj()
	job, start := fw.StartTask(t, task)
	worker := fw.Worker(t, task)
	worker.Reports("::progress 12/25 Resized cat.jpg")
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseRunning))
	})
	g := gomega.NewWithT(t)

	stdout, stderr, code := runPlugin(t, "result", "resize", "-n", ns)
	g.Expect(code).To(gomega.Equal(cli.ExitNotFinished))
	g.Expect(stdout).To(gomega.BeEmpty())
	g.Expect(stderr).To(gomega.ContainSubstring("longtask/resize has not finished: Running 12/25 (48%), no result yet"))

	result := "{\"thumbnails\": 25}\n\x1b[2Jnot a terminal: kept as it is"
	worker.ResultFile(result)
	succeedTask(t, job, start)
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseSucceeded))
	})
	stdout, stderr, code = runPlugin(t, "result", "resize", "-n", ns)
	g.Expect(code).To(gomega.Equal(cli.ExitOK), stderr)
	g.Expect(stdout).To(gomega.Equal(result), "a pipe gets the result byte for byte")
}

func TestPluginResultOfAFailedTaskSaysWhy(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Obj()
	job, start := fw.StartTask(t, task)
	failTask(t, task, job, start)
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseFailed))
	})

	stdout, stderr, code := runPlugin(t, "result", "resize", "-n", ns)
	g := gomega.NewWithT(t)
	g.Expect(code).To(gomega.Equal(cli.ExitTaskFailed))
	g.Expect(stdout).To(gomega.BeEmpty())
	g.Expect(stderr).To(gomega.Equal("longtask/resize Failed: TaskFailed: The task exited with code 3\n  | copying part 4\n  | disk full: /data\n"))
}

func TestPluginWatchPrintsLinesAndExitsWithTheOutcome(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	resize := testutil.MakeLongTask("resize", ns).Obj()
	resizeJob, resizeStart := fw.StartTask(t, resize)
	thumbs := testutil.MakeLongTask("thumbs", ns).Obj()
	thumbsJob, thumbsStart := fw.StartTask(t, thumbs)

	// Not a terminal: a line each time a task moves.
	stdout, wait := startPlugin(t, "watch", "resize", "thumbs", "-n", ns)
	fw.Worker(t, resize).Reports("::progress 37/100 Resizing \x1b]0;pwned\x07cat.jpg")
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(stdout.String()).To(gomega.ContainSubstring("resize Running 37/100 (37%) Resizing cat.jpg\n"), "escape sequences a task reports are dropped")
	})
	fw.Worker(t, thumbs).Reports("::progress 5/20 Thumbnail 5")
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(stdout.String()).To(gomega.ContainSubstring("thumbs Running 5/20 (25%) Thumbnail 5\n"))
	})
	succeedTask(t, resizeJob, resizeStart)
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(stdout.String()).To(gomega.MatchRegexp(`(?m)^resize Succeeded 100/100 \(100%\)`))
	})
	failTask(t, thumbs, thumbsJob, thumbsStart)

	g := gomega.NewWithT(t)
	g.Expect(wait()).To(gomega.Equal(cli.ExitTaskFailed), "a task failed")
	g.Expect(stdout.String()).To(gomega.ContainSubstring("thumbs Failed 5/20 (25%) TaskFailed: The task exited with code 3\nthumbs | copying part 4\nthumbs | disk full: /data\n"))
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		g.Expect(strings.Count(stdout.String(), line+"\n")).To(gomega.Equal(1), "each line once: %q", line)
	}

	// Watching tasks that all succeeded ends at once, with 0.
	stdout, wait = startPlugin(t, "watch", "resize", "-n", ns)
	g.Expect(wait()).To(gomega.Equal(cli.ExitOK))
	g.Expect(stdout.String()).To(gomega.HavePrefix("resize Succeeded"))
}

func TestPluginWatchRefusesWhatItCannotWatch(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	g := gomega.NewWithT(t)
	for _, tc := range []struct {
		args       []string
		wantStderr string
	}{
		{[]string{"watch", "nope", "-n", ns}, `longtask "nope" not found in namespace "` + ns + `"`},
		{[]string{"watch", "--all", "-n", ns}, `no LongTasks in namespace "` + ns + `"`},
		{[]string{"watch", "-n", ns}, "watch wants task names, -l SELECTOR or --all"},
		{[]string{"watch", "a", "-A"}, "-A goes with -l or --all"},
	} {
		_, stderr, code := runPlugin(t, tc.args...)
		g.Expect(code).To(gomega.Equal(cli.ExitError), "%v", tc.args)
		g.Expect(stderr).To(gomega.ContainSubstring(tc.wantStderr), "%v", tc.args)
	}
}

// twoContextKubeconfig writes a kubeconfig for the test API server with two contexts, each with its own
// default namespace, and "first" as the current one.
func twoContextKubeconfig(t *testing.T, firstNamespace, secondNamespace string) string {
	t.Helper()
	config, err := clientcmd.LoadFromFile(fw.Kubeconfig)
	if err != nil {
		t.Fatalf("reading the kubeconfig: %v", err)
	}
	admin := config.Contexts[config.CurrentContext]
	first, second := admin.DeepCopy(), admin.DeepCopy()
	first.Namespace, second.Namespace = firstNamespace, secondNamespace
	config.Contexts = map[string]*clientcmdapi.Context{"first": first, "second": second}
	config.CurrentContext = "first"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*config, path); err != nil {
		t.Fatalf("writing the kubeconfig: %v", err)
	}
	return path
}

func TestPluginHonoursKubeconfigContextAndNamespaces(t *testing.T) {
	t.Parallel()
	nsA, nsB := fw.Namespace(t), fw.Namespace(t)
	fw.StartManager(t, manager.Options{WatchNamespaces: []string{nsA, nsB}})
	label := "plugin-test=" + nsA
	for _, ns := range []string{nsA, nsB} {
		task := testutil.MakeLongTask("task-in-"+ns, ns).Label("plugin-test", nsA).Obj()
		job, start := fw.StartTask(t, task)
		fw.Worker(t, task).Reports("::result from " + ns)
		succeedTask(t, job, start)
		fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
			g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseSucceeded))
		})
	}
	// The admin kubeconfig is in KUBECONFIG; --kubeconfig wins over it.
	config := twoContextKubeconfig(t, nsA, nsB)
	g := gomega.NewWithT(t)

	stdout, stderr, code := runPlugin(t, "--kubeconfig", config, "result", "task-in-"+nsA)
	g.Expect(code).To(gomega.Equal(cli.ExitOK), stderr)
	g.Expect(stdout).To(gomega.Equal("from "+nsA), "the current context's namespace")

	_, stderr, code = runPlugin(t, "--kubeconfig", config, "--context", "second", "result", "task-in-"+nsA)
	g.Expect(code).To(gomega.Equal(cli.ExitError))
	g.Expect(stderr).To(gomega.ContainSubstring(`longtask "task-in-`+nsA+`" not found in namespace "`+nsB+`"`), "--context's namespace")

	stdout, stderr, code = runPlugin(t, "--kubeconfig", config, "--context", "second", "-n", nsA, "result", "task-in-"+nsA)
	g.Expect(code).To(gomega.Equal(cli.ExitOK), stderr)
	g.Expect(stdout).To(gomega.Equal("from "+nsA), "-n wins over the context's namespace")

	_, stderr, code = runPlugin(t, "--kubeconfig", config, "--context", "third", "result", "task-in-"+nsA)
	g.Expect(code).To(gomega.Equal(cli.ExitError))
	g.Expect(stderr).To(gomega.ContainSubstring(`context "third"`))

	stdout, stderr, code = runPlugin(t, "--kubeconfig", config, "watch", "-A", "-l", label)
	g.Expect(code).To(gomega.Equal(cli.ExitOK), stderr)
	g.Expect(stdout).To(gomega.ContainSubstring(nsA + "/task-in-" + nsA + " Succeeded"))
	g.Expect(stdout).To(gomega.ContainSubstring(nsB + "/task-in-" + nsB + " Succeeded"))
	g.Expect(strings.Count(stdout, "\n")).To(gomega.Equal(2), "only the tasks the selector matches:\n%s", stdout)
}
