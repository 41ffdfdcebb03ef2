package ui

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// The page adds the program's exit code to a failure's message where the message does not state it, as
// the failure's reason says (the controller's test holds the messages it writes to that): not twice, and
// not the code of a pod lost with its node, which is the container runtime's.
func TestExitNoteAddsTheCodeOnlyWhereTheMessageLacksIt(t *testing.T) {
	reasons := append(longtaskv1.FailureReasons(), "ANewJobReason")
	for _, reason := range reasons {
		task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseFailed).Obj()
		task.Status.Failure = &longtaskv1.Failure{Reason: reason, Message: "The task failed", ExitCode: ptr.To[int32](3)}
		want := ""
		if reason != longtaskv1.FailureReasonPodLost && reason != longtaskv1.FailureReasonTaskFailed && reason != longtaskv1.FailureReasonOOMKilled {
			want = " (exit code 3)"
		}
		if got := newTaskView(task, time.Now()).ExitNote; got != want {
			t.Errorf("%s: exit note %q, want %q", reason, got, want)
		}
	}
	task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseFailed).Obj()
	task.Status.Failure = &longtaskv1.Failure{Reason: longtaskv1.FailureReasonProgressDeadlineExceeded, Message: "The task made no progress for 60s"}
	if got := newTaskView(task, time.Now()).ExitNote; got != "" {
		t.Errorf("a failure without an exit code: exit note %q, want none", got)
	}
}

// The page shows the worker's rate and time left as the plugin does: the time left counted down from the
// worker's ETA, not as it was at the worker's last write, which stays as it was while the task reports
// nothing new; and neither once the task finished.
func TestTaskViewCountsTheTimeLeftDown(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	written := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Progress(12, 25, "").Obj()
	// Written 30 s ago, when 2 minutes were left.
	written.Status.Progress.Rate, written.Status.Progress.Remaining = "6/min", "2m0s"
	written.Status.Progress.ETA = &metav1.Time{Time: now.Add(90 * time.Second)}
	finished := written.DeepCopy()
	finished.Status.Phase = longtaskv1.PhaseSucceeded

	for _, tc := range []struct {
		task                    *longtaskv1.LongTask
		wantRate, wantRemaining string
	}{
		{task: written, wantRate: "6/min", wantRemaining: "1m30s"},
		{task: finished},
	} {
		v := newTaskView(tc.task, now)
		if v.Rate != tc.wantRate || v.Remaining != tc.wantRemaining {
			t.Errorf("%s task: rate %q, time left %q; want %q, %q", tc.task.Status.Phase, v.Rate, v.Remaining, tc.wantRate, tc.wantRemaining)
		}
	}
}
