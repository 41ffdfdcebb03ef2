// Command pause is the program of LongTask's pod sandbox image. The local cluster cannot pull
// registry.k8s.io/pause here (no internet), so the project builds its own. Like Kubernetes' pause it
// holds the pod's namespaces open by sleeping until it is told to stop, and, being PID 1 of the pod's
// PID namespace, it reaps the zombies that orphaned processes leave behind.
package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Buffered so that signals arriving while reap runs are not dropped.
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		reap()
	}
}

// reap waits for every child that has exited: several exits can arrive as a single SIGCHLD.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}
