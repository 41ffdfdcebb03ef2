package integration

import (
	"context"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/controllers"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

// TestAPassOnAStaleCacheWritesAPhaseChangeOnce: the manager's cache lags the API server, so a reconcile
// can read a task as it was before the manager's last status write, and decide the same phase change
// again. The API server refuses that second write, and the pass records no second Event.
func TestAPassOnAStaleCacheWritesAPhaseChangeOnce(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Obj()
	job, start := fw.StartTask(t, task)
	stale := fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseRunning))
	}).DeepCopy()
	fw.SetJobStatus(t, testutil.FromJob(job).Started(start).Succeeded(time.Now()).Obj())
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseSucceeded))
	})

	// A reconciler with the manager's permissions, whose cache has not seen the task succeed.
	c, err := client.NewWithWatch(fw.ManagerConfig, client.Options{Scheme: fw.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	statusWrites := 0
	lagging := interceptor.NewClient(c, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if cached, ok := obj.(*longtaskv1.LongTask); ok && key == client.ObjectKeyFromObject(stale) {
				*cached = *stale.DeepCopy()
				return nil
			}
			return c.Get(ctx, key, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
			err := c.SubResource(sub).Patch(ctx, obj, patch, opts...)
			if err == nil {
				statusWrites++
			}
			return err
		},
	})
	recorder := events.NewFakeRecorder(10)
	r := &controllers.LongTaskReconciler{
		Client: lagging, APIReader: c, Recorder: recorder, Clock: clock.RealClock{},
		Options: controllers.JobOptions{WorkerImage: framework.WorkerImage}, Budget: controllers.NewWriteBudget(c, 0, clock.RealClock{}),
	}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(task)}); err != nil {
		t.Fatalf("reconciling the task on the stale cache: %v", err)
	}

	if statusWrites > 0 {
		t.Errorf("the API server took %d status writes from the pass on the stale cache, want none", statusWrites)
	}
	select {
	case event := <-recorder.Events:
		t.Errorf("the pass on the stale cache recorded %q, which the manager recorded already", event)
	default:
	}
}
