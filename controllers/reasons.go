package controllers

// Reasons of the LongTask's conditions and Events, CamelCase as `kubectl describe` shows them, besides the
// failure reasons (longtaskv1.FailureReason), which are those of the Failed condition.
const (
	ReasonJobPending   = "JobPending"
	ReasonJobCreated   = "JobCreated"
	ReasonJobSuspended = "JobSuspended"
	ReasonPodPending   = "PodPending"
	ReasonRunning      = "Running"
	ReasonCompleted    = "Completed"
	ReasonCancelling   = "Cancelling"
	ReasonCancelled    = "Cancelled"
	ReasonExpired      = "Expired"
	ReasonJobConflict  = "JobConflict"
	// ReasonWorkerAccessConflict: the name of the task worker's ServiceAccount, Role or RoleBinding is taken
	// by an object that is not the task's.
	ReasonWorkerAccessConflict = "WorkerAccessConflict"

	ReasonTemplateNotFound = "TemplateNotFound"
)
