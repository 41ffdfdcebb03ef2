package ui

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// The page adds the exit code to a failure's message unless the message already states it, which the
// controller guarantees for a program that exited or ran out of memory.
func TestExitNoteAddsTheCodeOnlyWhereTheMessageLacksIt(t *testing.T) {
	cases := map[string]struct {
		failure longtaskv1.Failure
		want    string
	}{
		"the program exited": {
			failure: longtaskv1.Failure{Reason: "TaskFailed", Message: "The task exited with code 3", ExitCode: ptr.To[int32](3)},
		},
		"out of memory": {
			failure: longtaskv1.Failure{Reason: "OOMKilled", Message: "The task ran out of memory and was killed (exit code 137)", ExitCode: ptr.To[int32](137)},
		},
		"a pod lost with its node: the code is the runtime's": {
			failure: longtaskv1.Failure{Reason: "PodLost", Message: "The task's pod was lost while it ran", ExitCode: ptr.To[int32](255)},
		},
		"command not found": {
			failure: longtaskv1.Failure{Reason: "CommandNotFound", Message: "Command not found: resize", ExitCode: ptr.To[int32](127)},
			want:    " (exit code 127)",
		},
		"the Job's deadline, with a message that happens to mention a code": {
			failure: longtaskv1.Failure{Reason: "DeadlineExceeded", Message: "Job was active longer than the deadline of code 1", ExitCode: ptr.To[int32](1)},
			want:    " (exit code 1)",
		},
		"no exit code": {
			failure: longtaskv1.Failure{Reason: "ProgressDeadlineExceeded", Message: "The task made no progress for 60s"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseFailed).Obj()
			task.Status.Failure = &tc.failure
			if got := newTaskView(task, time.Now()).ExitNote; got != tc.want {
				t.Errorf("exit note %q, want %q", got, tc.want)
			}
		})
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
