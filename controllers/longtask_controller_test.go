package controllers

import (
	"context"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
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
	apiReader := interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{
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
		Budget:    NewWriteBudget(c, 0),
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
	stored := &longtaskv1.LongTask{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(task), stored); err != nil {
		t.Fatal(err)
	}
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
