// Command kubectl-longtask is the kubectl plugin `kubectl longtask`: it watches LongTasks' progress in a
// terminal, starts them from templates or commands, cancels them, and prints their logs and results.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/longtask-dev/longtask/internal/cli"
)

func main() {
	// Ctrl-C ends a watch cleanly: the bars are drawn once more and the exit code says it was interrupted.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], cli.DefaultEnv())
	stop()
	os.Exit(code)
}
