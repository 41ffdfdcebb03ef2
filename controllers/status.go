package controllers

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/text"
)

// observed is what the controller saw of the world in one pass.
type observed struct {
	// job is the task's Job, nil when there is none.
	job *batchv1.Job
	// conflict is the object that holds the name of the task's Job, or of its worker's access, without being
	// the task's; nil when there is none.
	conflict *nameTakenError
	// templateMissing says that the task names a template that does not exist.
	templateMissing bool
	// invalidParameters is why the task's parameters do not fit its template; nil when they do.
	invalidParameters error
	// templateChanged says that the task's Job is to be created and its template no longer resolves to
	// status.resolvedTask; nil when it does.
	templateChanged *templateChangedError
	// resolved is the task's template as resolved in this pass, for status.resolvedTask; nil when the task
	// names no template, or resolved it before.
	resolved *longtaskv1.TaskSpec
	// pods are the Job's pods, listed only when the Job failed.
	pods []corev1.Pod
	now  time.Time
	// sharedInterval is the write interval the cluster-wide write budget leaves each running task.
	sharedInterval time.Duration
}

// maxConditionMessageBytes is the API's limit on a condition's message: a failure message longer than it
// would make the status write fail, and the task would never end.
const maxConditionMessageBytes = 32 * 1024

// decision is what computeStatus decided: the task's status, and what it asks of the controller.
type decision struct {
	status longtaskv1.LongTaskStatus
	// stopJob is why the task's Job, which still runs, must be stopped; jobMayRun when it may run on.
	stopJob stopReason
	// blocked is the step ("ResolveTemplate", "CreateJob") that something outside the task keeps it from
	// taking; "" when nothing does. A Warning Event says so when the task becomes blocked.
	blocked string
	// cancelling says that the task's pod is being stopped because the task was cancelled. An Event says so
	// when it begins.
	cancelling bool
}

// stopReason is why the controller stops a task's Job.
type stopReason int

const (
	jobMayRun stopReason = iota
	// stopCancelled: the task was cancelled.
	stopCancelled
	// stopStalled: the task made no progress within its progress deadline.
	stopStalled
	// stopFinished: the task has finished, yet its Job runs again (someone resumed it).
	stopFinished
)

// computeStatus recomputes the controller's part of a LongTask's status from the world, and decides
// whether the task's Job must be stopped. The worker's fields, progress, result and checkpoint, are carried
// over untouched, except that success completes the progress bar.
func computeStatus(task *longtaskv1.LongTask, world observed) decision {
	job, now := world.job, world.now
	d := decision{status: *task.Status.DeepCopy()}
	status := &d.status
	status.ObservedGeneration = task.Generation
	// stop asks for the Job to be stopped, if it still runs.
	stop := func(why stopReason) {
		if job != nil && !jobFinished(job) && !ptr.Deref(job.Spec.Suspend, false) {
			d.stopJob = why
		}
	}
	if status.Phase.Finished() {
		// A finished task stays finished, even if its Job is deleted or changed afterwards.
		stop(stopFinished)
		return d
	}
	status.EffectiveProgressInterval = &metav1.Duration{Duration: max(task.Spec.Interval(), world.sharedInterval)}
	if world.resolved != nil {
		status.ResolvedTask = world.resolved
	}

	if job != nil {
		status.JobName = job.Name
		status.StartTime = job.Status.StartTime
		status.Attempts = max(status.Attempts, job.Status.Active+job.Status.Failed+job.Status.Succeeded)
	}

	// The first case that holds decides, so the order matters. A task whose template is missing or does not
	// fit, or whose Job is not created again from a changed template, has no Job and is never cancelled
	// (needsTemplate, reconcileJob), so those come first. A cancel before any Job
	// ends the task even when another Job holds its name: the conflict no longer matters. Once there is a
	// Job, how the Job ended wins over a cancel or a stalled clock that came as it ended: the task did end
	// that way. A cancel wins over a stall, since the user asked for it. A stall fails a task that otherwise
	// looks Running. A task whose pod still runs is Running even if its Job is suspended (a queue preempting
	// it): it is Pending again once the pod stopped.
	switch {
	case world.invalidParameters != nil:
		message := text.Cut(fmt.Sprintf("LongTaskTemplate %s: %v", task.Spec.TemplateRef.Name, world.invalidParameters), maxConditionMessageBytes, text.Start)
		status.Failure = &longtaskv1.Failure{Reason: longtaskv1.FailureReasonInvalidParameters, Message: message}
		finish(status, longtaskv1.PhaseFailed, string(longtaskv1.FailureReasonInvalidParameters), message, now)
	case world.templateChanged != nil:
		// Rather than run something other than what the task started as, or a record nobody vouches for.
		message := text.Cut(world.templateChanged.message(), maxConditionMessageBytes, text.Start)
		status.Failure = &longtaskv1.Failure{Reason: longtaskv1.FailureReasonTemplateChanged, Message: message}
		finish(status, longtaskv1.PhaseFailed, string(longtaskv1.FailureReasonTemplateChanged), message, now)
	case world.templateMissing:
		d.blocked = "ResolveTemplate"
		setPhase(status, longtaskv1.PhasePending, ReasonTemplateNotFound, fmt.Sprintf(
			"LongTaskTemplate %s not found in namespace %s: the task starts when it is created", task.Spec.TemplateRef.Name, task.Namespace), now)
	case job == nil && task.Spec.Cancel:
		finish(status, longtaskv1.PhaseCancelled, ReasonCancelled, "The task was cancelled before it started", now)
	case world.conflict != nil:
		d.blocked = "CreateJob"
		setPhase(status, longtaskv1.PhasePending, world.conflict.reason, world.conflict.Error(), now)
	case job == nil:
		setPhase(status, longtaskv1.PhasePending, ReasonJobPending, "Waiting for the Job to be created", now)
	case jobCondition(job, batchv1.JobComplete):
		finish(status, longtaskv1.PhaseSucceeded, ReasonCompleted, "The task completed", completionTime(job, batchv1.JobComplete, now))
		completeProgress(status, now)
	case jobCondition(job, batchv1.JobFailed):
		status.Failure = failure(job, world.pods, status.Attempts)
		finish(status, longtaskv1.PhaseFailed, string(status.Failure.Reason), status.Failure.Message, completionTime(job, batchv1.JobFailed, now))
	case task.Spec.Cancel && job.Status.Active == 0 && ptr.Deref(job.Status.Terminating, 0) == 0:
		// No pod runs, but the Job would start one: it is stopped all the same.
		stop(stopCancelled)
		finish(status, longtaskv1.PhaseCancelled, ReasonCancelled, "The task was cancelled", now)
	case task.Spec.Cancel:
		stop(stopCancelled)
		d.cancelling = true
		setPhase(status, status.Phase, ReasonCancelling, "The task is being cancelled: its pod is stopping", now)
	case stalled(task, now):
		stop(stopStalled)
		status.Failure = &longtaskv1.Failure{
			Reason:  longtaskv1.FailureReasonProgressDeadlineExceeded,
			Message: fmt.Sprintf("The task made no progress for %ds (progressDeadlineSeconds)", *task.Spec.ProgressDeadlineSeconds),
		}
		finish(status, longtaskv1.PhaseFailed, string(status.Failure.Reason), status.Failure.Message, now)
	case ptr.Deref(job.Status.Ready, 0) > 0 || (job.Status.Active > 0 && status.Progress != nil):
		setPhase(status, longtaskv1.PhaseRunning, ReasonRunning, fmt.Sprintf("Attempt %d is running", max(status.Attempts, 1)), now)
	case ptr.Deref(job.Spec.Suspend, false):
		setPhase(status, longtaskv1.PhasePending, ReasonJobSuspended, "The Job is suspended, waiting to be admitted", now)
	default:
		setPhase(status, longtaskv1.PhasePending, ReasonPodPending, "Waiting for the task's pod to start", now)
	}
	return d
}

// untilStalled is how long a running task has left before its progress deadline; 0 when it has none.
func untilStalled(task *longtaskv1.LongTask, now time.Time) time.Duration {
	deadline, ok := progressDeadline(task)
	if !ok {
		return 0
	}
	return max(deadline.Sub(now), time.Millisecond)
}

// stalled reports whether a running task is past its progress deadline.
func stalled(task *longtaskv1.LongTask, now time.Time) bool {
	deadline, ok := progressDeadline(task)
	return ok && !now.Before(deadline)
}

// progressDeadline is when a running task fails unless its progress changes. The clock starts when the
// task started running, and restarts whenever the worker reports a change (which it does when an attempt
// starts, too).
func progressDeadline(task *longtaskv1.LongTask) (time.Time, bool) {
	seconds := task.Spec.ProgressDeadlineSeconds
	running := meta.FindStatusCondition(task.Status.Conditions, longtaskv1.ConditionRunning)
	if seconds == nil || task.Status.Phase != longtaskv1.PhaseRunning || running == nil || running.Status != metav1.ConditionTrue {
		return time.Time{}, false
	}
	lastChange := running.LastTransitionTime.Time
	if p := task.Status.Progress; p != nil && p.UpdateTime != nil && p.UpdateTime.After(lastChange) {
		lastChange = p.UpdateTime.Time
	}
	return lastChange.Add(time.Duration(*seconds) * time.Second), true
}

// setPhase sets the phase and the conditions that go with it. Running is always present; Succeeded,
// Failed and Cancelled appear when they become true, so `kubectl wait --for=condition=X` works for each.
func setPhase(status *longtaskv1.LongTaskStatus, phase longtaskv1.Phase, reason, message string, at time.Time) {
	phase = phase.OrPending()
	status.Phase = phase
	// A condition that changes takes the pass's time, not the wall clock's (meta.SetStatusCondition's default).
	running := metav1.Condition{
		Type: longtaskv1.ConditionRunning, Status: metav1.ConditionFalse, Reason: reason, Message: message,
		ObservedGeneration: status.ObservedGeneration, LastTransitionTime: metav1.NewTime(at),
	}
	if phase == longtaskv1.PhaseRunning {
		running.Status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&status.Conditions, running)

	final := map[longtaskv1.Phase]string{
		longtaskv1.PhaseSucceeded: longtaskv1.ConditionSucceeded,
		longtaskv1.PhaseFailed:    longtaskv1.ConditionFailed,
		longtaskv1.PhaseCancelled: longtaskv1.ConditionCancelled,
	}
	if conditionType, ok := final[phase]; ok {
		meta.SetStatusCondition(&status.Conditions, metav1.Condition{
			Type: conditionType, Status: metav1.ConditionTrue, Reason: reason, Message: message,
			ObservedGeneration: status.ObservedGeneration, LastTransitionTime: metav1.NewTime(at),
		})
	}
}

// completeProgress fills the progress bar when the task succeeded: a task that never reported a total, or
// stopped reporting before its last step, still ends at 100%.
func completeProgress(status *longtaskv1.LongTaskStatus, now time.Time) {
	p := status.Progress
	if p == nil {
		p = &longtaskv1.Progress{}
		status.Progress = p
	}
	if p.Total <= 0 || p.Current > p.Total {
		p.Total = p.Current
	}
	if p.Current == p.Total && p.Percent == 100 {
		return
	}
	p.Current = p.Total
	p.Percent = 100
	p.Summary = longtaskv1.Summary(p.Current, p.Total)
	if p.Total == 0 {
		p.Summary = "done"
	}
	p.UpdateTime = &metav1.Time{Time: now}
}

// failure says why the Job failed: from its Failed condition, and from the task container of its last
// failed pod, whose termination message the worker wrote (or, if it could not, the kubelet filled with the
// last lines of output). The message of a TaskFailed or OOMKilled failure with an exit code states that
// code, so that readers of the typed fields (the UI) need not repeat it.
func failure(job *batchv1.Job, pods []corev1.Pod, attempts int32) *longtaskv1.Failure {
	f := &longtaskv1.Failure{Reason: longtaskv1.FailureReasonTaskFailed, Message: "The task failed"}
	cond := findJobCondition(job, batchv1.JobFailed)
	jobReason := cond != nil && cond.Reason != "" && cond.Reason != batchv1.JobReasonBackoffLimitExceeded
	if jobReason {
		// The Job stopped the task for a reason of its own, such as its deadline.
		f.Reason, f.Message = longtaskv1.FailureReason(cond.Reason), cond.Message
	}

	terminated := lastTermination(pods)
	if terminated == nil {
		if !jobReason {
			// No pod says how the task ended: it was deleted before it ended, with its node or because its
			// kubelet would never start it (deleteStuckPods).
			f.Reason, f.Message = longtaskv1.FailureReasonPodLost, "The task's pod was lost before it said how the task ended: its node stopped or restarted, or the pod was deleted"
		}
		return f
	}
	f.ExitCode = ptr.To(terminated.ExitCode)
	var worker longtaskv1.TerminationMessage
	fromWorker := json.Unmarshal([]byte(terminated.Message), &worker) == nil && worker.Reason.WrittenByWorker()
	if fromWorker {
		f.Output = text.Cut(worker.Output, longtaskv1.MaxOutputBytes, text.End)
	} else {
		f.Output = text.Cut(terminated.Message, longtaskv1.MaxOutputBytes, text.End)
	}
	switch {
	case jobReason:
	case terminated.Reason == "OOMKilled" || (fromWorker && worker.Reason == longtaskv1.FailureReasonOOMKilled):
		// The kubelet says so when the worker itself was killed; the worker says so when only its program was.
		f.Reason = longtaskv1.FailureReasonOOMKilled
		f.Message = fmt.Sprintf("The task ran out of memory and was killed (exit code %d)", terminated.ExitCode)
	case lostWithItsNode(terminated) && !fromWorker:
		f.Reason = longtaskv1.FailureReasonPodLost
		f.Message = "The task's pod was lost while it ran: its node stopped or restarted, and nothing knows how the task ended"
		if attempts > 1 {
			f.Message += fmt.Sprintf(" (its last attempt of %d)", attempts)
		}
	case fromWorker && worker.Reason != longtaskv1.FailureReasonTaskFailed:
		f.Reason, f.Message = worker.Reason, capitalize(worker.Message)
	default:
		f.Message = fmt.Sprintf("The task exited with code %d", terminated.ExitCode)
		if attempts > 1 {
			f.Message += fmt.Sprintf(" in its last attempt of %d", attempts)
		}
	}
	return f
}

// lostWithItsNode reports whether the kubelet found the task's container gone without an exit status of
// its own: after its node lost power or restarted, containerd reports such a container "Unknown", and the
// kubelet says "ContainerStatusUnknown" when it cannot find it at all. No worker wrote a termination
// message, and the exit code (255 or 137) is the runtime's, not the program's.
func lostWithItsNode(terminated *corev1.ContainerStateTerminated) bool {
	return terminated.Reason == "Unknown" || terminated.Reason == "ContainerStatusUnknown"
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// lastTermination returns how the task container of the most recently finished pod ended.
func lastTermination(pods []corev1.Pod) *corev1.ContainerStateTerminated {
	var found []*corev1.ContainerStateTerminated
	for i := range pods {
		for j := range pods[i].Status.ContainerStatuses {
			cs := &pods[i].Status.ContainerStatuses[j]
			if cs.Name == longtaskv1.TaskContainerName && cs.State.Terminated != nil {
				found = append(found, cs.State.Terminated)
			}
		}
	}
	if len(found) == 0 {
		return nil
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].FinishedAt.Before(&found[j].FinishedAt) })
	return found[len(found)-1]
}

// finish puts the task in a final phase, finished at the given time.
func finish(status *longtaskv1.LongTaskStatus, phase longtaskv1.Phase, reason, message string, at time.Time) {
	setPhase(status, phase, reason, message, at)
	status.CompletionTime = &metav1.Time{Time: at}
}

// completionTime is when the Job finished, as it says; now if it does not say.
func completionTime(job *batchv1.Job, conditionType batchv1.JobConditionType, now time.Time) time.Time {
	if job.Status.CompletionTime != nil {
		return job.Status.CompletionTime.Time
	}
	if cond := findJobCondition(job, conditionType); cond != nil && !cond.LastTransitionTime.IsZero() {
		return cond.LastTransitionTime.Time
	}
	return now
}

func jobCondition(job *batchv1.Job, conditionType batchv1.JobConditionType) bool {
	return findJobCondition(job, conditionType) != nil
}

func findJobCondition(job *batchv1.Job, conditionType batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range job.Status.Conditions {
		if c := &job.Status.Conditions[i]; c.Type == conditionType && c.Status == corev1.ConditionTrue {
			return c
		}
	}
	return nil
}
