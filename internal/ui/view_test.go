package ui

import (
	"testing"
	"time"

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
