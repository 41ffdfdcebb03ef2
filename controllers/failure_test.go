package controllers

import (
	"encoding/json"
	"fmt"
	"regexp"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// The readers of status.failure (the UI) add the exit code to a failure's message unless its reason says
// the message states it (longtaskv1.FailureReason.MessageStatesExitCode): every failure the controller
// writes must be as its reason says, or the page shows the code twice, or not at all. And every reason it
// writes is a known one, which the metrics count by name.
func TestFailureMessagesStateTheExitCodeAsTheirReasonSays(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	failedJob := testutil.MakeJob("resize", "photos").Failed(now, batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit", 1).Obj()
	pod := func(exitCode int32, reason, message string) []corev1.Pod {
		return []corev1.Pod{*testutil.TerminatedPod("resize-a", "photos", "resize", exitCode, reason, message, now)}
	}
	type ending struct {
		job  *batchv1.Job
		pods []corev1.Pod
	}
	endings := map[string]ending{
		"an exit the kubelet saw, no termination message": {failedJob, pod(3, "Error", "disk full")},
		"killed for memory, as the kubelet saw":           {failedJob, pod(137, "OOMKilled", "")},
		"a pod lost with its node":                        {failedJob, pod(255, "Unknown", "")},
		"a pod lost before it ended":                      {failedJob, nil},
		"the Job's deadline": {
			testutil.MakeJob("resize", "photos").Failed(now, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", 1).Obj(),
			pod(143, "Error", ""),
		},
	}
	for _, reason := range longtaskv1.FailureReasons() {
		if reason.WrittenByWorker() {
			message, err := json.Marshal(longtaskv1.TerminationMessage{Reason: reason, Message: "the worker's words", Output: "last line"})
			if err != nil {
				t.Fatal(err)
			}
			endings["the worker says "+string(reason)] = ending{failedJob, pod(126, "Error", string(message))}
		}
	}
	for name, e := range endings {
		for _, attempts := range []int32{1, 3} {
			t.Run(fmt.Sprintf("%s, attempt %d", name, attempts), func(t *testing.T) {
				f := failure(e.job, e.pods, attempts)
				if !f.Reason.Known() {
					t.Errorf("reason %q is not one of longtaskv1.FailureReasons", f.Reason)
				}
				if f.ExitCode == nil {
					return
				}
				states := regexp.MustCompile(fmt.Sprintf(`\bcode %d\b`, *f.ExitCode)).MatchString(f.Message)
				if states != f.Reason.MessageStatesExitCode() {
					t.Errorf("%s failure with exit code %d: message %q; states the code: %v, but its reason says %v",
						f.Reason, *f.ExitCode, f.Message, states, f.Reason.MessageStatesExitCode())
				}
			})
		}
	}
}
