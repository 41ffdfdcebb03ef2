package controllers

import longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"

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

// The failure reasons are longtaskv1.FailureReasons, shared with the worker, the UI and the plugin; these
// names of some of them are renamed to those in the next commit.
const (
	ReasonTaskFailed               = longtaskv1.FailureReasonTaskFailed
	ReasonOOMKilled                = longtaskv1.FailureReasonOOMKilled
	ReasonPodLost                  = longtaskv1.FailureReasonPodLost
	ReasonInvalidParameters        = longtaskv1.FailureReasonInvalidParameters
	ReasonTemplateChanged          = longtaskv1.FailureReasonTemplateChanged
	ReasonProgressDeadlineExceeded = longtaskv1.FailureReasonProgressDeadlineExceeded
)
