package controllers

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
	ReasonPodLost      = "PodLost"
	ReasonCancelling   = "Cancelling"
	ReasonCancelled    = "Cancelled"
	ReasonExpired      = "Expired"
	ReasonJobConflict  = "JobConflict"

	ReasonTemplateNotFound  = "TemplateNotFound"
	ReasonInvalidParameters = "InvalidParameters"

	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
)
