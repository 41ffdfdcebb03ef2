package cli

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasks"
)

func newLogsCommand(o *options) *cobra.Command {
	var follow bool
	var tail int64
	cmd := &cobra.Command{
		Use:   "logs NAME [-f]",
		Short: "Print a task's output: its newest attempt's, or follow every attempt until it finished",
		Long: "Print the output of the task's newest pod (its current or last attempt). With -f, follow it, then\n" +
			"each later attempt's pod, until the task finished; then exit 0 if it succeeded, 1 if not. The output\n" +
			"is passed through as the task printed it, as kubectl logs does.",
		Example: "  kubectl longtask logs resize -f",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usage("logs wants one task's name")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			clients, namespace, err := o.connect()
			if err != nil {
				return err
			}
			task, err := getTask(cmd.Context(), clients, namespace, args[0])
			if err != nil {
				return err
			}
			var tailLines *int64
			if tail >= 0 {
				tailLines = ptr.To(tail)
			}
			if !follow {
				return o.logs(cmd.Context(), clients, task, &corev1.PodLogOptions{Container: longtaskv1.TaskContainerName, TailLines: tailLines})
			}
			return o.followLogs(cmd.Context(), clients, task, tailLines)
		},
	}
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "follow the output, and the next attempts', until the task finished")
	cmd.Flags().Int64Var(&tail, "tail", -1, "the last lines of the first pod to print (default: all)")
	return cmd
}

// logs prints the output of the task's newest pod.
func (o *options) logs(ctx context.Context, clients *Clients, task *longtaskv1.LongTask, opts *corev1.PodLogOptions) error {
	pod, err := tasks.NewestPod(ctx, clients.Kube, task)
	if err != nil {
		return withCode(ExitError, err)
	}
	if pod == nil {
		return withCode(ExitError, fmt.Errorf("longtask %q has no pod (it is %s)", task.Name, task.Status.Phase.OrPending()))
	}
	if err := copyLogs(ctx, clients.Kube, pod, opts, o.env.Streams.Out); err != nil {
		return withCode(ExitError, fmt.Errorf("reading the output of pod %q: %w", pod.Name, err))
	}
	return nil
}

// followLogs prints each attempt's output as it comes, from the newest pod on, until the task finished and
// its last pod's output ended (tasks.FollowLogs); it exits with the task's outcome.
func (o *options) followLogs(ctx context.Context, clients *Clients, task *longtaskv1.LongTask, tail *int64) error {
	out, errOut := o.env.Streams.Out, o.env.Streams.ErrOut
	key := client.ObjectKeyFromObject(task)
	task, err := tasks.FollowLogs(ctx, tasks.LogFollow{
		Kube: clients.Kube,
		Get: func(ctx context.Context) (*longtaskv1.LongTask, error) {
			current := &longtaskv1.LongTask{}
			if err := clients.Tasks.Get(ctx, key, current); apierrors.IsNotFound(err) {
				return nil, withCode(ExitTaskFailed, fmt.Errorf("longtask %q was deleted before it finished", key.Name))
			} else if err != nil {
				return nil, withCode(ExitError, fmt.Errorf("reading longtask %q: %w", key.Name, err))
			}
			return current, nil
		},
		FirstTail: tail,
		Retry:     o.env.LogRetry,
		Output: func(pod *corev1.Pod, first bool, output io.Reader) error {
			if !first {
				fmt.Fprintf(errOut, "--- next attempt: pod %s ---\n", pod.Name)
			}
			if _, err := io.Copy(out, output); err != nil && ctx.Err() == nil {
				fmt.Fprintf(errOut, "--- the output of pod %s broke off: %v ---\n", pod.Name, err)
			}
			return nil
		},
		Unreadable: func(pod *corev1.Pod, err error) {
			fmt.Fprintf(errOut, "--- the output of pod %s cannot be read: %v ---\n", pod.Name, err)
		},
	})
	switch {
	case ctx.Err() != nil:
		return withCode(ExitInterrupted, fmt.Errorf("interrupted before the task finished"))
	case err != nil:
		return err
	case task.Status.Phase != longtaskv1.PhaseSucceeded:
		writeOutcome(errOut, newTaskView(task, task.Name, nil, o.env.Clock.Now()))
		return silent(ExitTaskFailed)
	}
	return nil
}

// copyLogs copies the pod's task container's output to out, as it is.
func copyLogs(ctx context.Context, kube kubernetes.Interface, pod *corev1.Pod, opts *corev1.PodLogOptions, out io.Writer) error {
	stream, err := kube.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, opts).Stream(ctx)
	if err != nil {
		return err
	}
	defer stream.Close()
	_, err = io.Copy(out, stream)
	return err
}
