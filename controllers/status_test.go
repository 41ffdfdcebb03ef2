package controllers

import (
	"errors"
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
	cond := func(t string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
		return metav1.Condition{Type: t, Status: status, Reason: reason, Message: message}
	}
	const lost = "The task's pod was lost while it ran: its node stopped or restarted, and nothing knows how the task ended"
	at := func(t time.Time) *metav1.Time { return &metav1.Time{Time: t} }

	cases := map[string]struct {
		task *longtaskv1.LongTask
		job  *batchv1.Job
		pods []corev1.Pod
		// world adds to what was observed besides the Job and its pods.
		world observed
		want  longtaskv1.LongTaskStatus
		// wantStop is why the Job must be stopped; wantBlocked the step the task is kept from.
		wantStop    stopReason
		wantBlocked string
	}{
		"no Job yet": {
			task: testutil.MakeLongTask("resize", "photos").Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:      longtaskv1.PhasePending,
				Conditions: []metav1.Condition{cond("Running", "False", ReasonJobPending, "Waiting for the Job to be created")},
			},
		},
		"Job created, pod not started": {
			task: testutil.MakeLongTask("resize", "photos").Obj(),
			job:  job().Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:      longtaskv1.PhasePending,
				JobName:    "resize",
				Conditions: []metav1.Condition{cond("Running", "False", ReasonPodPending, "Waiting for the task's pod to start")},
			},
		},
		"Job suspended by a queue": {
			task: testutil.MakeLongTask("resize", "photos").Obj(),
			job:  job().Suspend().Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:      longtaskv1.PhasePending,
				JobName:    "resize",
				Conditions: []metav1.Condition{cond("Running", "False", ReasonJobSuspended, "The Job is suspended, waiting to be admitted")},
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
				Conditions: []metav1.Condition{cond("Running", "True", ReasonRunning, "Attempt 1 is running")},
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
				Conditions: []metav1.Condition{cond("Running", "True", ReasonRunning, "Attempt 1 is running")},
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
					cond("Running", "False", ReasonCompleted, "The task completed"),
					cond("Succeeded", "True", ReasonCompleted, "The task completed"),
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
					cond("Running", "False", ReasonCompleted, "The task completed"),
					cond("Succeeded", "True", ReasonCompleted, "The task completed"),
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
					Reason: longtaskv1.FailureReasonTaskFailed, Message: "The task exited with code 3 in its last attempt of 2",
					ExitCode: ptr.To[int32](3), Output: "copying\nno space left",
				},
				Conditions: []metav1.Condition{
					cond("Running", "False", string(longtaskv1.FailureReasonTaskFailed), "The task exited with code 3 in its last attempt of 2"),
					cond("Failed", "True", string(longtaskv1.FailureReasonTaskFailed), "The task exited with code 3 in its last attempt of 2"),
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
					cond("Running", "False", "DeadlineExceeded", "Job was active longer than specified deadline"),
					cond("Failed", "True", "DeadlineExceeded", "Job was active longer than specified deadline"),
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
					cond("Running", "False", "CommandNotFound", "Command not found: resize"),
					cond("Failed", "True", "CommandNotFound", "Command not found: resize"),
				},
			},
		},
		"a termination message with a reason the worker never writes is the program's output": {
			// The program can write the termination message file itself; a reason that is not a condition
			// reason (it has spaces) would make every status write of the task fail.
			task: testutil.MakeLongTask("resize", "photos").Obj(),
			job:  job().Started(started).Failed(now, "BackoffLimitExceeded", "Job has reached the specified backoff limit", 1).Obj(),
			pods: []corev1.Pod{*testutil.TerminatedPod("resize-a", "photos", "resize", 1, "Error",
				`{"reason":"All is well","message":"it succeeded"}`, now)},
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseFailed,
				JobName:        "resize",
				Attempts:       1,
				StartTime:      at(started),
				CompletionTime: at(now),
				Failure: &longtaskv1.Failure{
					Reason: longtaskv1.FailureReasonTaskFailed, Message: "The task exited with code 1", ExitCode: ptr.To[int32](1),
					Output: `{"reason":"All is well","message":"it succeeded"}`,
				},
				Conditions: []metav1.Condition{
					cond("Running", "False", string(longtaskv1.FailureReasonTaskFailed), "The task exited with code 1"),
					cond("Failed", "True", string(longtaskv1.FailureReasonTaskFailed), "The task exited with code 1"),
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
					Reason: longtaskv1.FailureReasonOOMKilled, Message: "The task ran out of memory and was killed (exit code 137)", ExitCode: ptr.To[int32](137),
				},
				Conditions: []metav1.Condition{
					cond("Running", "False", string(longtaskv1.FailureReasonOOMKilled), "The task ran out of memory and was killed (exit code 137)"),
					cond("Failed", "True", string(longtaskv1.FailureReasonOOMKilled), "The task ran out of memory and was killed (exit code 137)"),
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
					Reason: longtaskv1.FailureReasonOOMKilled, Message: "The task ran out of memory and was killed (exit code 137)", ExitCode: ptr.To[int32](137),
				},
				Conditions: []metav1.Condition{
					cond("Running", "False", string(longtaskv1.FailureReasonOOMKilled), "The task ran out of memory and was killed (exit code 137)"),
					cond("Failed", "True", string(longtaskv1.FailureReasonOOMKilled), "The task ran out of memory and was killed (exit code 137)"),
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
					Reason:   longtaskv1.FailureReasonPodLost,
					Message:  lost,
					ExitCode: ptr.To[int32](255),
				},
				Conditions: []metav1.Condition{
					cond("Running", "False", string(longtaskv1.FailureReasonPodLost), lost),
					cond("Failed", "True", string(longtaskv1.FailureReasonPodLost), lost),
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
				Conditions: []metav1.Condition{cond("Running", "True", ReasonCancelling, "The task is being cancelled: its pod is stopping")},
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
					cond("Running", "False", ReasonCancelled, "The task was cancelled"),
					cond("Cancelled", "True", ReasonCancelled, "The task was cancelled"),
				},
			},
		},
		"cancelled before the Job was created": {
			task: testutil.MakeLongTask("resize", "photos").Cancel().Obj(),
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseCancelled,
				CompletionTime: at(now),
				Conditions: []metav1.Condition{
					cond("Running", "False", ReasonCancelled, "The task was cancelled before it started"),
					cond("Cancelled", "True", ReasonCancelled, "The task was cancelled before it started"),
				},
			},
		},
		"cancel requested while the pod runs stops the Job": {
			task:     testutil.MakeLongTask("resize", "photos").Cancel().Phase(longtaskv1.PhaseRunning).Obj(),
			job:      job().Started(started).Ready().Obj(),
			wantStop: stopCancelled,
			want: longtaskv1.LongTaskStatus{
				Phase:      longtaskv1.PhaseRunning,
				JobName:    "resize",
				Attempts:   1,
				StartTime:  at(started),
				Conditions: []metav1.Condition{cond("Running", "True", ReasonCancelling, "The task is being cancelled: its pod is stopping")},
			},
		},
		"cancelled before the Job started a pod, which it must not start": {
			task:     testutil.MakeLongTask("resize", "photos").Cancel().Obj(),
			job:      job().Obj(),
			wantStop: stopCancelled,
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseCancelled,
				JobName:        "resize",
				CompletionTime: at(now),
				Conditions: []metav1.Condition{
					cond("Running", "False", ReasonCancelled, "The task was cancelled"),
					cond("Cancelled", "True", ReasonCancelled, "The task was cancelled"),
				},
			},
		},
		"the template does not exist": {
			task:        testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Obj(),
			world:       observed{templateMissing: true},
			wantBlocked: "ResolveTemplate",
			want: longtaskv1.LongTaskStatus{
				Phase: longtaskv1.PhasePending,
				Conditions: []metav1.Condition{cond("Running", "False", ReasonTemplateNotFound,
					"LongTaskTemplate resize-photos not found in namespace photos: the task starts when it is created")},
			},
		},
		"parameters that do not fit the template": {
			task:  testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Obj(),
			world: observed{invalidParameters: errors.New("spec.parameters[album]: Required value")},
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseFailed,
				CompletionTime: at(now),
				Failure:        &longtaskv1.Failure{Reason: longtaskv1.FailureReasonInvalidParameters, Message: "LongTaskTemplate resize-photos: spec.parameters[album]: Required value"},
				Conditions: []metav1.Condition{
					cond("Running", "False", string(longtaskv1.FailureReasonInvalidParameters), "LongTaskTemplate resize-photos: spec.parameters[album]: Required value"),
					cond("Failed", "True", string(longtaskv1.FailureReasonInvalidParameters), "LongTaskTemplate resize-photos: spec.parameters[album]: Required value"),
				},
			},
		},
		"another Job holds the task's Job name": {
			task:        testutil.MakeLongTask("resize", "photos").Obj(),
			world:       observed{conflict: &nameTakenError{reason: ReasonJobConflict, kind: "Job", name: "resize"}},
			wantBlocked: "CreateJob",
			want: longtaskv1.LongTaskStatus{
				Phase: longtaskv1.PhasePending,
				Conditions: []metav1.Condition{cond("Running", "False", ReasonJobConflict,
					"Job resize already exists and does not belong to this LongTask: delete it or give the task another name")},
			},
		},
		"cancelled while another Job holds the task's Job name": {
			task:  testutil.MakeLongTask("resize", "photos").Cancel().Phase(longtaskv1.PhasePending).Obj(),
			world: observed{conflict: &nameTakenError{reason: ReasonJobConflict, kind: "Job", name: "resize"}},
			want: longtaskv1.LongTaskStatus{
				Phase:          longtaskv1.PhaseCancelled,
				CompletionTime: at(now),
				Conditions: []metav1.Condition{
					cond("Running", "False", ReasonCancelled, "The task was cancelled before it started"),
					cond("Cancelled", "True", ReasonCancelled, "The task was cancelled before it started"),
				},
			},
		},
		"a finished task stays finished when another Job takes its Job's name": {
			task:  testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseSucceeded).Obj(),
			world: observed{conflict: &nameTakenError{reason: ReasonJobConflict, kind: "Job", name: "resize"}},
			want:  longtaskv1.LongTaskStatus{Phase: longtaskv1.PhaseSucceeded},
		},
		"a finished task's Job that runs again is stopped": {
			task:     testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseCancelled).Obj(),
			job:      job().Started(started).Ready().Obj(),
			wantStop: stopFinished,
			want:     longtaskv1.LongTaskStatus{Phase: longtaskv1.PhaseCancelled},
		},
		"a finished task stays finished when its Job is gone": {
			task: testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseSucceeded).Obj(),
			want: longtaskv1.LongTaskStatus{Phase: longtaskv1.PhaseSucceeded},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			world := tc.world
			world.job, world.pods, world.now = tc.job, tc.pods, now
			got := computeStatus(tc.task, world)
			opts := cmp.Options{
				cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime"),
				cmpopts.IgnoreFields(longtaskv1.LongTaskStatus{}, "EffectiveProgressInterval"),
				cmpopts.EquateEmpty(),
			}
			if diff := cmp.Diff(tc.want, got.status, opts); diff != "" {
				t.Errorf("status (-want,+got):\n%s", diff)
			}
			if got.stopJob != tc.wantStop || got.blocked != tc.wantBlocked {
				t.Errorf("stop the Job %v and blocked at %q, want %v and %q", got.stopJob, got.blocked, tc.wantStop, tc.wantBlocked)
			}
		})
	}
}

func TestComputeStatusNeverCountsFewerAttempts(t *testing.T) {
	task := testutil.MakeLongTask("resize", "photos").Attempts(3).Obj()
	got := computeStatus(task, observed{job: testutil.MakeJob("resize", "photos").Started(time.Now()).Obj(), now: time.Now()}).status
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
			d := computeStatus(tc.task, observed{job: job, now: now})
			got := d.status
			if got.Phase != tc.wantPhase {
				t.Fatalf("phase %s, want %s", got.Phase, tc.wantPhase)
			}
			if tc.wantPhase == longtaskv1.PhaseFailed {
				if got.Failure == nil || got.Failure.Reason != longtaskv1.FailureReasonProgressDeadlineExceeded {
					t.Errorf("failure %+v, want reason %s", got.Failure, longtaskv1.FailureReasonProgressDeadlineExceeded)
				}
				if d.stopJob != stopStalled {
					t.Errorf("stop the Job %v, want %v: a stalled task's pod must stop", d.stopJob, stopStalled)
				}
			} else if d.stopJob != jobMayRun {
				t.Errorf("stop the Job %v, want it to run on", d.stopJob)
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
			got := computeStatus(task, observed{job: testutil.MakeJob("resize", "photos").Obj(), now: time.Now(), sharedInterval: tc.shared}).status
			if got.EffectiveProgressInterval == nil || got.EffectiveProgressInterval.Duration != tc.want {
				t.Errorf("effectiveProgressInterval %v, want %v", got.EffectiveProgressInterval, tc.want)
			}
		})
	}
}
