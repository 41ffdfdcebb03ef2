// Command longtask-worker runs inside a LongTask's pod: it runs the task's program and reports the
// progress the program prints into the LongTask's status.
//
//	longtask-worker run -- <command> [args...]   run a task program and report its progress
//	longtask-worker demo [--steps N]             the built-in demo task (--max-delay, --fail-at)
//	longtask-worker install <dir>                copy this binary into dir (the Job's init container)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/worker"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "run":
		if len(args) > 0 && args[0] == "--" {
			args = args[1:]
		}
		os.Exit(run(args))
	case "demo":
		fs := flag.NewFlagSet("demo", flag.ExitOnError)
		var opts worker.DemoOptions
		fs.IntVar(&opts.Steps, "steps", 25, "number of steps")
		fs.DurationVar(&opts.MaxDelay, "max-delay", time.Second, "longest a step takes; each takes a random time up to it")
		fs.IntVar(&opts.FailAt, "fail-at", 0, "fail the first attempt after this step, to show a retry resuming")
		_ = fs.Parse(args)
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		err := worker.Demo(ctx, os.Stdout, os.Getenv, opts)
		stop()
		if err != nil {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
			os.Exit(1)
		}
	case "install":
		if len(args) != 1 {
			usage()
		}
		if err := worker.Install(args[0], longtaskv1.WorkerBinary); err != nil {
			fmt.Fprintf(os.Stderr, "longtask-worker: installing into %s: %v\n", args[0], err)
			os.Exit(1)
		}
	default:
		usage()
	}
}

// run runs a task's program, reporting to its LongTask when the Job's environment names one, and returns
// the program's exit code.
func run(args []string) int {
	// Catch SIGTERM before anything else: in a container the worker is PID 1, which ignores signals it
	// has no handler for, so one that came while the task was being set up would be lost. It is kept and
	// passed to the program as soon as it starts.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)
	opts, inTask, err := worker.OptionsFromEnv(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "longtask-worker: %v\n", err)
		return 2
	}
	if inTask {
		if opts.Client, err = worker.NewClient(); err != nil {
			fmt.Fprintf(os.Stderr, "longtask-worker: cannot reach the API server, progress will not be reported: %v\n", err)
		}
	}
	return worker.New(opts).Run(context.Background(), args, signals)
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: longtask-worker run -- <command> [args...] | demo [--steps N] [--max-delay D] [--fail-at N] | install <dir>")
	os.Exit(2)
}
