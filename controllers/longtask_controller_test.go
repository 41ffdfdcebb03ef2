package controllers

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// apiCalls counts the requests a reconcile makes, by kind: writes through the client, and reads that go
// to the API server (the APIReader) rather than the cache.
type apiCalls struct {
	mu     sync.Mutex
	writes []string
	reads  int
}

func (c *apiCalls) write(what string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, what)
}

func (c *apiCalls) read() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads++
}

func (c *apiCalls) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes, c.reads = nil, 0
}

// newTestReconciler returns a reconciler on a fake client holding objs, and the counter of its API calls.
func newTestReconciler(t *testing.T, now time.Time, objs ...client.Object) (*LongTaskReconciler, client.Client, *apiCalls) {
	t.Helper()
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, longtaskv1.AddToScheme} {
		if err := add(scheme); err != nil {
			t.Fatal(err)
		}
	}
	calls := &apiCalls{}
	kind := func(obj client.Object) string {
		gvk, _ := apiutil.GVKForObject(obj, scheme)
		return gvk.Kind
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&longtaskv1.LongTask{}, &batchv1.Job{}).
		WithIndex(&longtaskv1.LongTask{}, waitingForTemplateIndex, waitingForTemplate).
		WithInterceptorFuncs(interceptor.Funcs{
			Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
				calls.write("create " + kind(obj))
				return c.Create(ctx, obj, opts...)
			},
			Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
				calls.write("patch " + kind(obj))
				return c.Patch(ctx, obj, patch, opts...)
			},
			Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
				calls.write("update " + kind(obj))
				return c.Update(ctx, obj, opts...)
			},
			Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
				calls.write("delete " + kind(obj))
				return c.Delete(ctx, obj, opts...)
			},
			SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
				calls.write("patch " + kind(obj) + "/" + sub)
				return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			},
		}).Build()
	apiReader := interceptor.NewClient(c, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			calls.read()
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			calls.read()
			return c.List(ctx, list, opts...)
		},
	})
	r := &LongTaskReconciler{
		Client:    c,
		APIReader: apiReader,
		Recorder:  events.NewFakeRecorder(100),
		Clock:     clocktesting.NewFakePassiveClock(now),
		Options:   JobOptions{WorkerImage: "worker"},
		Budget:    NewWriteBudget(c, 0, clocktesting.NewFakePassiveClock(now)),
	}
	return r, c, calls
}

func reconcileTask(t *testing.T, r *LongTaskReconciler, task *longtaskv1.LongTask) ctrl.Result {
	t.Helper()
	result, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: task.Namespace, Name: task.Name}})
	if err != nil {
		t.Fatalf("Reconcile: %v", err)
	}
	return result
}

// TestReconcileStartsATaskWithItsAccessAndJob checks what a new task costs the API server: its worker's
// ServiceAccount, Role and RoleBinding, its Job, and one status write.
func TestReconcileStartsATaskWithItsAccessAndJob(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	task := testutil.MakeLongTask("resize", "photos").Command("resize").Obj()
	r, c, calls := newTestReconciler(t, now, task)

	reconcileTask(t, r, task)

	want := map[string]int{"create ServiceAccount": 1, "create Role": 1, "create RoleBinding": 1, "create Job": 1, "patch LongTask/status": 1}
	got := map[string]int{}
	for _, w := range calls.writes {
		got[w]++
	}
	if len(got) != len(want) {
		t.Errorf("writes %v, want %v", calls.writes, want)
	}
	for w, n := range want {
		if got[w] != n {
			t.Errorf("%q %d times, want %d (all writes: %v)", w, got[w], n, calls.writes)
		}
	}
	for _, obj := range []client.Object{&corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}} {
		if err := c.Get(context.Background(), client.ObjectKey{Namespace: "photos", Name: "longtask-worker-resize"}, obj); err != nil {
			t.Errorf("the worker's %T: %v", obj, err)
		}
	}
	stored := storedTask(t, c, task)
	if stored.Status.Phase != longtaskv1.PhasePending || stored.Status.JobName != "resize" {
		t.Errorf("status is %s with Job %q, want Pending with Job resize", stored.Status.Phase, stored.Status.JobName)
	}
}

// TestReconcileOfAnUnchangedTaskMakesNoAPICall: once status reflects the world, reconciling again (a
// resync, a restart of the manager, an unrelated event) writes nothing and reads nothing past the cache.
func TestReconcileOfAnUnchangedTaskMakesNoAPICall(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	cases := map[string]func(job *batchv1.Job) *batchv1.Job{
		"pending":   func(job *batchv1.Job) *batchv1.Job { return job },
		"running":   func(job *batchv1.Job) *batchv1.Job { return testutil.FromJob(job).Started(now).Ready().Obj() },
		"succeeded": func(job *batchv1.Job) *batchv1.Job { return testutil.FromJob(job).Succeeded(now).Obj() },
		"failed": func(job *batchv1.Job) *batchv1.Job {
			return testutil.FromJob(job).Failed(now, "BackoffLimitExceeded", "Job has reached the specified backoff limit", 1).Obj()
		},
	}
	for name, jobState := range cases {
		t.Run(name, func(t *testing.T) {
			task := testutil.MakeLongTask("resize", "photos").Command("resize").Obj()
			r, c, calls := newTestReconciler(t, now, task, testutil.TerminatedPod("resize-a", "photos", "resize", 1, "Error", "", now))
			reconcileTask(t, r, task)
			// The Job controller moves the Job on; the controller follows it once.
			job := &batchv1.Job{}
			if err := c.Get(context.Background(), client.ObjectKey{Namespace: "photos", Name: "resize"}, job); err != nil {
				t.Fatal(err)
			}
			if err := c.Status().Update(context.Background(), jobState(job)); err != nil {
				t.Fatal(err)
			}
			reconcileTask(t, r, task)
			calls.reset()

			reconcileTask(t, r, task)
			if len(calls.writes) > 0 || calls.reads > 0 {
				t.Errorf("an unchanged task cost %d reads from the API server and writes %v, want none", calls.reads, calls.writes)
			}
		})
	}
}

// The cache keeps of a Job what the controller reads after creating it, and no object's managedFields.
func TestCacheKeepsWhatTheControllerReads(t *testing.T) {
	opts := CacheOptions()
	job := constructJob(testutil.MakeLongTask("cached", "default").Obj(), JobOptions{WorkerImage: "worker:test"})
	job.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: longtaskv1.ControllerFieldOwner}}
	job.Spec.Suspend = ptr.To(true)
	job.Status.Active = 1
	var jobTransform func(any) (any, error)
	for obj, byObject := range opts.ByObject {
		if _, ok := obj.(*batchv1.Job); ok {
			jobTransform = byObject.Transform
		}
	}
	if jobTransform == nil {
		t.Fatal("no transform for Jobs")
	}
	out, err := jobTransform(job)
	if err != nil {
		t.Fatal(err)
	}
	cached := out.(*batchv1.Job)
	if len(cached.Spec.Template.Spec.Containers) != 0 || cached.ManagedFields != nil {
		t.Errorf("the cached Job keeps its pod template or managedFields: %+v", cached)
	}
	if !ptr.Deref(cached.Spec.Suspend, false) || cached.Status.Active != 1 || cached.Labels[longtaskv1.LabelTaskName] != "cached" {
		t.Errorf("the cached Job lost what the controller reads: suspend %v, active %d, labels %v", cached.Spec.Suspend, cached.Status.Active, cached.Labels)
	}

	task := testutil.MakeLongTask("cached", "default").Obj()
	task.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: longtaskv1.WorkerFieldOwner}}
	out, err = opts.DefaultTransform(task)
	if err != nil {
		t.Fatal(err)
	}
	if cachedTask := out.(*longtaskv1.LongTask); cachedTask.ManagedFields != nil || len(cachedTask.Spec.Command) == 0 {
		t.Errorf("the cached LongTask keeps managedFields or lost its spec: %+v", cachedTask)
	}
}

// TestReconcile runs Reconcile over a task in a fake cluster, twice, and checks what a user would see: the
// task's status, its Job, the Events (each once, though the task was looked at twice) and when the task is
// looked at again. The clock moves between the passes by clockStep.
func TestReconcile(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	task := func() *testutil.LongTaskWrapper { return testutil.MakeLongTask("resize", "photos").Command("resize") }
	ownJob := func(task *testutil.LongTaskWrapper) *testutil.JobWrapper {
		return testutil.FromJob(constructJob(task.Obj(), JobOptions{WorkerImage: "worker"})).OwnedBy(task.Obj())
	}
	// someoneElsesJob has the task's Job name but is not the task's.
	someoneElsesJob := func() client.Object { return testutil.MakeJob("resize", "photos").Obj() }
	const conflictMessage = "Job resize already exists and does not belong to this LongTask: delete it or give the task another name"
	const stalledMessage = "The task made no progress for 60s (progressDeadlineSeconds)"

	cases := map[string]struct {
		task *longtaskv1.LongTask
		// objs are in the cluster besides the task.
		objs      []client.Object
		clockStep time.Duration
		// wantResults are the results of the two passes.
		wantResults [2]ctrl.Result
		// wantDeleted says the task must be gone; then its status is not checked.
		wantDeleted bool
		wantPhase   longtaskv1.Phase
		// wantRunning is the Running condition, without its time; nil when there must be none.
		wantRunning *metav1.Condition
		wantJob     jobWant
		wantEvents  []string
	}{
		"a new task gets its Job": {
			task:        task().Obj(),
			wantPhase:   longtaskv1.PhasePending,
			wantRunning: &metav1.Condition{Status: metav1.ConditionFalse, Reason: ReasonPodPending, Message: "Waiting for the task's pod to start"},
			wantJob:     jobRunning,
			wantEvents:  []string{"Normal JobCreated Created Job resize"},
		},
		"another Job holds the task's Job name": {
			task:        task().Obj(),
			objs:        []client.Object{someoneElsesJob()},
			wantResults: [2]ctrl.Result{{RequeueAfter: conflictRetry}, {RequeueAfter: conflictRetry}},
			wantPhase:   longtaskv1.PhasePending,
			wantRunning: &metav1.Condition{Status: metav1.ConditionFalse, Reason: ReasonJobConflict, Message: conflictMessage},
			wantJob:     jobSomeoneElses,
			wantEvents:  []string{"Warning JobConflict " + conflictMessage},
		},
		"a finished task stays finished when another Job takes its Job's name": {
			task:      task().FinishedAt(longtaskv1.PhaseSucceeded, now.Add(-time.Minute)).Obj(),
			objs:      []client.Object{someoneElsesJob()},
			wantPhase: longtaskv1.PhaseSucceeded,
			wantJob:   jobSomeoneElses,
		},
		"a task cancelled while another Job holds its Job name": {
			task:        task().Cancel().Obj(),
			objs:        []client.Object{someoneElsesJob()},
			wantPhase:   longtaskv1.PhaseCancelled,
			wantRunning: &metav1.Condition{Status: metav1.ConditionFalse, Reason: ReasonCancelled, Message: "The task was cancelled before it started"},
			wantJob:     jobSomeoneElses,
			wantEvents:  []string{"Normal Cancelled The task was cancelled"},
		},
		"cancel suspends the running Job": {
			task:        task().RunningSince(now.Add(-time.Minute)).Cancel().Obj(),
			objs:        []client.Object{ownJob(task()).Started(now.Add(-time.Minute)).Ready().Obj()},
			wantPhase:   longtaskv1.PhaseRunning,
			wantRunning: &metav1.Condition{Status: metav1.ConditionTrue, Reason: ReasonCancelling, Message: "The task is being cancelled: its pod is stopping"},
			wantJob:     jobSuspended,
			wantEvents:  []string{"Normal Cancelling Stopping the task's pod"},
		},
		"a cancelled task is Cancelled once its pod is gone": {
			task:        task().RunningSince(now.Add(-time.Minute)).Cancel().Obj(),
			objs:        []client.Object{ownJob(task()).Suspend().Started(now.Add(-time.Minute)).Stopped().Obj()},
			wantPhase:   longtaskv1.PhaseCancelled,
			wantRunning: &metav1.Condition{Status: metav1.ConditionFalse, Reason: ReasonCancelled, Message: "The task was cancelled"},
			wantJob:     jobSuspended,
			wantEvents:  []string{"Normal Cancelled The task was cancelled"},
		},
		"a task that reports nothing fails at its progress deadline, and its Job is stopped": {
			task:        task().ProgressDeadline(60).RunningSince(now.Add(-59 * time.Second)).Obj(),
			objs:        []client.Object{ownJob(task()).Started(now.Add(-59 * time.Second)).Ready().Obj()},
			clockStep:   time.Second,
			wantResults: [2]ctrl.Result{{RequeueAfter: time.Second}, {}},
			wantPhase:   longtaskv1.PhaseFailed,
			wantRunning: &metav1.Condition{Status: metav1.ConditionFalse, Reason: string(longtaskv1.FailureReasonProgressDeadlineExceeded), Message: stalledMessage},
			wantJob:     jobSuspended,
			wantEvents:  []string{"Warning ProgressDeadlineExceeded " + stalledMessage},
		},
		"a finished task past its TTL is deleted": {
			task:        task().TTL(60).FinishedAt(longtaskv1.PhaseSucceeded, now.Add(-2*time.Minute)).Obj(),
			wantDeleted: true,
			wantEvents:  []string{"Normal Expired Deleted 60 seconds after it finished (ttlSecondsAfterFinished)"},
		},
		"a finished task is looked at again when its TTL runs out, and deleted then": {
			task:        task().TTL(60).FinishedAt(longtaskv1.PhaseSucceeded, now.Add(-20*time.Second)).Obj(),
			clockStep:   40 * time.Second,
			wantResults: [2]ctrl.Result{{RequeueAfter: 40 * time.Second}, {}},
			wantDeleted: true,
			wantEvents:  []string{"Normal Expired Deleted 60 seconds after it finished (ttlSecondsAfterFinished)"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r, c, _ := newTestReconciler(t, now, append(tc.objs, tc.task)...)
			var results [2]ctrl.Result
			results[0] = reconcileTask(t, r, tc.task)
			r.Clock.(*clocktesting.FakePassiveClock).SetTime(now.Add(tc.clockStep))
			results[1] = reconcileTask(t, r, tc.task)
			if results != tc.wantResults {
				t.Errorf("results %+v, want %+v", results, tc.wantResults)
			}
			if diff := cmp.Diff(tc.wantEvents, recordedEvents(r), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Events (-want,+got):\n%s", diff)
			}

			got := &longtaskv1.LongTask{}
			err := c.Get(context.Background(), client.ObjectKeyFromObject(tc.task), got)
			if tc.wantDeleted {
				if !apierrors.IsNotFound(err) {
					t.Errorf("getting the task: %v, want NotFound", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Status.Phase != tc.wantPhase {
				t.Errorf("phase %s, want %s", got.Status.Phase, tc.wantPhase)
			}
			running := meta.FindStatusCondition(got.Status.Conditions, longtaskv1.ConditionRunning)
			if tc.wantRunning != nil {
				tc.wantRunning.Type = longtaskv1.ConditionRunning
			}
			if diff := cmp.Diff(tc.wantRunning, running, cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime", "ObservedGeneration")); diff != "" {
				t.Errorf("Running condition (-want,+got):\n%s", diff)
			}
			if got := jobOf(t, c, tc.task); got != tc.wantJob {
				t.Errorf("the Job is %s, want %s", got, tc.wantJob)
			}
		})
	}
}

// jobWant is the state of the Job with the task's name.
type jobWant string

const (
	jobNone         jobWant = "absent"
	jobRunning      jobWant = "the task's, not suspended"
	jobSuspended    jobWant = "the task's, suspended"
	jobSomeoneElses jobWant = "someone else's, untouched"
)

func jobOf(t *testing.T, c client.Client, task *longtaskv1.LongTask) jobWant {
	t.Helper()
	job := &batchv1.Job{}
	err := c.Get(context.Background(), client.ObjectKeyFromObject(task), job)
	switch {
	case apierrors.IsNotFound(err):
		return jobNone
	case err != nil:
		t.Fatalf("getting the Job: %v", err)
	case !metav1.IsControlledBy(job, task):
		if job.Spec.Suspend != nil || len(job.OwnerReferences) > 0 {
			return "someone else's, changed"
		}
		return jobSomeoneElses
	case ptr.Deref(job.Spec.Suspend, false):
		return jobSuspended
	}
	return jobRunning
}

// TestFailureIsReadFromThePodsTheJobControls: anyone who may create pods can label one
// longtask.dev/name=<task>, newer than the task's own and with a termination message of their choosing.
// Only the pods the task's Job controls say how the task ended.
func TestFailureIsReadFromThePodsTheJobControls(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	task := testutil.MakeLongTask("resize", "photos").Command("resize").Obj()
	job := testutil.FromJob(constructJob(task, JobOptions{WorkerImage: "worker"})).OwnedBy(task).UID("job-uid").
		Started(now.Add(-time.Hour)).Failed(now, "BackoffLimitExceeded", "Job has reached the specified backoff limit", 1).Obj()
	// An earlier Job with the task's name, deleted, may have left pods with the same label.
	earlierJob := testutil.FromJob(job).UID("earlier-job-uid").Obj()
	own := func() *corev1.Pod {
		return testutil.ControlledBy(testutil.TerminatedPod("resize-a", "photos", "resize", 3, "Error", "disk full: /data", now.Add(-time.Minute)), job)
	}
	forged := func() *corev1.Pod {
		return testutil.TerminatedPod("resize-forged", "photos", "resize", 1, "Error",
			`{"reason":"Forged","message":"forged by a pod that only has the label","output":"AKIA-not-the-task"}`, now)
	}
	taskFailed := &longtaskv1.Failure{Reason: longtaskv1.FailureReasonTaskFailed, Message: "The task exited with code 3", ExitCode: ptr.To[int32](3), Output: "disk full: /data"}
	podLost := &longtaskv1.Failure{Reason: longtaskv1.FailureReasonPodLost, Message: "The task's pod was lost before it said how the task ended: its node stopped or restarted, or the pod was deleted"}

	for name, tc := range map[string]struct {
		pods []*corev1.Pod
		want *longtaskv1.Failure
	}{
		"the Job's own pod":                                {pods: []*corev1.Pod{own()}, want: taskFailed},
		"a newer pod with only the task's label":           {pods: []*corev1.Pod{own(), forged()}, want: taskFailed},
		"a newer pod of an earlier Job with the same name": {pods: []*corev1.Pod{own(), testutil.ControlledBy(forged(), earlierJob)}, want: taskFailed},
		"only a pod with the task's label":                 {pods: []*corev1.Pod{forged()}, want: podLost},
	} {
		t.Run(name, func(t *testing.T) {
			objs := []client.Object{task.DeepCopy(), job.DeepCopy()}
			for _, pod := range tc.pods {
				objs = append(objs, pod)
			}
			r, c, _ := newTestReconciler(t, now, objs...)
			reconcileTask(t, r, task)

			got := storedTask(t, c, task)
			if got.Status.Phase != longtaskv1.PhaseFailed {
				t.Errorf("phase %s, want Failed", got.Status.Phase)
			}
			if diff := cmp.Diff(tc.want, got.Status.Failure); diff != "" {
				t.Errorf("failure (-want,+got):\n%s", diff)
			}
		})
	}
}

// laggingCache is a client whose reads of the kinds it lags return each object as the first read found
// it: a cache that has not yet seen what was written since.
func laggingCache(c client.WithWatch, lagging ...client.Object) client.WithWatch {
	lags := func(obj client.Object) bool {
		return slices.ContainsFunc(lagging, func(kind client.Object) bool { return reflect.TypeOf(kind) == reflect.TypeOf(obj) })
	}
	firstRead := map[string]client.Object{}
	return interceptor.NewClient(c, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			id := fmt.Sprintf("%T %s", obj, key)
			if read, ok := firstRead[id]; ok && lags(obj) {
				reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(read.DeepCopyObject()).Elem())
				return nil
			}
			if err := c.Get(ctx, key, obj, opts...); err != nil {
				return err
			}
			firstRead[id] = obj.DeepCopyObject().(client.Object)
			return nil
		},
	})
}

// TestReconcileOnAStaleCache reconciles a task twice, the second time on a cache that has not seen the
// first pass's writes (the manager's cache lags the API server): the second pass, which decides the same
// again, writes nothing and records no Event a second time.
func TestReconcileOnAStaleCache(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	task := func() *testutil.LongTaskWrapper {
		return testutil.MakeLongTask("resize", "photos").Command("resize").RunningSince(now.Add(-time.Minute))
	}
	ownJob := func() *testutil.JobWrapper {
		return testutil.FromJob(constructJob(task().Obj(), JobOptions{WorkerImage: "worker"})).OwnedBy(task().Obj()).Started(now.Add(-time.Minute))
	}
	cases := map[string]struct {
		cancel bool
		job    *batchv1.Job
		// taskIsFresh says the task's watch event came, and only the Job is stale.
		taskIsFresh bool
		wantPhase   longtaskv1.Phase
		wantEvent   string
	}{
		"the Job succeeded": {
			job: ownJob().Succeeded(now).Obj(), wantPhase: longtaskv1.PhaseSucceeded, wantEvent: "Normal Completed The task completed",
		},
		"the Job failed": {
			job:       ownJob().Failed(now, "DeadlineExceeded", "Job was active longer than specified deadline", 1).Obj(),
			wantPhase: longtaskv1.PhaseFailed, wantEvent: "Warning DeadlineExceeded Job was active longer than specified deadline",
		},
		"the task was cancelled": {
			cancel: true, job: ownJob().Ready().Obj(), wantPhase: longtaskv1.PhaseRunning, wantEvent: "Normal Cancelling Stopping the task's pod",
		},
		"the task was cancelled, and only the Job is stale": {
			cancel: true, job: ownJob().Ready().Obj(), taskIsFresh: true,
			wantPhase: longtaskv1.PhaseRunning, wantEvent: "Normal Cancelling Stopping the task's pod",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			task := task()
			if tc.cancel {
				task.Cancel()
			}
			r, c, calls := newTestReconciler(t, now, task.Obj(), tc.job)
			lagging := []client.Object{&longtaskv1.LongTask{}, &batchv1.Job{}}
			if tc.taskIsFresh {
				lagging = lagging[1:]
			}
			r.Client = laggingCache(r.Client.(client.WithWatch), lagging...)
			reconcileTask(t, r, task.Obj())
			written := storedTask(t, c, task.Obj())
			if written.Status.Phase != tc.wantPhase {
				t.Fatalf("after the first pass the task is %s, want %s", written.Status.Phase, tc.wantPhase)
			}
			calls.reset()

			reconcileTask(t, r, task.Obj())

			if diff := cmp.Diff([]string{tc.wantEvent}, recordedEvents(r)); diff != "" {
				t.Errorf("Events of both passes (-want,+got):\n%s", diff)
			}
			if got := storedTask(t, c, task.Obj()); got.ResourceVersion != written.ResourceVersion {
				t.Errorf("the pass on the stale cache wrote the task again (writes %v)", calls.writes)
			}
		})
	}
}

// A pass on a stale cache, which still has the task the last pass deleted after its TTL, records no
// second Expired Event.
func TestExpiredTaskOnAStaleCache(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	task := testutil.MakeLongTask("resize", "photos").TTL(60).FinishedAt(longtaskv1.PhaseSucceeded, now.Add(-2*time.Minute)).Obj()
	r, _, _ := newTestReconciler(t, now, task)
	r.Client = laggingCache(r.Client.(client.WithWatch), &longtaskv1.LongTask{})

	reconcileTask(t, r, task)
	reconcileTask(t, r, task)

	want := []string{"Normal Expired Deleted 60 seconds after it finished (ttlSecondsAfterFinished)"}
	if diff := cmp.Diff(want, recordedEvents(r)); diff != "" {
		t.Errorf("Events of both passes (-want,+got):\n%s", diff)
	}
}

// storedTask is the task as the fake API server has it.
func storedTask(t *testing.T, c client.Client, task *longtaskv1.LongTask) *longtaskv1.LongTask {
	t.Helper()
	stored := &longtaskv1.LongTask{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(task), stored); err != nil {
		t.Fatal(err)
	}
	return stored
}
