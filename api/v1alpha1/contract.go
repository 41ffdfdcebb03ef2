package v1alpha1

import "fmt"

// The contract between the controller, the worker and the UI: names that more than one binary relies on are
// defined here once so they cannot drift apart.
const (
	// LabelTaskName is set on a LongTask's Job and pods to the LongTask's name.
	LabelTaskName = "longtask.dev/name"
	// LabelTemplate is set on the tasks the UI starts from a template, to the template's name, so that
	// kubectl get -l can list them.
	LabelTemplate = "longtask.dev/template"
	// LabelQueueName is Kueue's queue label; the controller copies it from the LongTask to its Job.
	LabelQueueName = "kueue.x-k8s.io/queue-name"

	// TaskContainerName is the container that runs the task, in the Job the controller builds and in a
	// user's spec.podTemplate.
	TaskContainerName = "task"
	// InstallContainerName is the init container that copies the worker binary into the task's pod.
	InstallContainerName = "install-worker"
	// WorkerMountPath is where the worker's emptyDir is mounted in the task container: the worker binary
	// and the progress and result files live there.
	WorkerMountPath = "/longtask"
	// WorkerDir is where the worker binary is installed inside the task container.
	WorkerDir = WorkerMountPath + "/bin"
	// ProgressFilePath and ResultFilePath are the progress and result files in a task's pod.
	ProgressFilePath = WorkerMountPath + "/progress"
	ResultFilePath   = WorkerMountPath + "/result"
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

	// EnvAttempt is the attempt number, from 1, given to the task's program.
	EnvAttempt = "LONGTASK_ATTEMPT"
	// EnvCheckpoint is the last checkpoint of an earlier attempt, given to the task's program.
	EnvCheckpoint = "LONGTASK_CHECKPOINT"
	// EnvProgressFile names a file the program may write progress to, one report a line; the last wins.
	EnvProgressFile = "LONGTASK_PROGRESS_FILE"
	// EnvArgoProgressFile is Argo Workflows' name for the progress file, set to the same path so that
	// containers written for Argo work unchanged.
	EnvArgoProgressFile = "ARGO_PROGRESS_FILE"
	// EnvResultFile names a file the program may write its result to; it is read when the program exits.
	EnvResultFile = "LONGTASK_RESULT_FILE"
	// EnvGracePeriod is the pod's termination grace period, so the worker can stop the program and write
	// the last progress before the kubelet kills the container.
	EnvGracePeriod = "LONGTASK_GRACE_PERIOD"

	// WorkerFieldOwner is the field manager of the worker's status writes.
	WorkerFieldOwner = "longtask-worker"
	// ControllerFieldOwner is the field manager of the controller's writes.
	ControllerFieldOwner = "longtask-controller"
	// UIFieldOwner is the field manager of what the UI writes: tasks started and cancelled from its pages,
	// and its session key's Secret.
	UIFieldOwner = "longtask-ui"

	// The caps on the status's free text. The worker and the controller cut what they write to so many
	// bytes; the CRD's maxLength markers, which count characters, carry the same numbers (a test holds
	// them equal), so the API server never refuses what they write and refuses a task's program that
	// writes the status directly, with the worker's token, anything longer. The checkpoint's cap is the
	// progress protocol's, progress.MaxCheckpointBytes.

	// MaxProgressMessageBytes caps status.progress.message.
	MaxProgressMessageBytes = 1024
	// MaxProgressFigureBytes caps what the worker and the controller format from numbers:
	// status.progress.summary, rate and remaining, and status.effectiveProgressInterval. The longest they
	// can make is under 50 bytes.
	MaxProgressFigureBytes = 64
	// MaxResultBytes caps status.result.
	MaxResultBytes = 32 * 1024
	// MaxOutputBytes caps status.failure.output, the last lines a failed task printed.
	MaxOutputBytes = 4 * 1024
	// MaxTerminationMessageBytes is the most of a container's termination message the kubelet keeps; the
	// worker's TerminationMessage, encoded as JSON, must fit in it whole to be read back.
	MaxTerminationMessageBytes = 4 * 1024
)

// TerminationMessage is what the worker writes to its container's termination log when the task's
// program fails; the controller reads it from the pod's status into status.failure.
type TerminationMessage struct {
	// Reason is a reason the worker writes (FailureReason.WrittenByWorker).
	Reason FailureReason `json:"reason"`
	// Message says what happened.
	Message string `json:"message"`
	// Output is the last lines the program printed.
	Output string `json:"output,omitempty"`
}

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
