package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"

	"github.com/longtask-dev/longtask/internal/localcluster"
)

// faultCommand is `localcluster fault`: the requests to send, in order, to one cluster.
type faultCommand struct {
	stateDir  string
	component string
	// actions are what the control socket is asked to do: restart is a stop, then a start.
	actions []string
}

// parseFault reads the arguments of `localcluster fault`.
func parseFault(args []string) (faultCommand, error) {
	var cmd faultCommand
	fs := flag.NewFlagSet("fault", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&cmd.stateDir, "state-dir", "bin/dev", "the state directory of the running cluster")
	if err := fs.Parse(args); err != nil {
		return cmd, err
	}
	if fs.NArg() != 2 {
		return cmd, errors.New("want an action and a component")
	}
	action, component := fs.Arg(0), fs.Arg(1)
	switch action {
	case "stop", "start":
		cmd.actions = []string{action}
	case "restart":
		cmd.actions = []string{"stop", "start"}
	default:
		return cmd, fmt.Errorf("unknown action %q: want stop, start or restart", action)
	}
	if !slices.Contains(localcluster.FaultComponents, component) {
		return cmd, fmt.Errorf("unknown component %q: want one of %v", component, localcluster.FaultComponents)
	}
	cmd.component = component
	return cmd, nil
}

// runFault sends the command's requests and prints what the cluster did.
func runFault(ctx context.Context, cmd faultCommand, out io.Writer) error {
	for _, action := range cmd.actions {
		what, err := localcluster.RequestFault(ctx, cmd.stateDir, cmd.component, action)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, what)
	}
	return nil
}
