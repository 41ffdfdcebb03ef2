package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// maxLastWriteReserve is the most of the pod's grace period the worker keeps for itself, to write the last
// progress between killing the program and the kubelet's SIGKILL; it keeps a quarter of shorter ones.
const maxLastWriteReserve = 2 * time.Second

// Clock is the time the worker reads and waits on.
type Clock interface {
	clock.WithTicker
	clock.WithDelayedExecution
}

// Worker runs one attempt of a task's program and reports its progress into the task's LongTask.
type Worker struct {
	cfg            Options
	client         client.Client
	clock          Clock
	stdout, stderr io.Writer
	publisher      *Publisher
	tracker        *Tracker
}

// New returns a worker that reports through opts.Client.
func New(opts Options) *Worker {
	w := &Worker{cfg: opts, client: opts.Client, clock: opts.Clock, stdout: opts.Stdout, stderr: opts.Stderr,
		tracker: &Tracker{Total: opts.Total, Attempt: 1}}
	if w.clock == nil {
		w.clock = clock.RealClock{}
	}
	if w.stdout == nil {
		w.stdout = os.Stdout
	}
	if w.stderr == nil {
		w.stderr = os.Stderr
	}
	write := func(context.Context, Snapshot) error { return nil }
	if w.client != nil {
		write = StatusWriter(w.client, opts.Task, w.follow)
	}
	w.publisher = newPublisher(opts.ProgressInterval, write, w.clock)
	w.publisher.OnError = func(err error) { w.logf("writing progress: %v (will retry)", err) }
	w.publisher.BeforeWrite = w.tracker.Derive
	return w
}

// Run runs the program in args to its end, reporting its progress, and returns the exit code the worker
// should exit with: the program's. Signals on the channel are passed on to the program; one that came
// before it started is passed on as soon as it starts.
func (w *Worker) Run(ctx context.Context, args []string, signals <-chan os.Signal) int {
	checkpoint := w.startAttempt(ctx)
	cleanup, err := defaultReportFiles(&w.cfg)
	if err != nil {
		exit := &ExitError{Code: 126, Reason: longtaskv1.FailureReasonCommandNotRunnable, Message: err.Error()}
		return w.finish(ctx, &Runner{}, exit)
	}
	defer cleanup()
	runner := w.newRunner(checkpoint)
	return w.finish(ctx, runner, w.runProgram(ctx, runner, args, signals))
}

// startAttempt reads what earlier attempts left, numbers this attempt, records its start to be written,
// and returns the checkpoint to hand the program.
func (w *Worker) startAttempt(ctx context.Context) string {
	if w.client == nil {
		return ""
	}
	task := w.readTask(ctx)
	w.follow(task)
	w.tracker.Attempt = attemptOf(task)
	w.publisher.Update(func(s *Snapshot) { w.tracker.Start(s, task.Status.Progress, w.clock.Now()) })
	return task.Status.Checkpoint
}

// newRunner prepares the program's run: its environment, report files and grace period.
func (w *Worker) newRunner(checkpoint string) *Runner {
	env := append(os.Environ(),
		longtaskv1.EnvAttempt+"="+strconv.Itoa(int(w.tracker.Attempt)),
		longtaskv1.EnvCheckpoint+"="+checkpoint,
		longtaskv1.EnvProgressFile+"="+w.cfg.ProgressFile,
		longtaskv1.EnvArgoProgressFile+"="+w.cfg.ProgressFile,
		longtaskv1.EnvResultFile+"="+w.cfg.ResultFile,
	)
	return &Runner{
		Stdout: w.stdout, Stderr: w.stderr, Publisher: w.publisher, Tracker: w.tracker, Env: env,
		ProgressFile: w.cfg.ProgressFile, ResultFile: w.cfg.ResultFile,
		GracePeriod: w.cfg.GracePeriod - min(maxLastWriteReserve, w.cfg.GracePeriod/4),
		OOMKills:    func() (int64, bool) { return oomKills(w.cfg.MemoryEvents...) },
		Clock:       w.clock,
	}
}

// runProgram runs the program while the publisher writes what it reports, and returns how it ended.
func (w *Worker) runProgram(ctx context.Context, runner *Runner, args []string, signals <-chan os.Signal) error {
	ctx, stopPublishing := context.WithCancel(ctx)
	published := make(chan struct{})
	go func() { defer close(published); w.publisher.Run(ctx) }()
	err := runner.Run(args, signals)
	stopPublishing()
	<-published
	return err
}

// finish writes the final progress and result, says why the program failed if it did, and returns the
// worker's exit code.
func (w *Worker) finish(ctx context.Context, runner *Runner, runErr error) int {
	flushCtx, cancel := withClockTimeout(ctx, w.clock, w.cfg.FlushTimeout)
	defer cancel()
	if err := w.publisher.Flush(flushCtx); err != nil {
		w.logf("the final progress was not written: %v", err)
	}
	if n := runner.Malformed(); n > 0 {
		w.logf("%d lines looked like reports but were malformed; they were passed through as output", n)
	}
	var exit *ExitError
	if !errors.As(runErr, &exit) {
		return 0
	}
	w.logf("%s", exit.Message)
	if w.cfg.TerminationLog != "" {
		message := longtaskv1.TerminationMessage{Reason: exit.Reason, Message: exit.Message, Output: runner.Tail()}
		if err := writeTerminationMessage(w.cfg.TerminationLog, message); err != nil {
			w.logf("writing the termination message: %v", err)
		}
	}
	return exit.Code
}

// readTask reads the worker's LongTask, for what earlier attempts left: their number, checkpoint and
// progress. A worker that cannot read it within readTaskTimeout still runs the task, as a first attempt.
func (w *Worker) readTask(ctx context.Context) *longtaskv1.LongTask {
	task := &longtaskv1.LongTask{}
	retryCtx, cancel := withClockTimeout(ctx, w.clock, readTaskTimeout)
	defer cancel()
	err := retry(retryCtx, w.clock, readTaskBackoff, func() error {
		getCtx, cancel := context.WithTimeout(ctx, readTaskRequestTimeout)
		defer cancel()
		return w.client.Get(getCtx, w.cfg.Task, task)
	})
	if err != nil {
		w.logf("reading LongTask %s: %v; running as a first attempt", w.cfg.Task, err)
		return &longtaskv1.LongTask{}
	}
	return task
}

// follow keeps the publisher to the write interval the controller asks of the task.
func (w *Worker) follow(task *longtaskv1.LongTask) { w.publisher.Follow(task, w.cfg.ProgressInterval) }

func (w *Worker) logf(format string, a ...any) {
	fmt.Fprintf(w.stderr, "longtask-worker: "+format+"\n", a...)
}

// attemptOf numbers this attempt: one more than the last attempt a worker reported, or the controller's
// count of the Job's pods if that is ahead, which it is when an attempt died before it could report.
func attemptOf(task *longtaskv1.LongTask) int32 {
	attempt := max(task.Status.Attempts, 1)
	if p := task.Status.Progress; p != nil && p.Attempt > 0 {
		attempt = max(attempt, p.Attempt+1)
	}
	return attempt
}

// defaultReportFiles gives the program progress and result files when the Job did not: outside a
// LongTask, a directory of the worker's own.
func defaultReportFiles(cfg *Options) (func(), error) {
	if cfg.ProgressFile != "" && cfg.ResultFile != "" {
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", "longtask-")
	if err != nil {
		return nil, fmt.Errorf("creating the progress and result files: %w", err)
	}
	if cfg.ProgressFile == "" {
		cfg.ProgressFile = filepath.Join(dir, "progress")
	}
	if cfg.ResultFile == "" {
		cfg.ResultFile = filepath.Join(dir, "result")
	}
	return func() { _ = os.RemoveAll(dir) }, nil // a temporary directory in a container that is ending
}

// NewClient connects to the API server as the pod's ServiceAccount (or the kubeconfig outside a pod), with
// the LongTask types.
func NewClient() (client.Client, error) {
	restConfig, err := config.GetConfig()
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	c, err := client.New(restConfig, client.Options{Scheme: scheme})
	if err != nil {
		// client.New's nil on failure is a typed nil, which would pass for a client.
		return nil, err
	}
	return c, nil
}
