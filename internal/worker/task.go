package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/config"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// Config is how the worker finds and reports to its LongTask; the controller sets it in the Job's
// environment.
type Config struct {
	Task             types.NamespacedName
	ProgressInterval time.Duration
	Total            int64
	// GracePeriod is the pod's termination grace period.
	GracePeriod time.Duration
	// ProgressFile and ResultFile are where the program may report; the worker makes its own when unset.
	ProgressFile, ResultFile string
	// TerminationLog is the file the kubelet reads as the container's termination message.
	TerminationLog string
	// FlushTimeout bounds how long the final write may be retried after the program exited.
	FlushTimeout time.Duration
	// MemoryEvents are the cgroup files that may count the container's OOM kills, in the order they are
	// tried: cgroup v2's memory.events, then cgroup v1's memory.oom_control. Both have an oom_kill line.
	MemoryEvents []string
}

// ConfigFromEnv reads the worker's configuration from the environment. Without LONGTASK_NAME the worker is
// not inside a LongTask and only runs the program.
func ConfigFromEnv(getenv func(string) string) (Config, bool, error) {
	cfg := Config{
		Task:             types.NamespacedName{Namespace: getenv(longtaskv1.EnvTaskNamespace), Name: getenv(longtaskv1.EnvTaskName)},
		ProgressInterval: time.Second,
		GracePeriod:      30 * time.Second,
		ProgressFile:     getenv(longtaskv1.EnvProgressFile),
		ResultFile:       getenv(longtaskv1.EnvResultFile),
		TerminationLog:   "/dev/termination-log",
		FlushTimeout:     20 * time.Second,
		MemoryEvents:     []string{"/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"},
	}
	if cfg.Task.Name == "" {
		return cfg, false, nil
	}
	if cfg.Task.Namespace == "" {
		return cfg, false, fmt.Errorf("%s is set but %s is not", longtaskv1.EnvTaskName, longtaskv1.EnvTaskNamespace)
	}
	if v := getenv(longtaskv1.EnvProgressInterval); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, false, fmt.Errorf("%s=%q is not a positive duration", longtaskv1.EnvProgressInterval, v)
		}
		cfg.ProgressInterval = d
	}
	if v := getenv(longtaskv1.EnvTotal); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return cfg, false, fmt.Errorf("%s=%q is not a non-negative integer", longtaskv1.EnvTotal, v)
		}
		cfg.Total = n
	}
	if v := getenv(longtaskv1.EnvGracePeriod); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return cfg, false, fmt.Errorf("%s=%q is not a number of seconds", longtaskv1.EnvGracePeriod, v)
		}
		cfg.GracePeriod = time.Duration(n) * time.Second
	}
	return cfg, true, nil
}

// RunTask runs the program in args, reporting to the LongTask in cfg when inTask, and returns the exit
// code the worker should exit with: the program's.
func RunTask(args []string, cfg Config, inTask bool, stdout, stderr io.Writer) int {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "longtask-worker: "+format+"\n", a...) }
	// Catch SIGTERM before anything else: in a container the worker is PID 1, which ignores signals it
	// has no handler for, so one that came while the task was being set up would be lost. It is kept and
	// passed to the program as soon as it starts.
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)

	publisher := NewPublisher(cfg.ProgressInterval, func(context.Context, Snapshot) error { return nil })
	publisher.OnError = func(err error) { logf("writing progress: %v (will retry)", err) }
	tracker := &Tracker{Total: cfg.Total, Attempt: 1}
	publisher.BeforeWrite = tracker.Derive
	var checkpoint string
	if inTask {
		c, err := newClient()
		if err != nil {
			logf("cannot reach the API server, progress will not be reported: %v", err)
		} else {
			follow := func(task *longtaskv1.LongTask) { publisher.Follow(task, cfg.ProgressInterval) }
			publisher.write = StatusWriter(c, cfg.Task, follow)
			task := readTask(c, cfg.Task, logf)
			follow(task)
			tracker.Attempt = attemptOf(task)
			checkpoint = task.Status.Checkpoint
			publisher.Update(func(s *Snapshot) { tracker.Start(s, task.Status.Progress, time.Now()) })
		}
	}

	cleanup, err := defaultReportFiles(&cfg)
	if err != nil {
		logf("%v", err)
		return 126
	}
	defer cleanup()
	env := append(os.Environ(),
		longtaskv1.EnvAttempt+"="+strconv.Itoa(int(tracker.Attempt)),
		longtaskv1.EnvCheckpoint+"="+checkpoint,
		longtaskv1.EnvProgressFile+"="+cfg.ProgressFile,
		longtaskv1.EnvArgoProgressFile+"="+cfg.ProgressFile,
		longtaskv1.EnvResultFile+"="+cfg.ResultFile,
	)
	runner := &Runner{
		Stdout: stdout, Stderr: stderr, Publisher: publisher, Tracker: tracker, Env: env,
		ProgressFile: cfg.ProgressFile, ResultFile: cfg.ResultFile,
		// Keep a little of the grace period to write the last progress before the kubelet's SIGKILL.
		GracePeriod: cfg.GracePeriod - min(2*time.Second, cfg.GracePeriod/4),
		OOMKills:    func() (int64, bool) { return oomKills(cfg.MemoryEvents...) },
	}

	ctx, stopPublishing := context.WithCancel(context.Background())
	published := make(chan struct{})
	go func() { defer close(published); publisher.Run(ctx) }()

	runErr := runner.Run(args, signals)

	stopPublishing()
	<-published
	flushCtx, cancel := context.WithTimeout(context.Background(), cfg.FlushTimeout)
	defer cancel()
	if err := publisher.Flush(flushCtx); err != nil {
		logf("the final progress was not written: %v", err)
	}
	if n := runner.Malformed(); n > 0 {
		logf("%d lines looked like reports but were malformed; they were passed through as output", n)
	}

	var exit *ExitError
	if !errors.As(runErr, &exit) {
		return 0
	}
	logf("%s", exit.Message)
	if inTask {
		writeTerminationMessage(cfg.TerminationLog, longtaskv1.TerminationMessage{Reason: exit.Reason, Message: exit.Message, Output: runner.Tail()})
	}
	return exit.Code
}

// readTask reads the worker's LongTask, for what earlier attempts left: their number, checkpoint and
// progress. A worker that cannot read it still runs the task, as a first attempt.
func readTask(c client.Client, key types.NamespacedName, logf func(string, ...any)) *longtaskv1.LongTask {
	task := &longtaskv1.LongTask{}
	backoff := 200 * time.Millisecond
	for deadline := time.Now().Add(10 * time.Second); ; {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := c.Get(ctx, key, task)
		cancel()
		if err == nil {
			return task
		}
		if time.Now().After(deadline) {
			logf("reading LongTask %s: %v; running as a first attempt", key, err)
			return &longtaskv1.LongTask{}
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, 2*time.Second)
	}
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
func defaultReportFiles(cfg *Config) (func(), error) {
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
	return func() { os.RemoveAll(dir) }, nil
}

// oomKills reads the oom_kill count of the first of paths that has one: a cgroup v2 memory.events file,
// or a cgroup v1 memory.oom_control file (Linux 4.13 and later).
func oomKills(paths ...string) (int64, bool) {
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if count, ok := strings.CutPrefix(line, "oom_kill "); ok {
				n, err := strconv.ParseInt(count, 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// statusPatch is the merge patch of the worker's status fields. The worker owns progress whole, so the
// optional fields it left empty are sent as null: a merge patch would otherwise keep their old values,
// such as the rate of an earlier attempt.
func statusPatch(snap Snapshot) ([]byte, error) {
	status := map[string]any{}
	if snap.Progress != nil {
		data, err := json.Marshal(snap.Progress)
		if err != nil {
			return nil, err
		}
		progress := map[string]any{}
		if err := json.Unmarshal(data, &progress); err != nil {
			return nil, err
		}
		for _, field := range []string{"total", "message", "updateTime", "attempt", "rate", "eta", "remaining"} {
			if _, ok := progress[field]; !ok {
				progress[field] = nil
			}
		}
		status["progress"] = progress
	}
	if snap.Result != nil {
		status["result"] = *snap.Result
	}
	if snap.Checkpoint != nil {
		status["checkpoint"] = *snap.Checkpoint
	}
	return json.Marshal(map[string]any{"status": status})
}

func newClient() (client.Client, error) {
	restConfig, err := config.GetConfig()
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(restConfig, client.Options{Scheme: scheme})
}

// StatusWriter merge-patches the worker's own status fields, progress, result and checkpoint, and nothing
// else. Every response carries the LongTask, and with it the write interval the controller asks for,
// which is handed to follow: no watch is needed to follow it. It is the worker's whole write path to the
// API server, which make bench times too.
func StatusWriter(c client.Client, key types.NamespacedName, follow func(*longtaskv1.LongTask)) WriteFunc {
	return func(ctx context.Context, snap Snapshot) error {
		body, err := statusPatch(snap)
		if err != nil {
			return err
		}
		task := &longtaskv1.LongTask{}
		task.Name, task.Namespace = key.Name, key.Namespace
		if err := c.Status().Patch(ctx, task, client.RawPatch(types.MergePatchType, body), client.FieldOwner(longtaskv1.WorkerFieldOwner)); err != nil {
			return err
		}
		follow(task)
		return nil
	}
}
