package v1alpha1

import (
	"slices"

	batchv1 "k8s.io/api/batch/v1"
)

// FailureReason is status.failure.reason: why a task failed, as a CamelCase word that is also the reason
// of its Failed condition.
type FailureReason string

// The reasons a task can fail for. The worker writes the first five into its container's termination
// message, for the controller to read; the controller decides the others, or takes the Job's.
const (
	// FailureReasonTaskFailed: the task's program exited with a code other than 0.
	FailureReasonTaskFailed FailureReason = "TaskFailed"
	// FailureReasonKilled: a signal killed the program.
	FailureReasonKilled FailureReason = "Killed"
	// FailureReasonOOMKilled: the program, or the worker with it, ran out of memory.
	FailureReasonOOMKilled FailureReason = "OOMKilled"
	// FailureReasonCommandNotFound: the command is not in the image, or is empty.
	FailureReasonCommandNotFound FailureReason = "CommandNotFound"
	// FailureReasonCommandNotRunnable: the command is there but cannot be run.
	FailureReasonCommandNotRunnable FailureReason = "CommandNotRunnable"

	// FailureReasonPodLost: the task's pod was lost (a power loss, a restart of its node, a pod deleted)
	// before anyone saw how the program ended; status.failure.exitCode, if any, is the container runtime's.
	FailureReasonPodLost FailureReason = "PodLost"
	// FailureReasonProgressDeadlineExceeded: the task made no progress within progressDeadlineSeconds.
	FailureReasonProgressDeadlineExceeded FailureReason = "ProgressDeadlineExceeded"
	// FailureReasonInvalidParameters: the task's parameters do not fit its template.
	FailureReasonInvalidParameters FailureReason = "InvalidParameters"
	// FailureReasonTemplateChanged: a task from a template lost its Job, and the template no longer resolves
	// to what the task started as (status.resolvedTask), so no Job is made again.
	FailureReasonTemplateChanged FailureReason = "TemplateChanged"
	// FailureReasonDeadlineExceeded: the task ran past timeoutSeconds, its Job's activeDeadlineSeconds; the
	// Job controller's reason, kept as it is.
	FailureReasonDeadlineExceeded = FailureReason(batchv1.JobReasonDeadlineExceeded)
)

// FailureReasons are every reason a task can fail for, the worker's first.
func FailureReasons() []FailureReason {
	return []FailureReason{
		FailureReasonTaskFailed, FailureReasonKilled, FailureReasonOOMKilled, FailureReasonCommandNotFound,
		FailureReasonCommandNotRunnable, FailureReasonPodLost, FailureReasonProgressDeadlineExceeded,
		FailureReasonInvalidParameters, FailureReasonTemplateChanged, FailureReasonDeadlineExceeded,
	}
}

// Known reports whether the reason is one of FailureReasons: any other came from outside (a newer Job
// controller).
func (r FailureReason) Known() bool { return slices.Contains(FailureReasons(), r) }

// WrittenByWorker reports whether the worker writes the reason into its termination message. The task's
// program runs in the same container and can write that file too, so the controller takes a reason from it
// only if the worker writes that reason: any other, a space in it say, would be refused in a condition.
func (r FailureReason) WrittenByWorker() bool {
	switch r {
	case FailureReasonTaskFailed, FailureReasonKilled, FailureReasonOOMKilled, FailureReasonCommandNotFound, FailureReasonCommandNotRunnable:
		return true
	}
	return false
}

// MessageStatesExitCode reports whether status.failure.message, as the controller writes it for a
// failure of this reason, already states status.failure.exitCode, so that a reader shows the code only
// beside the other messages.
func (r FailureReason) MessageStatesExitCode() bool {
	return r == FailureReasonTaskFailed || r == FailureReasonOOMKilled
}

// ExitCodeFromProgram reports whether status.failure.exitCode of a failure of this reason is the
// program's: that of a pod lost with its node is the container runtime's (255, 137), which says nothing
// of the program.
func (r FailureReason) ExitCodeFromProgram() bool { return r != FailureReasonPodLost }
