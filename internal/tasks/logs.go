package tasks

import (
	"cmp"
	"context"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// DefaultLogRetry is how long FollowLogs waits, by default, before it looks again for a pod that has not
// started, or for the next attempt's.
const DefaultLogRetry = time.Second

// LogFollow says whose output FollowLogs follows, and where it goes.
type LogFollow struct {
	// Kube reads the task's pods and their output.
	Kube kubernetes.Interface
	// Get reads the task as it is now. Its error ends the follow.
	Get func(context.Context) (*longtaskv1.LongTask, error)
	// FirstTail starts the first pod's output so many lines back; nil for all of it. A later attempt's
	// output is read from its start.
	FirstTail *int64
	// Retry is how long to wait before looking again for a pod that has not started, or for the next
	// attempt's; DefaultLogRetry when zero.
	Retry time.Duration
	// Output takes each pod's output as it opens, in the order of the attempts, until it ends; first is
	// true for the first pod followed. Its error ends the follow.
	Output func(pod *corev1.Pod, first bool, output io.Reader) error
	// Unreadable, if set, is told of the newest pod of a finished task whose output cannot be read (it
	// never started, or is gone with its node), which ends the follow: no other attempt will come.
	Unreadable func(pod *corev1.Pod, err error)
}

// FollowLogs follows a task's output across its attempts: from its newest pod on, each pod's output until
// it ends, until the task finished and its last pod's output ended. It returns the task as it last read
// it, finished unless an error (Get's, Output's, the API server's, or ctx's) ended the follow first.
func FollowLogs(ctx context.Context, f LogFollow) (*longtaskv1.LongTask, error) {
	followed := ""
	for {
		task, err := f.Get(ctx)
		if err != nil {
			return nil, err
		}
		pod, err := NewestPod(ctx, f.Kube, task)
		if err != nil {
			return task, err
		}
		if pod != nil && pod.Name != followed {
			opts := &corev1.PodLogOptions{Container: longtaskv1.TaskContainerName, Follow: true}
			first := followed == ""
			if first {
				opts.TailLines = f.FirstTail
			}
			output, err := f.Kube.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, opts).Stream(ctx)
			switch {
			case err == nil:
				// Once its output started, a pod is followed once: output that broke off is not read again.
				followed = pod.Name
				err = f.Output(pod, first, output)
				output.Close()
				if err != nil {
					return task, err
				}
				// It ended: the task may have finished, or started its next attempt.
				continue
			case task.Status.Phase.Finished() && ctx.Err() == nil:
				if f.Unreadable != nil {
					f.Unreadable(pod, err)
				}
				return task, nil
			}
			// The pod has not started yet: look again in a moment.
		}
		if task.Status.Phase.Finished() && (pod == nil || pod.Name == followed) {
			return task, nil
		}
		select {
		case <-ctx.Done():
			return task, ctx.Err()
		case <-time.After(cmp.Or(f.Retry, DefaultLogRetry)):
		}
	}
}
