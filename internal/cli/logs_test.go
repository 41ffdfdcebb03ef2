package cli

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// logs prints the output of the task's own pod, one its Job controls: a pod that someone labels
// longtask.dev/name=resize is not the task's, and its output is not printed as the task's.
func TestLogsReadsOnlyAPodOfTheTasksJob(t *testing.T) {
	task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Obj()
	task.Status.JobName = "resize"
	job := testutil.MakeJob("resize", "photos").UID("job-uid").OwnedBy(task).Obj()
	forged := testutil.TerminatedPod("forged-pod", "photos", "resize", 0, "Completed", "", now)
	own := testutil.ControlledBy(testutil.TerminatedPod("resize-abcde", "photos", "resize", 0, "Completed", "", now.Add(-time.Minute)), job)

	// The fake API server answers every pod's log with "fake logs": whether any is printed tells.
	stdout, stderr, code, _ := fakeRunWith(t, []client.Object{task}, []runtime.Object{job, forged}, "logs", "resize")
	if code != ExitError || strings.Contains(stdout, "fake logs") || !strings.Contains(stderr, "has no pod") {
		t.Errorf("logs of a task whose only labelled pod is not its Job's: exit %d, stdout %q, stderr %q; want exit %d saying it has no pod",
			code, stdout, stderr, ExitError)
	}
	stdout, stderr, code, _ = fakeRunWith(t, []client.Object{task}, []runtime.Object{job, forged, own}, "logs", "resize")
	if code != ExitOK || stdout != "fake logs" {
		t.Errorf("logs of a task with a pod of its own: exit %d, stdout %q, stderr %q; want its output", code, stdout, stderr)
	}
}

// taskWorld is a fake API server holding the task resize, its Job and pods, whose course a test scripts:
// what each request for a pod's output answers, and what changes as the plugin reads.
type taskWorld struct {
	t     *testing.T
	tasks client.WithWatch
	kube  *kubefake.Clientset
	job   *batchv1.Job

	mu sync.Mutex
	// answers answer the requests for a pod's output in turn; tails records the lines each asked for.
	answers []logAnswer
	tails   []*int64
	// onRead, when set, is called before the plugin's nth read of the task, from 1.
	onRead func(n int)
	reads  int
	// pods counts the pods started, which are created a second apart.
	pods int
	// unexpected counts the requests for output beyond the answers.
	unexpected int
}

// logAnswer is what a request for a pod's output gets: the output or an error. then changes the world as
// the output is read: the next attempt starts, the task finishes.
type logAnswer struct {
	output string
	err    error
	then   func()
}

func newTaskWorld(t *testing.T, phase longtaskv1.Phase) *taskWorld {
	task := testutil.MakeLongTask("resize", "photos").Phase(phase).Obj()
	task.UID = "task-uid"
	w := &taskWorld{t: t, job: testutil.MakeJob("resize", "photos").UID("job-uid").OwnedBy(task).Obj()}
	w.tasks = fake.NewClientBuilder().WithScheme(Scheme()).WithObjects(task).WithStatusSubresource(&longtaskv1.LongTask{}).
		WithInterceptorFuncs(interceptor.Funcs{Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if _, ok := obj.(*longtaskv1.LongTask); ok {
				w.mu.Lock()
				w.reads++
				n, onRead := w.reads, w.onRead
				w.mu.Unlock()
				if onRead != nil {
					onRead(n)
				}
			}
			return c.Get(ctx, key, obj, opts...)
		}}).Build()
	w.kube = kubefake.NewClientset()
	w.kube.PrependReactor("get", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		if action.GetSubresource() != "log" {
			return false, nil, nil
		}
		w.mu.Lock()
		opts := action.(k8stesting.GenericAction).GetValue().(*corev1.PodLogOptions)
		w.tails = append(w.tails, opts.TailLines)
		if len(w.answers) == 0 {
			w.unexpected++
			w.mu.Unlock()
			return true, nil, errors.New("no more output")
		}
		answer := w.answers[0]
		w.answers = w.answers[1:]
		w.mu.Unlock()
		if answer.then != nil {
			answer.then()
		}
		return true, &runtime.Unknown{Raw: []byte(answer.output)}, answer.err
	})
	return w
}

// startJob names the task's Job in its status and puts the Job in the API server.
func (w *taskWorld) startJob() {
	w.setStatus(func(s *longtaskv1.LongTaskStatus) { s.JobName = "resize" })
	if err := w.kube.Tracker().Add(w.job); err != nil {
		w.t.Fatal(err)
	}
}

// startPod puts a pod of the task's Job in the API server, created after the earlier ones.
func (w *taskWorld) startPod(name string) {
	pod := testutil.ControlledBy(testutil.TerminatedPod(name, "photos", "resize", 0, "", "", now), w.job)
	w.mu.Lock()
	w.pods++
	pod.CreationTimestamp = metav1.NewTime(now.Add(time.Duration(w.pods) * time.Second))
	w.mu.Unlock()
	if err := w.kube.Tracker().Add(pod); err != nil {
		w.t.Fatal(err)
	}
}

// setStatus changes the task's status, as the controller would.
func (w *taskWorld) setStatus(change func(*longtaskv1.LongTaskStatus)) {
	ctx := context.Background()
	task := &longtaskv1.LongTask{}
	if err := w.tasks.Get(ctx, client.ObjectKey{Namespace: "photos", Name: "resize"}, task); err != nil {
		w.t.Fatal(err)
	}
	change(&task.Status)
	if err := w.tasks.Status().Update(ctx, task); err != nil {
		w.t.Fatal(err)
	}
}

// finish ends the task in phase, failed with exit code 3 if it failed.
func (w *taskWorld) finish(phase longtaskv1.Phase) {
	w.setStatus(func(s *longtaskv1.LongTaskStatus) {
		s.Phase = phase
		if phase == longtaskv1.PhaseFailed {
			s.Failure = &longtaskv1.Failure{Reason: "TaskFailed", Message: "The task exited with code 3"}
		}
	})
}

// run runs the plugin against the world. A run that would never end fails the test at the deadline,
// rather than hang it.
func (w *taskWorld) run(args ...string) (string, string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stdout, stderr, code := runWith(ctx, &Clients{Tasks: w.tasks, Kube: w.kube}, args...)
	if ctx.Err() != nil {
		w.t.Errorf("%v ran until the test's deadline: stdout %q, stderr %q", args, stdout, stderr)
	}
	if w.unexpected > 0 {
		w.t.Errorf("%v asked for a pod's output %d more times than the test expected", args, w.unexpected)
	}
	return stdout, stderr, code
}

func tail(n int64) *int64 { return &n }

// logs -f follows each attempt's pod as it comes, the first from --tail lines back and the next from
// their start, until the task finished; then it exits with the task's outcome.
func TestLogsFollowsEachAttemptUntilTheTaskFinished(t *testing.T) {
	tests := map[longtaskv1.Phase]struct {
		wantStderr string
		wantCode   int
	}{
		longtaskv1.PhaseSucceeded: {wantStderr: "--- next attempt: pod resize-2 ---\n", wantCode: ExitOK},
		longtaskv1.PhaseFailed: {
			wantStderr: "--- next attempt: pod resize-2 ---\nlongtask/resize Failed: TaskFailed: The task exited with code 3\n",
			wantCode:   ExitTaskFailed,
		},
	}
	for outcome, tc := range tests {
		t.Run(string(outcome), func(t *testing.T) {
			w := newTaskWorld(t, longtaskv1.PhaseRunning)
			w.startJob()
			w.startPod("resize-1")
			w.answers = []logAnswer{
				{output: "attempt 1: 1/2\n", then: func() { w.startPod("resize-2") }},
				{output: "attempt 2: 2/2\n", then: func() { w.finish(outcome) }},
			}
			stdout, stderr, code := w.run("logs", "resize", "-f", "--tail", "5")
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			if diff := cmp.Diff("attempt 1: 1/2\nattempt 2: 2/2\n", stdout); diff != "" {
				t.Errorf("stdout (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStderr, stderr); diff != "" {
				t.Errorf("stderr (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff([]*int64{tail(5), nil}, w.tails); diff != "" {
				t.Errorf("lines asked of each attempt, --tail for the first only (-want,+got):\n%s", diff)
			}
		})
	}
}

// A task that has no pod yet has no output to print; logs -f waits for its pod and follows it.
func TestLogsOfATaskWithNoPodYet(t *testing.T) {
	w := newTaskWorld(t, "")
	stdout, stderr, code := w.run("logs", "resize")
	if code != ExitError || stdout != "" || stderr != "error: longtask \"resize\" has no pod (it is Pending)\n" {
		t.Errorf("logs of a task with no pod: exit %d, stdout %q, stderr %q; want exit %d saying it has no pod and is Pending",
			code, stdout, stderr, ExitError)
	}

	w = newTaskWorld(t, "")
	// The Job and its pod start once the plugin has read the task twice: after logs -f looked once and
	// found no pod.
	w.onRead = func(n int) {
		if n == 3 {
			w.startJob()
			w.startPod("resize-1")
		}
	}
	w.answers = []logAnswer{{output: "started\n", then: func() { w.finish(longtaskv1.PhaseSucceeded) }}}
	stdout, stderr, code = w.run("logs", "resize", "-f")
	if code != ExitOK || stdout != "started\n" || stderr != "" {
		t.Errorf("logs -f of a task with no pod yet: exit %d, stdout %q, stderr %q; want its pod's output once it started, exit 0",
			code, stdout, stderr)
	}
}

// The output of a finished task is its last attempt's, printed once; with -f the plugin then exits with
// the task's outcome. A pod whose output cannot be read (it never started) has none to wait for.
func TestLogsOfAFinishedTask(t *testing.T) {
	tests := map[string]struct {
		args       []string
		answer     logAnswer
		wantStdout string
		// wantStderr is a regular expression.
		wantStderr string
		wantCode   int
	}{
		"its last output": {
			args:       []string{"logs", "resize"},
			answer:     logAnswer{output: "attempt 2: no space left\n"},
			wantStdout: "attempt 2: no space left\n",
			wantStderr: `^$`,
		},
		"followed: its last output, then its outcome": {
			args:       []string{"logs", "resize", "-f"},
			answer:     logAnswer{output: "attempt 2: no space left\n"},
			wantStdout: "attempt 2: no space left\n",
			wantStderr: `^longtask/resize Failed: TaskFailed: The task exited with code 3\n$`,
			wantCode:   ExitTaskFailed,
		},
		"followed, a pod that never started": {
			args:   []string{"logs", "resize", "-f"},
			answer: logAnswer{err: apierrors.NewBadRequest(`container "task" in pod "resize-2" is waiting to start: image can't be pulled`)},
			// The fake API server's error says where it went before what the real one says.
			wantStderr: `^--- the output of pod resize-2 cannot be read: .*container "task" in pod "resize-2" is waiting to start: image can't be pulled ---\n` +
				`longtask/resize Failed: TaskFailed: The task exited with code 3\n$`,
			wantCode: ExitTaskFailed,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w := newTaskWorld(t, longtaskv1.PhaseRunning)
			w.startJob()
			w.startPod("resize-1")
			w.startPod("resize-2")
			w.finish(longtaskv1.PhaseFailed)
			w.answers = []logAnswer{tc.answer}
			stdout, stderr, code := w.run(tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			if diff := cmp.Diff(tc.wantStdout, stdout); diff != "" {
				t.Errorf("stdout (-want,+got):\n%s", diff)
			}
			if !regexp.MustCompile(tc.wantStderr).MatchString(stderr) {
				t.Errorf("stderr %q, want it to match %q", stderr, tc.wantStderr)
			}
		})
	}
}

// A task deleted while logs -f follows it ends the command: it will never finish.
func TestLogsOfATaskDeletedWhileFollowed(t *testing.T) {
	w := newTaskWorld(t, longtaskv1.PhaseRunning)
	w.startJob()
	w.startPod("resize-1")
	w.answers = []logAnswer{{output: "1/2\n", then: func() {
		if err := w.tasks.Delete(context.Background(), testutil.MakeLongTask("resize", "photos").Obj()); err != nil {
			t.Error(err)
		}
	}}}
	stdout, stderr, code := w.run("logs", "resize", "-f")
	if code != ExitTaskFailed || stdout != "1/2\n" || stderr != "error: longtask \"resize\" was deleted before it finished\n" {
		t.Errorf("logs -f of a task deleted meanwhile: exit %d, stdout %q, stderr %q; want its output, then exit %d saying it was deleted",
			code, stdout, stderr, ExitTaskFailed)
	}
}
