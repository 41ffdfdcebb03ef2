// Package cli is `kubectl longtask`: it watches LongTasks' progress in a terminal, starts them from
// templates or commands, cancels them, and prints their logs and results, with the user's own kubeconfig.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/clock"
)

// Exit codes, the same for every command, so that scripts can tell a task's outcome from a mistake.
const (
	// ExitOK: the command did what was asked; every task it watched succeeded.
	ExitOK = 0
	// ExitTaskFailed: a task the command watched or asked about failed, was cancelled, or was deleted
	// before it finished.
	ExitTaskFailed = 1
	// ExitError: the command could not do what was asked: bad usage, a task or template that does not
	// exist, a value refused, no rights, the API server unreachable.
	ExitError = 2
	// ExitNotFinished: `result` asked about a task that has not finished yet.
	ExitNotFinished = 3
	// ExitInterrupted: the watch was stopped by Ctrl-C or SIGTERM before every task finished.
	ExitInterrupted = 130
)

// FieldOwner is the field manager of what the plugin creates and patches, so that managedFields tell the
// plugin's writes from kubectl's and the UI's.
const FieldOwner = "kubectl-longtask"

// exitError is an error that ends the command with a given exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e *exitError) Unwrap() error { return e.err }

// withCode makes err end the command with code.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// silent ends the command with code and prints nothing more: the command already said why.
func silent(code int) error { return &exitError{code: code} }

// exitCode is the exit code err asks for: ExitError unless it says otherwise.
func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return ExitError
}

// Env is what the commands use from the world: the streams, the clock, and the connection to the API
// server, which tests replace with fakes.
type Env struct {
	Streams genericiooptions.IOStreams
	Clock   clock.PassiveClock
	// Connect returns clients for the configuration the flags chose.
	Connect func(flags *genericclioptions.ConfigFlags) (*Clients, error)
	// Terminal says whether Out is a terminal, to draw bars rather than print lines.
	Terminal bool
	// LogRetry is how long `logs -f` waits before it looks again for a pod that has not started, or for
	// the next attempt's; tasks.DefaultLogRetry when zero.
	LogRetry time.Duration
}

// DefaultEnv is the process's own: stdin, stdout, stderr, the real clock and API server.
func DefaultEnv() Env {
	return Env{
		Streams:  genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
		Clock:    clock.RealClock{},
		Connect:  Connect,
		Terminal: isTerminal(os.Stdout),
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Run runs `kubectl longtask` with args and returns its exit code.
func Run(ctx context.Context, args []string, env Env) int {
	cmd := NewCommand(env)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	if err.Error() != "" {
		fmt.Fprintln(env.Streams.ErrOut, "error:", err)
	}
	return exitCode(err)
}

// NewCommand is `kubectl longtask` and its subcommands.
func NewCommand(env Env) *cobra.Command {
	flags := genericclioptions.NewConfigFlags(true)
	o := &options{env: env, flags: flags}
	cmd := &cobra.Command{
		Use:   "kubectl-longtask",
		Short: "Watch, start and cancel LongTasks",
		Long: "kubectl longtask watches LongTasks' progress as live bars, starts tasks from templates or commands,\n" +
			"cancels them, and prints their logs and results, with your own kubeconfig's credentials.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl longtask"},
	}
	cmd.SetIn(env.Streams.In)
	cmd.SetOut(env.Streams.Out)
	cmd.SetErr(env.Streams.ErrOut)
	// A flag cobra cannot parse is a usage error, like any other.
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		//nolint:staticcheck // ST1005: the error is the plugin's last words to the user, ending with kubectl's usage hint.
		return withCode(ExitError, fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath()))
	})
	flags.AddFlags(cmd.PersistentFlags())
	cmd.AddCommand(
		newWatchCommand(o),
		newRunCommand(o),
		newCancelCommand(o),
		newLogsCommand(o),
		newResultCommand(o),
	)
	return cmd
}

// options are what every subcommand shares.
type options struct {
	env   Env
	flags *genericclioptions.ConfigFlags
}

// connect returns clients and the namespace the flags chose.
func (o *options) connect() (*Clients, string, error) {
	clients, err := o.env.Connect(o.flags)
	if err != nil {
		return nil, "", withCode(ExitError, err)
	}
	namespace, _, err := o.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", withCode(ExitError, fmt.Errorf("reading the namespace from the kubeconfig: %w", err))
	}
	return clients, namespace, nil
}

// usage is a usage error: the command line asks for something the command cannot do.
func usage(format string, args ...any) error {
	return withCode(ExitError, fmt.Errorf(format, args...))
}
