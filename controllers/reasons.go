package controllers

import longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"

// Reasons of the LongTask's conditions and Events, CamelCase as `kubectl describe` shows them.
const (
	ReasonJobPending   = "JobPending"
	ReasonJobCreated   = "JobCreated"
	ReasonJobSuspended = "JobSuspended"
	ReasonPodPending   = "PodPending"
	ReasonRunning      = "Running"
	ReasonCompleted    = "Completed"
	ReasonTaskFailed   = "TaskFailed"
	ReasonOOMKilled    = "OOMKilled"
	ReasonPodLost      = longtaskv1.FailureReasonPodLost
	ReasonCancelling   = "Cancelling"
	ReasonCancelled    = "Cancelled"
	ReasonExpired      = "Expired"
	ReasonJobConflict  = "JobConflict"
	// ReasonWorkerAccessConflict: the name of the task worker's ServiceAccount, Role or RoleBinding is taken
	// by an object that is not the task's.
	ReasonWorkerAccessConflict = "WorkerAccessConflict"

	ReasonTemplateNotFound  = "TemplateNotFound"
	ReasonInvalidParameters = "InvalidParameters"
	// ReasonTemplateChanged: a task from a template lost its Job, and the template no longer resolves to
	// what the task started as (status.resolvedTask), so no Job is made again.
	ReasonTemplateChanged = "TemplateChanged"

	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
)
