package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LongTaskSpec says what to run. It cannot change after creation, except cancel, which may only be set.
//
// The task is either image, command, args, env and resources, or a full podTemplate whose container named
// "task" runs it, or a templateRef to a LongTaskTemplate that says what runs; only one of them.
//
// +kubebuilder:validation:XValidation:rule="has(self.command) || has(self.podTemplate) || has(self.templateRef)",message="command is required (or give a podTemplate with a container named task, or a templateRef)",fieldPath=".command"
// +kubebuilder:validation:XValidation:rule="!has(self.podTemplate) || !(has(self.image) || has(self.command) || has(self.args) || has(self.env) || has(self.resources))",message="podTemplate cannot be mixed with image, command, args, env or resources: put them in the podTemplate's task container",fieldPath=".podTemplate"
// +kubebuilder:validation:XValidation:rule="!has(self.templateRef) || !(has(self.image) || has(self.command) || has(self.args) || has(self.env) || has(self.resources) || has(self.podTemplate))",message="templateRef cannot be mixed with image, command, args, env, resources or podTemplate: the template says what runs",fieldPath=".templateRef"
// +kubebuilder:validation:XValidation:rule="!has(self.parameters) || has(self.templateRef)",message="parameters need a templateRef: they fill in its template's $(params.NAME)",fieldPath=".parameters"
// +kubebuilder:validation:XValidation:rule="has(self.image) == has(oldSelf.image) && (!has(self.image) || self.image == oldSelf.image)",message="image is immutable",fieldPath=".image"
// +kubebuilder:validation:XValidation:rule="has(self.command) == has(oldSelf.command) && (!has(self.command) || self.command == oldSelf.command)",message="command is immutable",fieldPath=".command"
// +kubebuilder:validation:XValidation:rule="has(self.args) == has(oldSelf.args) && (!has(self.args) || self.args == oldSelf.args)",message="args is immutable",fieldPath=".args"
// +kubebuilder:validation:XValidation:rule="has(self.env) == has(oldSelf.env) && (!has(self.env) || self.env == oldSelf.env)",message="env is immutable",fieldPath=".env"
// +kubebuilder:validation:XValidation:rule="has(self.resources) == has(oldSelf.resources) && (!has(self.resources) || self.resources == oldSelf.resources)",message="resources is immutable",fieldPath=".resources"
// +kubebuilder:validation:XValidation:rule="has(self.podTemplate) == has(oldSelf.podTemplate) && (!has(self.podTemplate) || self.podTemplate == oldSelf.podTemplate)",message="podTemplate is immutable",fieldPath=".podTemplate"
// +kubebuilder:validation:XValidation:rule="has(self.total) == has(oldSelf.total) && (!has(self.total) || self.total == oldSelf.total)",message="total is immutable",fieldPath=".total"
// +kubebuilder:validation:XValidation:rule="has(self.timeoutSeconds) == has(oldSelf.timeoutSeconds) && (!has(self.timeoutSeconds) || self.timeoutSeconds == oldSelf.timeoutSeconds)",message="timeoutSeconds is immutable",fieldPath=".timeoutSeconds"
// +kubebuilder:validation:XValidation:rule="self.retries == oldSelf.retries",message="retries is immutable",fieldPath=".retries"
// +kubebuilder:validation:XValidation:rule="has(self.progressInterval) == has(oldSelf.progressInterval) && (!has(self.progressInterval) || self.progressInterval == oldSelf.progressInterval)",message="progressInterval is immutable",fieldPath=".progressInterval"
// +kubebuilder:validation:XValidation:rule="has(self.progressDeadlineSeconds) == has(oldSelf.progressDeadlineSeconds) && (!has(self.progressDeadlineSeconds) || self.progressDeadlineSeconds == oldSelf.progressDeadlineSeconds)",message="progressDeadlineSeconds is immutable",fieldPath=".progressDeadlineSeconds"
// +kubebuilder:validation:XValidation:rule="has(self.ttlSecondsAfterFinished) == has(oldSelf.ttlSecondsAfterFinished) && (!has(self.ttlSecondsAfterFinished) || self.ttlSecondsAfterFinished == oldSelf.ttlSecondsAfterFinished)",message="ttlSecondsAfterFinished is immutable",fieldPath=".ttlSecondsAfterFinished"
// +kubebuilder:validation:XValidation:rule="(has(self.cancel) && self.cancel) || !has(oldSelf.cancel) || !oldSelf.cancel",message="cancel cannot be undone once set",fieldPath=".cancel"
// +kubebuilder:validation:XValidation:rule="has(self.templateRef) == has(oldSelf.templateRef) && (!has(self.templateRef) || self.templateRef == oldSelf.templateRef)",message="templateRef is immutable",fieldPath=".templateRef"
// +kubebuilder:validation:XValidation:rule="has(self.parameters) == has(oldSelf.parameters) && (!has(self.parameters) || self.parameters == oldSelf.parameters)",message="parameters are immutable",fieldPath=".parameters"
type LongTaskSpec struct {
	TaskSpec `json:",inline"`

	// templateRef names a LongTaskTemplate in the task's namespace that says what the task runs. The task's
	// total, timeoutSeconds, retries (when above 0), progressInterval, progressDeadlineSeconds and
	// ttlSecondsAfterFinished, when set, override the template's.
	// +optional
	TemplateRef *TemplateRef `json:"templateRef,omitempty"`

	// parameters are the values of the template's parameters, by name.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Parameters []ParameterValue `json:"parameters,omitempty"`

	// cancel stops a running task: its pod gets SIGTERM, then SIGKILL after the grace period, and the
	// task ends Cancelled. It cannot be unset.
	// +optional
	Cancel bool `json:"cancel,omitempty"`
}

// TaskSpec is what a task runs and how: part of a LongTask's spec, or a LongTaskTemplate's task.
type TaskSpec struct {
	Image string `json:"image,omitempty"`

	// command is the program to run and its first arguments, as in a container's command.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=4096
	// +kubebuilder:validation:XValidation:rule="self[0] != ''",message="command[0] must name a program"
	Command []string `json:"command,omitempty"`

	// args are further arguments to the command.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MaxLength=4096
	Args []string `json:"args,omitempty"`

	// env sets environment variables for the task.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=128
	Env []corev1.EnvVar `json:"env,omitempty"`

	// resources are the task container's compute resources.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// podTemplate is a full pod for tasks that need volumes, node selectors or more containers. Its
	// container named "task" runs the task and must have a command. Its serviceAccountName cannot be a
	// task's worker account (longtask-worker-NAME), which may write that task's status.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self.spec.containers.exists(c, c.name == 'task' && has(c.command))",message="podTemplate.spec.containers must have a container named task with a command"
	// +kubebuilder:validation:XValidation:rule="!has(self.spec) || !has(self.spec.serviceAccountName) || !self.spec.serviceAccountName.startsWith('longtask-worker-')",message="serviceAccountName cannot be a task's worker account (longtask-worker-NAME), which may write that task's status: leave it empty and the task runs as its own",fieldPath=".spec.serviceAccountName"
	PodTemplate *corev1.PodTemplateSpec `json:"podTemplate,omitempty"`

	// total is the number of steps, when it is known up front; the task may also report it.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Total *int64 `json:"total,omitempty"`

	// timeoutSeconds is how long the task may run in all, retries included, before it fails with
	// DeadlineExceeded.
	// +optional
	// +kubebuilder:validation:Minimum=1
	TimeoutSeconds *int64 `json:"timeoutSeconds,omitempty"`

	// retries is how many times a failed attempt is run again.
	// +optional
	// +kubebuilder:default=0
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Retries int32 `json:"retries"`

	// progressInterval is the shortest time between two progress writes to the API server.
	// It is 1s when not set.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('100ms') && duration(self) <= duration('1h')",message="progressInterval must be between 100ms and 1h"
	ProgressInterval *metav1.Duration `json:"progressInterval,omitempty"`

	// progressDeadlineSeconds fails a running task whose progress has not changed for this long, with
	// reason ProgressDeadlineExceeded, like a Deployment's progressDeadlineSeconds.
	// +optional
	// +kubebuilder:validation:Minimum=1
	ProgressDeadlineSeconds *int64 `json:"progressDeadlineSeconds,omitempty"`

	// ttlSecondsAfterFinished deletes the LongTask, and with it its Job, this long after it finished.
	// +optional
	// +kubebuilder:validation:Minimum=0
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
}

// DefaultProgressInterval is spec.progressInterval when it is not set.
const DefaultProgressInterval = time.Second

// Interval is progressInterval, or its default.
func (s *TaskSpec) Interval() time.Duration {
	if s.ProgressInterval == nil {
		return DefaultProgressInterval
	}
	return s.ProgressInterval.Duration
}

// Phase is where a LongTask is in its life.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;Cancelled
type Phase string

// The phases of a LongTask; Succeeded, Failed and Cancelled are final.
const (
	PhasePending   Phase = "Pending"
	PhaseRunning   Phase = "Running"
	PhaseSucceeded Phase = "Succeeded"
	PhaseFailed    Phase = "Failed"
	PhaseCancelled Phase = "Cancelled"
)

// Finished reports whether the phase is final.
func (p Phase) Finished() bool {
	return p == PhaseSucceeded || p == PhaseFailed || p == PhaseCancelled
}

// OrPending is the phase, Pending when it is empty: a task the controller has not written a status for yet
// is waiting to start.
func (p Phase) OrPending() Phase {
	if p == "" {
		return PhasePending
	}
	return p
}

// Phases are every phase, in the order a task goes through them.
func Phases() []Phase {
	return []Phase{PhasePending, PhaseRunning, PhaseSucceeded, PhaseFailed, PhaseCancelled}
}

// Condition types of a LongTask.
const (
	ConditionRunning   = "Running"
	ConditionSucceeded = "Succeeded"
	ConditionFailed    = "Failed"
	ConditionCancelled = "Cancelled"
)

// Progress is how far the task has come, as its worker last reported it.
type Progress struct {
	// current is the number of steps done.
	Current int64 `json:"current"`
	// total is the number of steps in all; 0 when unknown.
	// +optional
	Total int64 `json:"total,omitempty"`
	// percent is current as a share of total, from 0 to 100.
	Percent int32 `json:"percent"`
	// summary is the progress as printed by kubectl: "12/25 (48%)".
	// +kubebuilder:validation:MaxLength=64
	Summary string `json:"summary"`
	// message is what the task said it is doing, at most 1 KiB.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// updateTime is when the progress last changed: a new current, total or message, or a new attempt.
	// +optional
	UpdateTime *metav1.Time `json:"updateTime,omitempty"`
	// attempt is the attempt that made the report, from 1.
	// +optional
	Attempt int32 `json:"attempt,omitempty"`
	// rate is how fast steps are done, smoothed over recent reports: "2.5/s", "12/min", "3/h". It is empty
	// until enough reports came in to say.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Rate string `json:"rate,omitempty"`
	// eta is when the task should finish at the current rate, when the total is known.
	// +optional
	ETA *metav1.Time `json:"eta,omitempty"`
	// remaining is the time left until eta as of the write that carried it, for people: "1m20s".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	Remaining string `json:"remaining,omitempty"`
}

// Failure says why a task failed.
type Failure struct {
	// reason is a CamelCase word: TaskFailed, DeadlineExceeded, ...
	// +kubebuilder:validation:MaxLength=1024
	Reason FailureReason `json:"reason"`
	// message explains the failure to a person.
	// +kubebuilder:validation:MaxLength=32768
	Message string `json:"message"`
	// exitCode is the task program's exit code in its last attempt, when it exited.
	// +optional
	ExitCode *int32 `json:"exitCode,omitempty"`
	// output holds the last lines the task printed before it failed, at most 4 KiB.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Output string `json:"output,omitempty"`
}

// LongTaskStatus is what the task is doing. The worker writes progress and result; the controller writes
// the rest.
type LongTaskStatus struct {
	// phase is Pending, Running, Succeeded, Failed or Cancelled.
	// +optional
	Phase Phase `json:"phase,omitempty"`

	// conditions are Running, Succeeded, Failed and Cancelled, for kubectl wait.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the spec generation the status was computed from.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// progress is the latest progress the task reported.
	// +optional
	Progress *Progress `json:"progress,omitempty"`

	// jobName is the Job that runs the task.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	JobName string `json:"jobName,omitempty"`

	// attempts counts the attempts started so far.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// startTime is when the Job started the task.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the task finished, whichever way.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// result is what the task reported as its result (::result), at most 32 KiB.
	// +optional
	// +kubebuilder:validation:MaxLength=32768
	Result string `json:"result,omitempty"`

	// failure says why the task failed.
	// +optional
	Failure *Failure `json:"failure,omitempty"`

	// checkpoint is the latest checkpoint the task reported (::checkpoint), at most 4 KiB. A retried
	// attempt gets it in LONGTASK_CHECKPOINT, so it can resume where the last one stopped.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Checkpoint string `json:"checkpoint,omitempty"`

	// resolvedTask is what a task with a templateRef runs: its template's task with the parameters filled
	// in and the task's own overrides applied, fixed when the task first started so that later changes to
	// the template do not change it.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	ResolvedTask *TaskSpec `json:"resolvedTask,omitempty"`

	// effectiveProgressInterval is the shortest time between two progress writes that the worker keeps to:
	// spec.progressInterval, or longer when the manager's cluster-wide write budget is shared by many
	// running tasks.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=64
	// A value that is not a duration would be stored, and then no typed client could read the task, nor
	// list its namespace's tasks: the rule keeps a program that writes its status directly from hiding
	// every task. CEL parses durations as Go does.
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('0s')",message="effectiveProgressInterval must be a duration of 0s or more, such as 1s or 1m30s"
	EffectiveProgressInterval *metav1.Duration `json:"effectiveProgressInterval,omitempty"`
}

// status.resolvedTask has no schema (the pod template's would double the CRD's size), so a value of any shape
// could be stored in it, and then no typed client could read the task, nor list its namespace's tasks. The
// controller writes it once, for a task with a templateRef, before the task's Job and so before any worker
// token exists: the rule lets nobody else write it after that, nor on a task without a templateRef.
// +kubebuilder:validation:XValidation:rule="has(oldSelf.status) && has(oldSelf.status.resolvedTask) ? has(self.status) && has(self.status.resolvedTask) && self.status.resolvedTask == oldSelf.status.resolvedTask : !has(self.status) || !has(self.status.resolvedTask) || has(self.spec.templateRef)",message="status.resolvedTask is written once, by the controller, for a task with a templateRef: it cannot be changed or removed, nor set on a task without one",fieldPath=".status.resolvedTask"

// LongTask runs a program as a Job and shows its progress.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lt,categories=all
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 63",message="metadata.name must be no more than 63 characters: it names the task's Job"
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=`.status.progress.summary`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.progress.message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="ETA",type=string,JSONPath=`.status.progress.remaining`,priority=1
// +kubebuilder:printcolumn:name="Rate",type=string,JSONPath=`.status.progress.rate`,priority=1
// +kubebuilder:printcolumn:name="Attempts",type=integer,JSONPath=`.status.attempts`,priority=1
// +kubebuilder:printcolumn:name="Job",type=string,JSONPath=`.status.jobName`,priority=1
type LongTask struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LongTaskSpec   `json:"spec"`
	Status LongTaskStatus `json:"status,omitempty"`
}

// LongTaskList is a list of LongTasks.
// +kubebuilder:object:root=true
type LongTaskList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LongTask `json:"items"`
}
