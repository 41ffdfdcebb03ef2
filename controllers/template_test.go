package controllers

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasktemplate"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// resizeTemplate takes a count that must be a number and a required album, passed to the program in env.
func resizeTemplate() *testutil.TemplateWrapper {
	return testutil.MakeTemplate("resize-photos", "photos").
		Parameter(longtaskv1.Parameter{Name: "count", Default: ptr.To("20"), Pattern: "[0-9]{1,3}"}).
		Parameter(longtaskv1.Parameter{Name: "album", Required: true}).
		Command("resize", "--count=$(params.count)").
		Env("ALBUM", "$(params.album)")
}

// resolvedTask is a task already resolved from an earlier version of its template.
func resolvedTask() *longtaskv1.LongTask {
	task := testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Parameter("album", "cats").Obj()
	task.Status.Phase = longtaskv1.PhasePending
	task.Status.ResolvedTask = &longtaskv1.TaskSpec{Command: []string{"shrink", "cats"}, Retries: 1}
	return task
}

// resolvedFrom is a task whose status.resolvedTask the controller resolved from template, as it is.
func resolvedFrom(t *testing.T, template *longtaskv1.LongTaskTemplate) *longtaskv1.LongTask {
	t.Helper()
	task := testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Parameter("album", "cats").Obj()
	task.Status.Phase = longtaskv1.PhasePending
	resolved, err := tasktemplate.Resolve(&template.Spec, &task.Spec)
	if err != nil {
		t.Fatal(err)
	}
	task.Status.ResolvedTask = resolved
	return task
}

// forgedTask is a task whose status.resolvedTask someone else wrote before the controller resolved it: a
// pod of their choosing, as another ServiceAccount.
func forgedTask() *longtaskv1.LongTask {
	task := testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Parameter("album", "cats").Obj()
	task.Status.ResolvedTask = &longtaskv1.TaskSpec{PodTemplate: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		ServiceAccountName: "admin",
		Containers:         []corev1.Container{{Name: longtaskv1.TaskContainerName, Image: "attacker:1", Command: []string{"sh"}}},
	}}}
	return task
}

func TestReconcileTaskFromTemplate(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	workerRun := []string{"/longtask/bin/longtask-worker", "run", "--"}
	// How a task fails whose Job would no longer run what its status.resolvedTask says.
	noLongerResolvesCondition := metav1.Condition{
		Type: longtaskv1.ConditionFailed, Status: metav1.ConditionTrue, Reason: string(longtaskv1.FailureReasonTemplateChanged),
		Message: "LongTaskTemplate resize-photos no longer resolves to status.resolvedTask",
	}
	noLongerResolves := &longtaskv1.Failure{
		Reason: longtaskv1.FailureReasonTemplateChanged,
		Message: "The task's Job cannot be created: LongTaskTemplate resize-photos no longer resolves to status.resolvedTask: " +
			"it changed since the task started, or the status was written by someone else. A Job runs only what the template says now",
	}
	cases := map[string]struct {
		objs []client.Object
		task *longtaskv1.LongTask
		// wantCondition is the condition that says where the task is; its message need only contain want's.
		wantCondition metav1.Condition
		wantPhase     longtaskv1.Phase
		wantFailure   *longtaskv1.Failure
		// wantCommand is the Job's task container command; nil when there must be no Job.
		wantCommand []string
		wantEnv     []corev1.EnvVar
		wantRetries int32
		// wantResolved is status.resolvedTask.
		wantResolved *longtaskv1.TaskSpec
		// wantEvents are the Events of two passes, each as type, reason and the start of its note.
		wantEvents []string
	}{
		"parameters fill in the template": {
			objs:          []client.Object{resizeTemplate().Obj()},
			task:          testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Parameter("album", "cats").Parameter("count", "5").Obj(),
			wantPhase:     longtaskv1.PhasePending,
			wantCondition: metav1.Condition{Type: longtaskv1.ConditionRunning, Status: metav1.ConditionFalse, Reason: ReasonPodPending},
			wantCommand:   append(workerRun, "resize", "--count=5"),
			wantEnv:       []corev1.EnvVar{{Name: "ALBUM", Value: "cats"}},
			wantResolved: &longtaskv1.TaskSpec{
				Command: []string{"resize", "--count=5"},
				Env:     []corev1.EnvVar{{Name: "ALBUM", Value: "cats"}},
			},
			wantEvents: []string{"Normal JobCreated Created Job resize"},
		},
		"the task's own retries override the template's": {
			objs: []client.Object{func() client.Object {
				template := resizeTemplate().Obj()
				template.Spec.Task.Retries = 1
				return template
			}()},
			task:          testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Parameter("album", "cats").Retries(3).Obj(),
			wantPhase:     longtaskv1.PhasePending,
			wantCondition: metav1.Condition{Type: longtaskv1.ConditionRunning, Status: metav1.ConditionFalse, Reason: ReasonPodPending},
			wantCommand:   append(workerRun, "resize", "--count=20"),
			wantEnv:       []corev1.EnvVar{{Name: "ALBUM", Value: "cats"}},
			wantRetries:   3,
			wantResolved: &longtaskv1.TaskSpec{
				Command: []string{"resize", "--count=20"},
				Env:     []corev1.EnvVar{{Name: "ALBUM", Value: "cats"}},
				Retries: 3,
			},
			wantEvents: []string{"Normal JobCreated Created Job resize"},
		},
		"the template does not exist yet": {
			task:      testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Parameter("album", "cats").Obj(),
			wantPhase: longtaskv1.PhasePending,
			wantCondition: metav1.Condition{
				Type: longtaskv1.ConditionRunning, Status: metav1.ConditionFalse, Reason: ReasonTemplateNotFound,
				Message: "LongTaskTemplate resize-photos not found in namespace photos",
			},
			// Once, though the task was looked at twice.
			wantEvents: []string{"Warning TemplateNotFound LongTaskTemplate resize-photos not found in namespace photos"},
		},
		"a value that does not match the pattern": {
			objs:      []client.Object{resizeTemplate().Obj()},
			task:      testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Parameter("album", "cats").Parameter("count", "5; rm -rf /").Obj(),
			wantPhase: longtaskv1.PhaseFailed,
			wantCondition: metav1.Condition{
				Type: longtaskv1.ConditionFailed, Status: metav1.ConditionTrue, Reason: string(longtaskv1.FailureReasonInvalidParameters),
				Message: `spec.parameters[count]: Invalid value: "5; rm -rf /": must match [0-9]{1,3}`,
			},
			wantFailure: &longtaskv1.Failure{
				Reason:  longtaskv1.FailureReasonInvalidParameters,
				Message: `LongTaskTemplate resize-photos: spec.parameters[count]: Invalid value: "5; rm -rf /": must match [0-9]{1,3}`,
			},
			wantEvents: []string{`Warning InvalidParameters LongTaskTemplate resize-photos: spec.parameters[count]`},
		},
		"a required parameter without a value": {
			objs:          []client.Object{resizeTemplate().Obj()},
			task:          testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Obj(),
			wantPhase:     longtaskv1.PhaseFailed,
			wantCondition: metav1.Condition{Type: longtaskv1.ConditionFailed, Status: metav1.ConditionTrue, Reason: string(longtaskv1.FailureReasonInvalidParameters), Message: "spec.parameters[album]: Required value"},
			wantFailure: &longtaskv1.Failure{
				Reason:  longtaskv1.FailureReasonInvalidParameters,
				Message: "LongTaskTemplate resize-photos: spec.parameters[album]: Required value: the template needs a value for album",
			},
			wantEvents: []string{"Warning InvalidParameters LongTaskTemplate resize-photos: spec.parameters[album]"},
		},
		"a template that refers to a parameter it does not declare": {
			objs:          []client.Object{resizeTemplate().Args("$(params.colour)").Obj()},
			task:          testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Parameter("album", "cats").Obj(),
			wantPhase:     longtaskv1.PhaseFailed,
			wantCondition: metav1.Condition{Type: longtaskv1.ConditionFailed, Status: metav1.ConditionTrue, Reason: string(longtaskv1.FailureReasonInvalidParameters), Message: "spec.task.args[0]"},
			wantFailure: &longtaskv1.Failure{
				Reason: longtaskv1.FailureReasonInvalidParameters,
				Message: `LongTaskTemplate resize-photos: the template is broken: spec.task.args[0]: Invalid value: "$(params.colour)": ` +
					`refers to $(params.colour), which is not one of the template's parameters`,
			},
			wantEvents: []string{"Warning InvalidParameters LongTaskTemplate resize-photos: the template is broken"},
		},
		"a resolved task that lost its Job gets it again from its template": {
			objs:          []client.Object{resizeTemplate().Obj()},
			task:          resolvedFrom(t, resizeTemplate().Obj()),
			wantPhase:     longtaskv1.PhasePending,
			wantCondition: metav1.Condition{Type: longtaskv1.ConditionRunning, Status: metav1.ConditionFalse, Reason: ReasonPodPending},
			wantCommand:   append(workerRun, "resize", "--count=20"),
			wantEnv:       []corev1.EnvVar{{Name: "ALBUM", Value: "cats"}},
			wantResolved:  resolvedFrom(t, resizeTemplate().Obj()).Status.ResolvedTask,
			wantEvents:    []string{"Normal JobCreated Created Job resize"},
		},
		"a resolved task that lost its Job is not run again after its template changed": {
			objs:          []client.Object{resizeTemplate().Obj()},
			task:          resolvedTask(),
			wantPhase:     longtaskv1.PhaseFailed,
			wantCondition: noLongerResolvesCondition,
			wantFailure:   noLongerResolves,
			wantResolved:  resolvedTask().Status.ResolvedTask,
			wantEvents:    []string{"Warning TemplateChanged The task's Job cannot be created"},
		},
		"a resolved task that lost its Job is not run again after its template was deleted": {
			task:      resolvedTask(),
			wantPhase: longtaskv1.PhaseFailed,
			wantCondition: metav1.Condition{
				Type: longtaskv1.ConditionFailed, Status: metav1.ConditionTrue, Reason: string(longtaskv1.FailureReasonTemplateChanged),
				Message: "LongTaskTemplate resize-photos was not found",
			},
			wantFailure: &longtaskv1.Failure{
				Reason:  longtaskv1.FailureReasonTemplateChanged,
				Message: "The task's Job cannot be created: LongTaskTemplate resize-photos was not found. A Job runs only what the template says now",
			},
			wantResolved: resolvedTask().Status.ResolvedTask,
			wantEvents:   []string{"Warning TemplateChanged The task's Job cannot be created"},
		},
		"a resolved task written by someone else never becomes a Job": {
			objs:          []client.Object{resizeTemplate().Obj()},
			task:          forgedTask(),
			wantPhase:     longtaskv1.PhaseFailed,
			wantCondition: noLongerResolvesCondition,
			wantFailure:   noLongerResolves,
			wantResolved:  forgedTask().Status.ResolvedTask,
			wantEvents:    []string{"Warning TemplateChanged The task's Job cannot be created"},
		},
		"a resolved task whose template no longer takes its parameters": {
			objs:      []client.Object{resizeTemplate().Parameter(longtaskv1.Parameter{Name: "size", Required: true}).Obj()},
			task:      resolvedFrom(t, resizeTemplate().Obj()),
			wantPhase: longtaskv1.PhaseFailed,
			wantCondition: metav1.Condition{
				Type: longtaskv1.ConditionFailed, Status: metav1.ConditionTrue, Reason: string(longtaskv1.FailureReasonTemplateChanged),
				Message: "LongTaskTemplate resize-photos no longer takes the task's parameters (spec.parameters[size]: Required value",
			},
			wantFailure: &longtaskv1.Failure{
				Reason: longtaskv1.FailureReasonTemplateChanged,
				Message: "The task's Job cannot be created: LongTaskTemplate resize-photos no longer takes the task's parameters " +
					"(spec.parameters[size]: Required value: the template needs a value for size). A Job runs only what the template says now",
			},
			wantResolved: resolvedFrom(t, resizeTemplate().Obj()).Status.ResolvedTask,
			wantEvents:   []string{"Warning TemplateChanged The task's Job cannot be created"},
		},
		"a task cancelled while it waits for its template": {
			task:          testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Cancel().Obj(),
			wantPhase:     longtaskv1.PhaseCancelled,
			wantCondition: metav1.Condition{Type: longtaskv1.ConditionCancelled, Status: metav1.ConditionTrue, Reason: ReasonCancelled},
			wantEvents:    []string{"Normal Cancelled The task was cancelled"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r, c, calls := newTestReconciler(t, now, append(tc.objs, tc.task)...)
			reconcileTask(t, r, tc.task)
			reconcileTask(t, r, tc.task)
			calls.reset()
			reconcileTask(t, r, tc.task)
			if len(calls.writes) > 0 {
				t.Errorf("a third pass over an unchanged task wrote %v, want nothing", calls.writes)
			}

			got := storedTask(t, c, tc.task)
			if diff := cmp.Diff(tc.task.Spec, got.Spec); diff != "" {
				t.Errorf("the controller changed the task's spec (-before,+after):\n%s", diff)
			}
			if got.Status.Phase != tc.wantPhase {
				t.Errorf("phase %s, want %s", got.Status.Phase, tc.wantPhase)
			}
			cond := meta.FindStatusCondition(got.Status.Conditions, tc.wantCondition.Type)
			if cond == nil || cond.Status != tc.wantCondition.Status || cond.Reason != tc.wantCondition.Reason || !strings.Contains(cond.Message, tc.wantCondition.Message) {
				t.Errorf("condition %+v, want %s=%s with reason %s and a message that says %q",
					cond, tc.wantCondition.Type, tc.wantCondition.Status, tc.wantCondition.Reason, tc.wantCondition.Message)
			}
			if diff := cmp.Diff(tc.wantFailure, got.Status.Failure); diff != "" {
				t.Errorf("status.failure (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantResolved, got.Status.ResolvedTask); diff != "" {
				t.Errorf("status.resolvedTask (-want,+got):\n%s", diff)
			}

			job := &batchv1.Job{}
			err := c.Get(context.Background(), client.ObjectKeyFromObject(tc.task), job)
			switch {
			case tc.wantCommand == nil && !apierrors.IsNotFound(err):
				t.Errorf("getting the Job: %v, want NotFound", err)
			case tc.wantCommand != nil && err != nil:
				t.Errorf("getting the Job: %v", err)
			case tc.wantCommand != nil:
				container := job.Spec.Template.Spec.Containers[0]
				if diff := cmp.Diff(tc.wantCommand, container.Command); diff != "" {
					t.Errorf("the task container's command (-want,+got):\n%s", diff)
				}
				if diff := cmp.Diff(tc.wantEnv, container.Env[:len(tc.wantEnv)], cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("the task container's env from the template (-want,+got):\n%s", diff)
				}
				if *job.Spec.BackoffLimit != tc.wantRetries {
					t.Errorf("the Job's backoffLimit is %d, want %d", *job.Spec.BackoffLimit, tc.wantRetries)
				}
			}

			recorded := recordedEvents(r)
			if len(recorded) != len(tc.wantEvents) {
				t.Fatalf("Events %q, want %q", recorded, tc.wantEvents)
			}
			for i, want := range tc.wantEvents {
				if !strings.HasPrefix(recorded[i], want) {
					t.Errorf("Event %q, want one that starts %q", recorded[i], want)
				}
			}
		})
	}
}

// recordedEvents drains the reconciler's fake recorder.
func recordedEvents(r *LongTaskReconciler) []string {
	var recorded []string
	for {
		select {
		case e := <-r.Recorder.(*events.FakeRecorder).Events:
			recorded = append(recorded, e)
		default:
			return recorded
		}
	}
}

// A task resolved from a template stores status.resolvedTask in one pass, and gets its Job in the next
// (which the status write's watch event brings), from what was stored; the worker's environment and the
// Job's limits come from the resolved task.
func TestReconcileResolvesBeforeCreatingTheJob(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	template := resizeTemplate().Obj()
	template.Spec.Task.Total = ptr.To[int64](20)
	template.Spec.Task.TimeoutSeconds = ptr.To[int64](600)
	task := testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Parameter("album", "cats").ProgressInterval(5 * time.Second).Obj()
	r, c, calls := newTestReconciler(t, now, template, task)

	var got [][]string
	for range 2 {
		calls.reset()
		reconcileTask(t, r, task)
		var pass []string
		for _, w := range calls.writes {
			if w == "patch LongTask/status" || w == "create Job" {
				pass = append(pass, w)
			}
		}
		got = append(got, pass)
	}
	want := [][]string{{"patch LongTask/status"}, {"create Job", "patch LongTask/status"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status writes and the Job's creation, by pass (-want,+got):\n%s", diff)
	}
	job := &batchv1.Job{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(task), job); err != nil {
		t.Fatal(err)
	}
	if got := ptr.Deref(job.Spec.ActiveDeadlineSeconds, 0); got != 600 {
		t.Errorf("the Job's activeDeadlineSeconds is %d, want the template's timeoutSeconds, 600", got)
	}
	env := job.Spec.Template.Spec.Containers[0].Env
	for _, want := range []corev1.EnvVar{{Name: longtaskv1.EnvTotal, Value: "20"}, {Name: longtaskv1.EnvProgressInterval, Value: "5s"}} {
		if !slices.Contains(env, want) {
			t.Errorf("the worker's env %v lacks %v", env, want)
		}
	}
}

// A finished task is deleted after the ttlSecondsAfterFinished its template gave it.
func TestTaskFromTemplateIsDeletedAfterTheTemplatesTTL(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	task := resolvedTask()
	task.Status.ResolvedTask.TTLSecondsAfterFinished = ptr.To[int32](60)
	task.Status.Phase = longtaskv1.PhaseSucceeded
	task.Status.CompletionTime = &metav1.Time{Time: now.Add(-time.Minute)}
	r, c, _ := newTestReconciler(t, now, task)

	reconcileTask(t, r, task)

	err := c.Get(context.Background(), client.ObjectKeyFromObject(task), &longtaskv1.LongTask{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("getting the task a minute after it finished: %v, want NotFound", err)
	}
}

func TestTemplateWakesTheTasksWaitingForIt(t *testing.T) {
	waiting := func(name, namespace, template string) *longtaskv1.LongTask {
		task := testutil.MakeLongTask(name, namespace).TemplateRef(template).Obj()
		task.UID = ""
		return task
	}
	resolved := waiting("resolved", "photos", "resize-photos")
	resolved.Status.ResolvedTask = &longtaskv1.TaskSpec{Command: []string{"resize"}}
	failed := waiting("failed", "photos", "resize-photos")
	failed.Status.Phase = longtaskv1.PhaseFailed
	cancelled := waiting("cancelled", "photos", "resize-photos")
	cancelled.Spec.Cancel = true
	r, _, _ := newTestReconciler(t, time.Now(),
		waiting("waiting", "photos", "resize-photos"),
		waiting("also-waiting", "photos", "resize-photos"),
		resolved, failed, cancelled,
		waiting("other-template", "photos", "crop-photos"),
		waiting("other-namespace", "videos", "resize-photos"),
		testutil.MakeLongTask("no-template", "photos").Obj(),
	)

	got := r.tasksWaitingFor(context.Background(), resizeTemplate().Obj())

	want := []reconcile.Request{
		{NamespacedName: client.ObjectKey{Namespace: "photos", Name: "also-waiting"}},
		{NamespacedName: client.ObjectKey{Namespace: "photos", Name: "waiting"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tasks woken by the template (-want,+got):\n%s", diff)
	}
}

// A running task comes back at the progress deadline its template gave it, though a status write came
// between resolving the task and computing when to come back.
func TestTaskFromTemplateComesBackAtItsProgressDeadline(t *testing.T) {
	// Whole seconds, as the API server keeps the Running condition's transition time.
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	template := resizeTemplate().Obj()
	template.Spec.Task.ProgressDeadlineSeconds = ptr.To[int64](60)
	task := resolvedFrom(t, template)
	r, c, _ := newTestReconciler(t, now, template, task)
	reconcileTask(t, r, task)
	job := &batchv1.Job{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(task), job); err != nil {
		t.Fatal(err)
	}
	if err := c.Status().Update(context.Background(), testutil.FromJob(job).Started(now).Ready().Obj()); err != nil {
		t.Fatal(err)
	}

	result := reconcileTask(t, r, task)

	if result.RequeueAfter != time.Minute {
		t.Errorf("the running task comes back after %v, want its template's progress deadline, 1m", result.RequeueAfter)
	}
}

// A task that cannot run from its template has its status computed from the whole world, as any task:
// its effective progress interval is the write budget's when that is longer than the task's own.
func TestTaskThatCannotRunFromItsTemplateSharesTheWriteBudget(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		objs      []client.Object
		task      *longtaskv1.LongTask
		wantPhase longtaskv1.Phase
	}{
		"the template does not exist yet": {
			task:      testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Parameter("album", "cats").Obj(),
			wantPhase: longtaskv1.PhasePending,
		},
		"a required parameter without a value": {
			objs:      []client.Object{resizeTemplate().Obj()},
			task:      testutil.MakeLongTask("resize", "photos").TemplateRef("resize-photos").Obj(),
			wantPhase: longtaskv1.PhaseFailed,
		},
	} {
		t.Run(name, func(t *testing.T) {
			// With 4 other tasks running, 5 tasks share 1 write a second: one write every 8s each.
			objs := append(append(runningTasks(0, 4), tc.objs...), tc.task)
			r, c, _ := newTestReconciler(t, now, objs...)
			r.Budget = NewWriteBudget(c, 1, r.Clock)
			reconcileTask(t, r, tc.task)

			got := storedTask(t, c, tc.task)
			if got.Status.Phase != tc.wantPhase {
				t.Errorf("phase %s, want %s", got.Status.Phase, tc.wantPhase)
			}
			if want := (&metav1.Duration{Duration: 8 * time.Second}); !cmp.Equal(want, got.Status.EffectiveProgressInterval) {
				t.Errorf("status.effectiveProgressInterval %v, want the budget's %v", got.Status.EffectiveProgressInterval, want)
			}
		})
	}
}
