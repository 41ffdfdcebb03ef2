package controllers

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

func TestComputeStatus(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	started := now.Add(-time.Minute)
	job := func() *testutil.JobWrapper { return testutil.MakeJob("resize", "photos") }
	cond := func(t string, status metav1.ConditionStatus, reason string) metav1.Condition {
		return metav1.Condition{Type: t, Status: status, Reason: reason}
	}
	at := func(t time.Time) *metav1.Time { return &metav1.Time{Time: t} }

	cases := map[string]struct {
		task *longtaskv1.LongTask
		job  *batchv1.Job
		pods []corev1.Pod
		want longtaskv1.LongTaskStatus
	}{
		"no Job yet": {
			task: testutil.MakeLongTask("resize", "photos").Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:      longtaskv1.PhasePending,
				Conditions: []metav1.Condition{cond("Running", "False", ReasonJobPending)},
			},
		},
		"Job created, pod not started": {
			task: testutil.MakeLongTask("resize", "photos").Obj(),
			job:  job().Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:      longtaskv1.PhasePending,
				JobName:    "resize",
				Conditions: []metav1.Condition{cond("Running", "False", ReasonPodPending)},
			},
		},
		"Job suspended by a queue": {
			task: testutil.MakeLongTask("resize", "photos").Obj(),
			job:  job().Suspend().Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:      longtaskv1.PhasePending,
				JobName:    "resize",
				Conditions: []metav1.Condition{cond("Running", "False", ReasonJobSuspended)},
			},
		},
		"pod ready": {
			task: testutil.MakeLongTask("resize", "photos").Obj(),
			job:  job().Started(started).Ready().Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:      longtaskv1.PhaseRunning,
				JobName:    "resize",
				Attempts:   1,
				StartTime:  at(started),
				Conditions: []metav1.Condition{cond("Running", "True", ReasonRunning)},
			},
		},
		"progress reported before the pod shows ready": {
			task: testutil.MakeLongTask("resize", "photos").Progress(3, 25, "Resized cat.jpg").Obj(),
			job:  job().Started(started).Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:      longtaskv1.PhaseRunning,
				JobName:    "resize",
				Attempts:   1,
				StartTime:  at(started),
				Progress:   &longtaskv1.Progress{Current: 3, Total: 25, Percent: 12, Summary: "3/25 (12%)", Message: "Resized cat.jpg"},
				Conditions: []metav1.Condition{cond("Running", "True", ReasonRunning)},
			},
		},
		"succeeded fills the progress bar and keeps the result": {
			task: func() *longtaskv1.LongTask {
				task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Progress(24, 25, "Resized dog.jpg").Obj()
				task.Status.Result = `{"thumbnails": 25}`
				return task
			}(),
			job: job().Started(started).Succeeded(now).Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseSucceeded,
				JobName:        "resize",
				Attempts:       1,
				StartTime:      at(started),
				CompletionTime: at(now),
				Result:         `{"thumbnails": 25}`,
				Progress:       &longtaskv1.Progress{Current: 25, Total: 25, Percent: 100, Summary: "25/25 (100%)", Message: "Resized dog.jpg", UpdateTime: at(now)},
				Conditions: []metav1.Condition{
					cond("Running", "False", ReasonCompleted),
					cond("Succeeded", "True", ReasonCompleted),
				},
			},
		},
		"succeeded without a total": {
			task: testutil.MakeLongTask("resize", "photos").Progress(7, 0, "").Obj(),
			job:  job().Started(started).Succeeded(now).Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseSucceeded,
				JobName:        "resize",
				Attempts:       1,
				StartTime:      at(started),
				CompletionTime: at(now),
				Progress:       &longtaskv1.Progress{Current: 7, Total: 7, Percent: 100, Summary: "7/7 (100%)", UpdateTime: at(now)},
				Conditions: []metav1.Condition{
					cond("Running", "False", ReasonCompleted),
					cond("Succeeded", "True", ReasonCompleted),
				},
			},
		},
		"failed with the exit code and output of the last attempt": {
			task: testutil.MakeLongTask("resize", "photos").Retries(1).Progress(3, 25, "").Obj(),
			job:  job().Started(started).Failed(now, "BackoffLimitExceeded", "Job has reached the specified backoff limit", 2).Obj(),
			pods: []corev1.Pod{
				*testutil.TerminatedPod("resize-b", "photos", "resize", 3, "Error",
					`{"reason":"TaskFailed","message":"the program exited with code 3","output":"copying\nno space left\n"}`, now.Add(-time.Second)),
				*testutil.TerminatedPod("resize-a", "photos", "resize", 1, "Error", "first attempt", now.Add(-time.Minute)),
			},
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseFailed,
				JobName:        "resize",
				Attempts:       2,
				StartTime:      at(started),
				CompletionTime: at(now),
				Progress:       &longtaskv1.Progress{Current: 3, Total: 25, Percent: 12, Summary: "3/25 (12%)"},
				Failure: &longtaskv1.Failure{
					Reason: ReasonTaskFailed, Message: "The task exited with code 3 in its last attempt of 2",
					ExitCode: ptr.To[int32](3), Output: "copying\nno space left",
				},
				Conditions: []metav1.Condition{
					cond("Running", "False", ReasonTaskFailed),
					cond("Failed", "True", ReasonTaskFailed),
				},
			},
		},
		"deadline exceeded keeps the Job's reason": {
			task: testutil.MakeLongTask("resize", "photos").Timeout(60).Obj(),
			job:  job().Started(started).Failed(now, "DeadlineExceeded", "Job was active longer than specified deadline", 1).Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseFailed,
				JobName:        "resize",
				Attempts:       1,
				StartTime:      at(started),
				CompletionTime: at(now),
				Failure:        &longtaskv1.Failure{Reason: "DeadlineExceeded", Message: "Job was active longer than specified deadline"},
				Conditions: []metav1.Condition{
					cond("Running", "False", "DeadlineExceeded"),
					cond("Failed", "True", "DeadlineExceeded"),
				},
			},
		},
		"command not found, as the worker said": {
			task: testutil.MakeLongTask("resize", "photos").Obj(),
			job:  job().Started(started).Failed(now, "BackoffLimitExceeded", "Job has reached the specified backoff limit", 1).Obj(),
			pods: []corev1.Pod{*testutil.TerminatedPod("resize-a", "photos", "resize", 127, "Error",
				`{"reason":"CommandNotFound","message":"command not found: resize"}`, now)},
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseFailed,
				JobName:        "resize",
				Attempts:       1,
				StartTime:      at(started),
				CompletionTime: at(now),
				Failure:        &longtaskv1.Failure{Reason: "CommandNotFound", Message: "Command not found: resize", ExitCode: ptr.To[int32](127)},
				Conditions: []metav1.Condition{
					cond("Running", "False", "CommandNotFound"),
					cond("Failed", "True", "CommandNotFound"),
				},
			},
		},
		"killed for memory": {
			task: testutil.MakeLongTask("resize", "photos").Obj(),
			job:  job().Started(started).Failed(now, "BackoffLimitExceeded", "Job has reached the specified backoff limit", 1).Obj(),
			pods: []corev1.Pod{*testutil.TerminatedPod("resize-a", "photos", "resize", 137, "OOMKilled", "", now)},
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseFailed,
				JobName:        "resize",
				Attempts:       1,
				StartTime:      at(started),
				CompletionTime: at(now),
				Failure: &longtaskv1.Failure{
					Reason: ReasonOOMKilled, Message: "The task ran out of memory and was killed (exit code 137)", ExitCode: ptr.To[int32](137),
				},
				Conditions: []metav1.Condition{
					cond("Running", "False", ReasonOOMKilled),
					cond("Failed", "True", ReasonOOMKilled),
				},
			},
		},
		"killed for memory, as the worker said": {
			// The worker outlived its program, so the kubelet saw an ordinary exit.
			task: testutil.MakeLongTask("resize", "photos").Obj(),
			job:  job().Started(started).Failed(now, "BackoffLimitExceeded", "Job has reached the specified backoff limit", 1).Obj(),
			pods: []corev1.Pod{*testutil.TerminatedPod("resize-a", "photos", "resize", 137, "Error",
				`{"reason":"OOMKilled","message":"the program was killed because it ran out of memory (OOM)"}`, now)},
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseFailed,
				JobName:        "resize",
				Attempts:       1,
				StartTime:      at(started),
				CompletionTime: at(now),
				Failure: &longtaskv1.Failure{
					Reason: ReasonOOMKilled, Message: "The task ran out of memory and was killed (exit code 137)", ExitCode: ptr.To[int32](137),
				},
				Conditions: []metav1.Condition{
					cond("Running", "False", ReasonOOMKilled),
					cond("Failed", "True", ReasonOOMKilled),
				},
			},
		},
		"pod lost with its node": {
			// After a power loss, containerd reports the container's state Unknown with exit code 255.
			task: testutil.MakeLongTask("resize", "photos").Obj(),
			job:  job().Started(started).Failed(now, "BackoffLimitExceeded", "Job has reached the specified backoff limit", 1).Obj(),
			pods: []corev1.Pod{*testutil.TerminatedPod("resize-a", "photos", "resize", 255, "Unknown", "", now)},
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseFailed,
				JobName:        "resize",
				Attempts:       1,
				StartTime:      at(started),
				CompletionTime: at(now),
				Failure: &longtaskv1.Failure{
					Reason:   ReasonPodLost,
					Message:  "The task's pod was lost while it ran: its node stopped or restarted, and nothing knows how the task ended",
					ExitCode: ptr.To[int32](255),
				},
				Conditions: []metav1.Condition{
					cond("Running", "False", ReasonPodLost),
					cond("Failed", "True", ReasonPodLost),
				},
			},
		},
		"cancel requested, pod still stopping": {
			task: testutil.MakeLongTask("resize", "photos").Cancel().Phase(longtaskv1.PhaseRunning).Obj(),
			job:  job().Suspend().Started(started).Ready().Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:      longtaskv1.PhaseRunning,
				JobName:    "resize",
				Attempts:   1,
				StartTime:  at(started),
				Conditions: []metav1.Condition{cond("Running", "True", ReasonCancelling)},
			},
		},
		"cancelled once the pod is gone": {
			task: testutil.MakeLongTask("resize", "photos").Cancel().Phase(longtaskv1.PhaseRunning).Attempts(1).Progress(5, 25, "").Obj(),
			job:  job().Suspend().Started(started).Stopped().Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseCancelled,
				JobName:        "resize",
				Attempts:       1,
				StartTime:      at(started),
				CompletionTime: at(now),
				Progress:       &longtaskv1.Progress{Current: 5, Total: 25, Percent: 20, Summary: "5/25 (20%)"},
				Conditions: []metav1.Condition{
					cond("Running", "False", ReasonCancelled),
					cond("Cancelled", "True", ReasonCancelled),
				},
			},
		},
		"cancelled before the Job was created": {
			task: testutil.MakeLongTask("resize", "photos").Cancel().Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseCancelled,
				CompletionTime: at(now),
				Conditions: []metav1.Condition{
					cond("Running", "False", ReasonCancelled),
					cond("Cancelled", "True", ReasonCancelled),
				},
			},
		},
		"a finished task stays finished when its Job is gone": {
			task: testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseSucceeded).Obj(),
			want: longtaskv1.LongTaskStatus{Phase: longtaskv1.PhaseSucceeded},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := computeStatus(tc.task, observed{job: tc.job, pods: tc.pods, now: now})
			opts := cmp.Options{
				cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime", "Message"),
				cmpopts.IgnoreFields(longtaskv1.LongTaskStatus{}, "EffectiveProgressInterval"),
				cmpopts.EquateEmpty(),
			}
			if diff := cmp.Diff(tc.want, got, opts); diff != "" {
				t.Errorf("status (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestComputeStatusNeverCountsFewerAttempts(t *testing.T) {
	task := testutil.MakeLongTask("resize", "photos").Attempts(3).Obj()
	got := computeStatus(task, observed{job: testutil.MakeJob("resize", "photos").Started(time.Now()).Obj(), now: time.Now()})
	if got.Attempts != 3 {
		t.Errorf("attempts = %d, want 3: a viewer must never see the count go down", got.Attempts)
	}
}

func TestComputeStatusProgressDeadline(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	running := func(since time.Time, lastReport *time.Time) *longtaskv1.LongTask {
		w := testutil.MakeLongTask("resize", "photos").ProgressDeadline(60).Phase(longtaskv1.PhaseRunning).Attempts(1)
		w.Status.Conditions = []metav1.Condition{{Type: "Running", Status: "True", Reason: ReasonRunning, LastTransitionTime: metav1.Time{Time: since}}}
		if lastReport != nil {
			w.Progress(3, 10, "")
			w.Status.Progress.UpdateTime = &metav1.Time{Time: *lastReport}
		}
		return w.Obj()
	}
	job := testutil.MakeJob("resize", "photos").Started(now.Add(-time.Hour)).Ready().Obj()
	cases := map[string]struct {
		task      *longtaskv1.LongTask
		wantPhase longtaskv1.Phase
		wantLeft  time.Duration
	}{
		"no report since it started running, within the deadline": {
			task: running(now.Add(-59*time.Second), nil), wantPhase: longtaskv1.PhaseRunning, wantLeft: time.Second,
		},
		"no report since it started running, past the deadline": {
			task: running(now.Add(-61*time.Second), nil), wantPhase: longtaskv1.PhaseFailed,
		},
		"a recent report restarts the clock": {
			task: running(now.Add(-time.Hour), ptr.To(now.Add(-10*time.Second))), wantPhase: longtaskv1.PhaseRunning, wantLeft: 50 * time.Second,
		},
		"the last report is too old": {
			task: running(now.Add(-time.Hour), ptr.To(now.Add(-2*time.Minute))), wantPhase: longtaskv1.PhaseFailed,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := computeStatus(tc.task, observed{job: job, now: now})
			if got.Phase != tc.wantPhase {
				t.Fatalf("phase %s, want %s", got.Phase, tc.wantPhase)
			}
			if tc.wantPhase == longtaskv1.PhaseFailed && got.Failure.Reason != ReasonProgressDeadlineExceeded {
				t.Errorf("failure reason %q, want %s", got.Failure.Reason, ReasonProgressDeadlineExceeded)
			}
			if left := untilStalled(tc.task, now); tc.wantPhase == longtaskv1.PhaseRunning && left != tc.wantLeft {
				t.Errorf("requeue after %v, want %v", left, tc.wantLeft)
			}
		})
	}
}

func TestComputeStatusPublishesTheEffectiveProgressInterval(t *testing.T) {
	task := testutil.MakeLongTask("resize", "photos").ProgressInterval(2 * time.Second).Obj()
	cases := map[string]struct {
		shared time.Duration
		want   time.Duration
	}{
		"the task's own interval when the budget allows it": {shared: time.Second, want: 2 * time.Second},
		"the shared interval when the budget is tight":      {shared: 16 * time.Second, want: 16 * time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got := computeStatus(task, observed{job: testutil.MakeJob("resize", "photos").Obj(), now: time.Now(), sharedInterval: tc.shared})
			if got.EffectiveProgressInterval == nil || got.EffectiveProgressInterval.Duration != tc.want {
				t.Errorf("effectiveProgressInterval %v, want %v", got.EffectiveProgressInterval, tc.want)
			}
		})
	}
}
