package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasks"
)

// getTask reads a task, saying where it looked when it is not there.
func getTask(ctx context.Context, clients *Clients, namespace, name string) (*longtaskv1.LongTask, error) {
	task := &longtaskv1.LongTask{}
	if err := clients.Tasks.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, task); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, withCode(ExitError, fmt.Errorf("longtask %q not found in namespace %q", name, namespace))
		}
		return nil, withCode(ExitError, fmt.Errorf("reading longtask %q in namespace %q: %w", name, namespace, err))
	}
	return task, nil
}

func newCancelCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel NAME...",
		Short: "Stop tasks: their pods get SIGTERM, and they end Cancelled",
		Long: "Set spec.cancel on each task, as `kubectl patch --type merge -p '{\"spec\":{\"cancel\":true}}'` would.\n" +
			"The controller stops the task's pod; the task ends Cancelled and keeps its last progress.",
		Example: "  kubectl longtask cancel resize",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usage("cancel wants the names of the tasks to cancel")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, names []string) error {
			clients, namespace, err := o.connect()
			if err != nil {
				return err
			}
			var errs []error
			for _, name := range names {
				if err := o.cancel(cmd.Context(), clients, namespace, name); err != nil {
					errs = append(errs, err)
				}
			}
			if err := errors.Join(errs...); err != nil {
				return withCode(ExitError, err)
			}
			return nil
		},
	}
}

// cancel cancels the task, unless it finished (tasks.Cancel).
func (o *options) cancel(ctx context.Context, clients *Clients, namespace, name string) error {
	task, cancelled, err := tasks.Cancel(ctx, clients.Tasks, client.ObjectKey{Namespace: namespace, Name: name}, FieldOwner)
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("longtask %q not found in namespace %q", name, namespace)
	case err != nil:
		return err
	case !cancelled:
		fmt.Fprintf(o.env.Streams.Out, "longtask/%s already %s, nothing to cancel\n", name, task.Status.Phase)
	default:
		fmt.Fprintf(o.env.Streams.Out, "longtask/%s cancelled\n", name)
	}
	return nil
}

func newResultCommand(o *options) *cobra.Command {
	return &cobra.Command{
		Use:   "result NAME",
		Short: "Print a finished task's result",
		Long: "Print status.result of a task that succeeded. For a task that failed or was cancelled, say why and exit 1;\n" +
			"for one that has not finished, say so and exit 3. Escape sequences and control characters in the result\n" +
			"are dropped when the output is a terminal, and kept when it is a pipe or a file.",
		Example: "  kubectl longtask result resize > result.json",
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usage("result wants one task's name")
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
			return o.result(task)
		},
	}
}

// result prints a succeeded task's result, or says why there is none.
func (o *options) result(task *longtaskv1.LongTask) error {
	out, errOut := o.env.Streams.Out, o.env.Streams.ErrOut
	v := newTaskView(task, task.Name, nil, o.env.Clock.Now())
	switch task.Status.Phase {
	case longtaskv1.PhaseSucceeded:
		result := task.Status.Result
		if result == "" {
			fmt.Fprintf(errOut, "longtask/%s succeeded without a result\n", task.Name)
			return nil
		}
		if o.env.Terminal {
			result = printableLines(result)
			if !strings.HasSuffix(result, "\n") {
				result += "\n"
			}
		}
		_, err := io.WriteString(out, result)
		return err
	case longtaskv1.PhaseFailed, longtaskv1.PhaseCancelled:
		writeOutcome(errOut, v)
		return silent(ExitTaskFailed)
	default:
		fmt.Fprintf(errOut, "longtask/%s has not finished: %s, no result yet\n", task.Name, strings.TrimSuffix(v.phaseText()+" "+v.Summary, " "))
		return silent(ExitNotFinished)
	}
}

// writeOutcome says how a task that did not succeed ended, and its last lines.
func writeOutcome(w io.Writer, v taskView) {
	switch {
	case v.Deleted:
		fmt.Fprintf(w, "longtask/%s was deleted before it finished\n", v.Name)
	case v.Failure != "":
		fmt.Fprintf(w, "longtask/%s %s: %s\n", v.Name, v.phaseText(), v.Failure)
	default:
		fmt.Fprintf(w, "longtask/%s %s\n", v.Name, v.phaseText())
	}
	for _, line := range v.Output {
		fmt.Fprintf(w, "  | %s\n", line)
	}
}
