// Package testing builds LongTasks, Jobs and pods for tests.
package testing

import (
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// LongTaskWrapper builds a LongTask.
type LongTaskWrapper struct{ longtaskv1.LongTask }

// MakeLongTask returns a LongTask that runs `sleep 1`, with the API's defaults applied.
func MakeLongTask(name, namespace string) *LongTaskWrapper {
	return &LongTaskWrapper{longtaskv1.LongTask{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, UID: "task-uid"},
		Spec: longtaskv1.LongTaskSpec{TaskSpec: longtaskv1.TaskSpec{
			Command: []string{"sleep", "1"},
		}},
	}}
}

// Obj returns the LongTask.
func (w *LongTaskWrapper) Obj() *longtaskv1.LongTask { return &w.LongTask }

// Image sets the task's image.
func (w *LongTaskWrapper) Image(image string) *LongTaskWrapper { w.Spec.Image = image; return w }

// Command sets the task's command.
func (w *LongTaskWrapper) Command(command ...string) *LongTaskWrapper {
	w.Spec.Command = command
	return w
}

// Args sets the task's args.
func (w *LongTaskWrapper) Args(args ...string) *LongTaskWrapper { w.Spec.Args = args; return w }

// Env adds an environment variable.
func (w *LongTaskWrapper) Env(name, value string) *LongTaskWrapper {
	w.Spec.Env = append(w.Spec.Env, corev1.EnvVar{Name: name, Value: value})
	return w
}

// Total sets spec.total.
func (w *LongTaskWrapper) Total(total int64) *LongTaskWrapper { w.Spec.Total = &total; return w }

// Retries sets spec.retries.
func (w *LongTaskWrapper) Retries(retries int32) *LongTaskWrapper { w.Spec.Retries = retries; return w }

// Timeout sets spec.timeoutSeconds.
func (w *LongTaskWrapper) Timeout(seconds int64) *LongTaskWrapper {
	w.Spec.TimeoutSeconds = &seconds
	return w
}

// ProgressInterval sets spec.progressInterval.
func (w *LongTaskWrapper) ProgressInterval(d time.Duration) *LongTaskWrapper {
	w.Spec.ProgressInterval = &metav1.Duration{Duration: d}
	return w
}

// ProgressDeadline sets spec.progressDeadlineSeconds.
func (w *LongTaskWrapper) ProgressDeadline(seconds int64) *LongTaskWrapper {
	w.Spec.ProgressDeadlineSeconds = &seconds
	return w
}

// TTL sets spec.ttlSecondsAfterFinished.
func (w *LongTaskWrapper) TTL(seconds int32) *LongTaskWrapper {
	w.Spec.TTLSecondsAfterFinished = &seconds
	return w
}

// Cancel sets spec.cancel.
func (w *LongTaskWrapper) Cancel() *LongTaskWrapper { w.Spec.Cancel = true; return w }

// Label sets a label.
func (w *LongTaskWrapper) Label(key, value string) *LongTaskWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[key] = value
	return w
}

// PodTemplate replaces the task's image, command and args with a pod template.
func (w *LongTaskWrapper) PodTemplate(template corev1.PodTemplateSpec) *LongTaskWrapper {
	w.Spec.Image, w.Spec.Command, w.Spec.Args = "", nil, nil
	w.Spec.PodTemplate = &template
	return w
}

// TemplateRef replaces the task's command with the template it names.
func (w *LongTaskWrapper) TemplateRef(name string) *LongTaskWrapper {
	w.Spec.Command = nil
	w.Spec.TemplateRef = &longtaskv1.TemplateRef{Name: name}
	return w
}

// Parameter gives a template parameter a value.
func (w *LongTaskWrapper) Parameter(name, value string) *LongTaskWrapper {
	w.Spec.Parameters = append(w.Spec.Parameters, longtaskv1.ParameterValue{Name: name, Value: value})
	return w
}

// Phase sets status.phase.
func (w *LongTaskWrapper) Phase(phase longtaskv1.Phase) *LongTaskWrapper {
	w.Status.Phase = phase
	return w
}

// RunningSince puts the task in phase Running, with its Running condition true since at.
func (w *LongTaskWrapper) RunningSince(at time.Time) *LongTaskWrapper {
	w.Status.Phase = longtaskv1.PhaseRunning
	w.Status.Conditions = []metav1.Condition{{
		Type: longtaskv1.ConditionRunning, Status: metav1.ConditionTrue, Reason: "Running", LastTransitionTime: metav1.Time{Time: at},
	}}
	return w
}

// FinishedAt puts the task in a final phase, finished at the given time.
func (w *LongTaskWrapper) FinishedAt(phase longtaskv1.Phase, at time.Time) *LongTaskWrapper {
	w.Status.Phase = phase
	w.Status.CompletionTime = &metav1.Time{Time: at}
	return w
}

// Attempts sets status.attempts.
func (w *LongTaskWrapper) Attempts(n int32) *LongTaskWrapper { w.Status.Attempts = n; return w }

// Progress sets status.progress as the worker would.
func (w *LongTaskWrapper) Progress(current, total int64, message string) *LongTaskWrapper {
	w.Status.Progress = &longtaskv1.Progress{
		Current: current, Total: total, Message: message,
		Percent: longtaskv1.Percent(current, total), Summary: longtaskv1.Summary(current, total),
	}
	return w
}

// TemplateWrapper builds a LongTaskTemplate.
type TemplateWrapper struct{ longtaskv1.LongTaskTemplate }

// MakeTemplate returns a LongTaskTemplate that runs `sleep 1`, with no parameters.
func MakeTemplate(name, namespace string) *TemplateWrapper {
	return &TemplateWrapper{longtaskv1.LongTaskTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       longtaskv1.LongTaskTemplateSpec{Task: longtaskv1.TaskSpec{Command: []string{"sleep", "1"}}},
	}}
}

// Obj returns the LongTaskTemplate.
func (w *TemplateWrapper) Obj() *longtaskv1.LongTaskTemplate { return &w.LongTaskTemplate }

// Parameter adds a parameter.
func (w *TemplateWrapper) Parameter(p longtaskv1.Parameter) *TemplateWrapper {
	w.Spec.Parameters = append(w.Spec.Parameters, p)
	return w
}

// Command sets the task's command.
func (w *TemplateWrapper) Command(command ...string) *TemplateWrapper {
	w.Spec.Task.Command = command
	return w
}

// Args sets the task's args.
func (w *TemplateWrapper) Args(args ...string) *TemplateWrapper { w.Spec.Task.Args = args; return w }

// Env adds an environment variable to the task.
func (w *TemplateWrapper) Env(name, value string) *TemplateWrapper {
	w.Spec.Task.Env = append(w.Spec.Task.Env, corev1.EnvVar{Name: name, Value: value})
	return w
}

// TTL sets the task's ttlSecondsAfterFinished.
func (w *TemplateWrapper) TTL(seconds int32) *TemplateWrapper {
	w.Spec.Task.TTLSecondsAfterFinished = &seconds
	return w
}

// JobWrapper builds a Job's status as the Job controller would.
type JobWrapper struct{ batchv1.Job }

// MakeJob returns a Job with no status.
func MakeJob(name, namespace string) *JobWrapper {
	return &JobWrapper{batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}}
}

// FromJob wraps an existing Job, to change its status.
func FromJob(job *batchv1.Job) *JobWrapper { return &JobWrapper{*job.DeepCopy()} }

// OwnedBy makes the Job the task's own, as the controller creates it.
func (w *JobWrapper) OwnedBy(task *longtaskv1.LongTask) *JobWrapper {
	w.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(task, longtaskv1.GroupVersion.WithKind("LongTask"))}
	return w
}

// Obj returns the Job.
func (w *JobWrapper) Obj() *batchv1.Job { return &w.Job }

// UID sets the Job's UID, which the controller reference of each of its pods names.
func (w *JobWrapper) UID(uid types.UID) *JobWrapper { w.Job.UID = uid; return w }

// Suspend sets spec.suspend.
func (w *JobWrapper) Suspend() *JobWrapper { w.Spec.Suspend = ptr.To(true); return w }

// Started marks the Job started, with one pod active.
func (w *JobWrapper) Started(at time.Time) *JobWrapper {
	w.Status.StartTime = &metav1.Time{Time: at}
	w.Status.Active = 1
	w.Status.Ready = ptr.To[int32](0)
	return w
}

// Ready marks the active pod ready.
func (w *JobWrapper) Ready() *JobWrapper { w.Status.Ready = ptr.To[int32](1); return w }

// Stopped marks the active pod gone without finishing, as after a suspension.
func (w *JobWrapper) Stopped() *JobWrapper {
	w.Status.Active = 0
	w.Status.Ready = ptr.To[int32](0)
	return w
}

// Succeeded finishes the Job successfully at the given time.
func (w *JobWrapper) Succeeded(at time.Time) *JobWrapper {
	w.Status.Active, w.Status.Ready, w.Status.Succeeded = 0, ptr.To[int32](0), 1
	w.Status.CompletionTime = &metav1.Time{Time: at}
	w.condition(batchv1.JobSuccessCriteriaMet, "CompletionsReached", "Reached expected number of succeeded pods", at)
	w.condition(batchv1.JobComplete, "CompletionsReached", "Reached expected number of succeeded pods", at)
	return w
}

// Failed fails the Job at the given time with a reason, after failed attempts.
func (w *JobWrapper) Failed(at time.Time, reason, message string, failed int32) *JobWrapper {
	w.Status.Active, w.Status.Ready, w.Status.Failed = 0, ptr.To[int32](0), failed
	w.condition(batchv1.JobFailureTarget, reason, message, at)
	w.condition(batchv1.JobFailed, reason, message, at)
	return w
}

func (w *JobWrapper) condition(t batchv1.JobConditionType, reason, message string, at time.Time) {
	w.Status.Conditions = append(w.Status.Conditions, batchv1.JobCondition{
		Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message,
		LastProbeTime: metav1.Time{Time: at}, LastTransitionTime: metav1.Time{Time: at},
	})
}

// ControlledBy makes the pod one of the Job's, as the Job controller creates it: its controller reference
// names the Job and the Job's UID. A pod with only the task's label is not the task's.
func ControlledBy(pod *corev1.Pod, job *batchv1.Job) *corev1.Pod {
	pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))}
	return pod
}

// TerminatedPod returns a pod of the task whose task container ended with an exit code and message.
func TerminatedPod(name, namespace, task string, exitCode int32, reason, message string, finishedAt time.Time) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: map[string]string{longtaskv1.LabelTaskName: task}},
		Spec:       corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: longtaskv1.TaskContainerName, Image: "task"}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: longtaskv1.TaskContainerName, Image: "task",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: exitCode, Reason: reason, Message: message,
					StartedAt: metav1.Time{Time: finishedAt.Add(-time.Second)}, FinishedAt: metav1.Time{Time: finishedAt},
				}},
			}},
		},
	}
}
