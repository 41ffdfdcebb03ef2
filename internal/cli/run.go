package cli

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasks"
	"github.com/longtask-dev/longtask/internal/tasktemplate"
)

// runOptions are `run`'s flags.
type runOptions struct {
	parameters   []string
	image        string
	name         string
	generateName string
	total        int64
	watch        bool
	output       string
}

func newRunCommand(o *options) *cobra.Command {
	var ro runOptions
	cmd := &cobra.Command{
		Use:   "run (TEMPLATE [-p NAME=VALUE]... | [--image IMAGE] -- COMMAND [ARG]...)",
		Short: "Start a task from a template, or one that runs a command",
		Long: "Start a LongTask from a LongTaskTemplate with values for its parameters, or one that runs a command in\n" +
			"an image. Values are checked against the template before anything is created. Prints the task's name;\n" +
			"with --watch, then shows its progress until it finished, and exits with its outcome.",
		Example: "  kubectl longtask run resize-photos -p count=150 -p album=cats --watch\n" +
			"  kubectl longtask run --image busybox:1.36 --name hello -- sh -c 'echo ::progress 1/1 hello'",
		RunE: func(cmd *cobra.Command, args []string) error {
			before, command := args, []string(nil)
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				before, command = args[:dash], args[dash:]
			}
			task, template, err := ro.check(before, command)
			if err != nil {
				return err
			}
			clients, namespace, err := o.connect()
			if err != nil {
				return err
			}
			if template != "" {
				if task, err = ro.fromTemplate(cmd.Context(), clients, namespace, template); err != nil {
					return err
				}
			}
			task.Namespace = namespace
			return o.run(cmd.Context(), clients, task, ro)
		},
	}
	cmd.Flags().StringArrayVarP(&ro.parameters, "param", "p", nil, "a template parameter's value, NAME=VALUE (repeat for more)")
	cmd.Flags().StringVar(&ro.image, "image", "", "the image that runs COMMAND (default: the manager's worker image)")
	cmd.Flags().StringVar(&ro.name, "name", "", "the task's name")
	cmd.Flags().StringVar(&ro.generateName, "generate-name", "", "a prefix the API server completes into a unique name (default: the template's or command's name and -)")
	cmd.Flags().Int64Var(&ro.total, "total", 0, "spec.total: the number of steps, when known up front")
	cmd.Flags().BoolVarP(&ro.watch, "watch", "w", false, "then watch the task until it finished, and exit with its outcome")
	cmd.Flags().StringVarP(&ro.output, "output", "o", "", "name: print only the task's name")
	return cmd
}

// check checks the command line before anything is read or created: it returns the task to create for a
// command, or the template to read.
func (ro *runOptions) check(before, command []string) (*longtaskv1.LongTask, string, error) {
	switch {
	case ro.name != "" && ro.generateName != "":
		return nil, "", usage("--name and --generate-name go one at a time")
	case ro.output != "" && ro.output != "name":
		return nil, "", usage("-o wants name, got %q", ro.output)
	case ro.total < 0:
		return nil, "", usage("--total wants a number of steps, 0 or more, got %d", ro.total)
	case len(command) > 0 && len(before) > 0:
		return nil, "", usage("run takes a template or a command after --, not both (got %q and %q)", before, command)
	case len(command) > 0 && len(ro.parameters) > 0:
		return nil, "", usage("-p gives values to a template's parameters; a command has none")
	case len(command) > 0:
		return ro.commandTask(command), "", nil
	case ro.image != "":
		return nil, "", usage("--image wants a command after --: run --image IMAGE -- COMMAND [ARG]...")
	case len(before) != 1:
		return nil, "", usage("run wants a template's name, or -- and a command")
	}
	if _, err := parseParameters(ro.parameters); err != nil {
		return nil, "", err
	}
	return nil, before[0], nil
}

// parseParameters reads -p NAME=VALUE flags, in the order given.
func parseParameters(flags []string) ([]longtaskv1.ParameterValue, error) {
	var values []longtaskv1.ParameterValue
	seen := map[string]bool{}
	for _, flag := range flags {
		name, value, ok := strings.Cut(flag, "=")
		if !ok || name == "" {
			return nil, usage("-p wants NAME=VALUE, got %q", flag)
		}
		if seen[name] {
			return nil, usage("-p %s is given twice", name)
		}
		seen[name] = true
		values = append(values, longtaskv1.ParameterValue{Name: name, Value: value})
	}
	return values, nil
}

// commandTask is a task that runs command in the image.
func (ro *runOptions) commandTask(command []string) *longtaskv1.LongTask {
	task := &longtaskv1.LongTask{Spec: longtaskv1.LongTaskSpec{TaskSpec: longtaskv1.TaskSpec{
		Image: ro.image, Command: command,
	}}}
	task.GenerateName = tasks.NamePrefix(path.Base(command[0]))
	ro.applyFlags(task)
	return task
}

// fromTemplate reads the template and returns the task that runs it with the -p values, once the values
// fit the template. The controller checks them again: it is the authority, this is to refuse a mistake
// before anything is created.
func (ro *runOptions) fromTemplate(ctx context.Context, clients *Clients, namespace, name string) (*longtaskv1.LongTask, error) {
	template := &longtaskv1.LongTaskTemplate{}
	if err := clients.Tasks.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, template); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, withCode(ExitError, fmt.Errorf("template %q not found in namespace %q", name, namespace))
		}
		return nil, withCode(ExitError, fmt.Errorf("reading template %q in namespace %q: %w", name, namespace, err))
	}
	given, err := parseParameters(ro.parameters)
	if err != nil {
		return nil, err
	}
	task := tasks.FromTemplate(template, given)
	ro.applyFlags(task)
	if _, err := tasktemplate.Resolve(&template.Spec, &task.Spec); err != nil {
		// The messages quote the template's patterns and the values given: text from others, made safe to print.
		return nil, withCode(ExitError, fmt.Errorf("template %q refuses the values, nothing was created:\n  %s", name, printableLines(strings.Join(messages(err), "\n  "))))
	}
	return task, nil
}

// applyFlags sets what the flags say of any task: --total, and its name, --name or --generate-name, over
// the prefix made from what it runs.
func (ro *runOptions) applyFlags(task *longtaskv1.LongTask) {
	if ro.total > 0 {
		task.Spec.Total = &ro.total
	}
	switch {
	case ro.name != "":
		task.Name, task.GenerateName = ro.name, ""
	case ro.generateName != "":
		task.GenerateName = ro.generateName
	}
}

// messages are the separate complaints in err, one per parameter when it is about parameters.
func messages(err error) []string {
	var aggregate utilerrors.Aggregate
	if errors.As(err, &aggregate) {
		var all []string
		for _, e := range utilerrors.Flatten(aggregate).Errors() {
			all = append(all, e.Error())
		}
		return all
	}
	return []string{err.Error()}
}

// run creates the task, says its name, and watches it when asked to.
func (o *options) run(ctx context.Context, clients *Clients, task *longtaskv1.LongTask, ro runOptions) error {
	if err := clients.Tasks.Create(ctx, task, client.FieldOwner(FieldOwner)); err != nil {
		return withCode(ExitError, fmt.Errorf("creating the task in namespace %q: %w", task.Namespace, err))
	}
	if ro.output == "name" {
		fmt.Fprintln(o.env.Streams.Out, task.Name)
	} else {
		fmt.Fprintf(o.env.Streams.Out, "longtask/%s created\n", task.Name)
	}
	if !ro.watch {
		return nil
	}
	return o.watch(ctx, clients, watchRequest{Namespace: task.Namespace, Names: []string{task.Name}})
}
