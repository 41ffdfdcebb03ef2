package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
)

// stopSignals are what stop the cluster: Ctrl-C, a kill, and the terminal closing.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// outliveTerminal keeps the program alive when its terminal goes away before it has stopped the cluster.
// Ctrl-C reaches every process of a pipeline: in `make dev 2>&1 | tee dev.log` the pipe closes before the
// cluster has stopped, and a Go program whose write to a closed pipe on stdout or stderr raises SIGPIPE
// dies of it, leaving the node's processes, mounts and network namespace behind. A program that receives
// SIGPIPE sees the write fail instead, and goes on stopping. (Notify, not Ignore: an ignored signal stays
// ignored in every process started after it, the node's containers included.)
func outliveTerminal() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}

// notifyStop returns a context that is cancelled by the first of stopSignals. Later ones are received
// and dropped, so that a second Ctrl-C cannot cut the stop short.
func notifyStop() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), stopSignals...)
}

// output is where localcluster says what it does: the terminal, and the log file in the state directory,
// which keeps all of it when the terminal has gone.
type output struct {
	mu       sync.Mutex
	terminal io.Writer
	file     *os.File
}

// openOutput appends to logFile (creating its directory) and writes to terminal too.
func openOutput(terminal io.Writer, logFile string) (*output, error) {
	if err := os.MkdirAll(filepath.Dir(logFile), 0o700); err != nil {
		return nil, err
	}
	file, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &output{terminal: terminal, file: file}, nil
}

// Write writes p to the log file and to the terminal. Only the file's error counts: a terminal that has
// gone must not stop the cluster's stop halfway.
func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = o.terminal.Write(p)
	return o.file.Write(p)
}

// Printf writes a line to the output.
func (o *output) Printf(format string, a ...any) {
	fmt.Fprintf(o, "localcluster: "+format+"\n", a...)
}

// Close closes the log file.
func (o *output) Close() error { return o.file.Close() }
