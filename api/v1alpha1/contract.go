package v1alpha1

import "fmt"

// The contract between the controller, the worker and the UI: names that more than one binary relies on are
// defined here once so they cannot drift apart.
const (
	// LabelTaskName is set on a LongTask's Job and pods to the LongTask's name.
	LabelTaskName = "longtask.dev/name"
	// LabelQueueName is Kueue's queue label; the controller copies it from the LongTask to its Job.
	LabelQueueName = "kueue.x-k8s.io/queue-name"

	// TaskContainerName is the container that runs the task, in the Job the controller builds and in a
	// user's spec.podTemplate.
	TaskContainerName = "task"
	// InstallContainerName is the init container that copies the worker binary into the task's pod.
	InstallContainerName = "install-worker"
	// WorkerDir is where the worker binary is installed inside the task container.
	WorkerDir = "/longtask/bin"
	// WorkerBinary is the worker's executable name, in the worker image and in WorkerDir.
	WorkerBinary = "longtask-worker"

	// EnvTaskName names the LongTask a worker reports to.
	EnvTaskName = "LONGTASK_NAME"
	// EnvTaskNamespace is the namespace of the LongTask a worker reports to.
	EnvTaskNamespace = "LONGTASK_NAMESPACE"
	// EnvProgressInterval is the minimum time between two progress writes, as a Go duration.
	EnvProgressInterval = "LONGTASK_PROGRESS_INTERVAL"
	// EnvTotal is the spec's total, when it has one, for reports that give only a current step.
	EnvTotal = "LONGTASK_TOTAL"

	// WorkerFieldOwner is the field manager of the worker's status writes.
	WorkerFieldOwner = "longtask-worker"
	// ControllerFieldOwner is the field manager of the controller's writes.
	ControllerFieldOwner = "longtask-controller"

	// MaxMessageBytes caps status.progress.message.
	MaxMessageBytes = 1024
	// MaxResultBytes caps status.result.
	MaxResultBytes = 32 * 1024
	// MaxOutputBytes caps status.failure.output, the last lines a failed task printed.
	MaxOutputBytes = 4 * 1024
)

// Percent is how far current is towards total, from 0 to 100; 0 when the total is unknown.
func Percent(current, total int64) int32 {
	switch {
	case total <= 0 || current <= 0:
		return 0
	case current >= total:
		return 100
	default:
		return int32(current * 100 / total)
	}
}

// Summary is the progress as `kubectl get longtasks` shows it: "12/25 (48%)", or "12" when the total is
// unknown.
func Summary(current, total int64) string {
	if total <= 0 {
		return fmt.Sprintf("%d", current)
	}
	return fmt.Sprintf("%d/%d (%d%%)", current, total, Percent(current, total))
}
