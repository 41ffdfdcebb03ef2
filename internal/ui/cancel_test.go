package ui

import (
	"context"
	"net/http"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// A cancel posted for a task that finished meanwhile (from a page opened before it did) leaves the task
// alone, as `kubectl longtask cancel` does: its spec does not claim a cancel that never happened.
func TestCancelLeavesAFinishedTaskAlone(t *testing.T) {
	running := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Obj()
	_, c, ts := newTestServer(t, false, running)
	// The page opened while the task ran; the task finishes before its Cancel is clicked.
	cookie, token := csrfFor(t, ts.URL+"/tasks/photos/resize")
	running.Status.Phase = longtaskv1.PhaseSucceeded
	if err := c.Status().Update(context.Background(), running); err != nil {
		t.Fatal(err)
	}
	if status := submit(t, ts.URL+"/tasks/photos/resize/cancel", cookie, token); status != http.StatusSeeOther {
		t.Errorf("cancelling a finished task answered %d, want %d back to its page", status, http.StatusSeeOther)
	}
	task := &longtaskv1.LongTask{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "photos", Name: "resize"}, task); err != nil {
		t.Fatal(err)
	}
	if task.Spec.Cancel {
		t.Errorf("a task that had succeeded got spec.cancel")
	}
}
