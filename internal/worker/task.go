package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
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
	// TerminationLog is the file the kubelet reads as the container's termination message.
	TerminationLog string
	// FlushTimeout bounds how long the final write may be retried after the program exited.
	FlushTimeout time.Duration
}

// ConfigFromEnv reads the worker's configuration from the environment. Without LONGTASK_NAME the worker is
// not inside a LongTask and only runs the program.
func ConfigFromEnv(getenv func(string) string) (Config, bool, error) {
	cfg := Config{
		Task:             types.NamespacedName{Namespace: getenv(longtaskv1.EnvTaskNamespace), Name: getenv(longtaskv1.EnvTaskName)},
		ProgressInterval: time.Second,
		TerminationLog:   "/dev/termination-log",
		FlushTimeout:     20 * time.Second,
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
	return cfg, true, nil
}

// RunTask runs the program in args, reporting to the LongTask in cfg when inTask, and returns the exit
// code the worker should exit with: the program's.
func RunTask(args []string, cfg Config, inTask bool, stdout, stderr io.Writer) int {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "longtask-worker: "+format+"\n", a...) }

	write := func(context.Context, Snapshot) error { return nil }
	if inTask {
		c, err := newClient()
		if err != nil {
			logf("cannot reach the API server, progress will not be reported: %v", err)
		} else {
			write = statusWriter(c, cfg.Task)
		}
	}
	publisher := NewPublisher(cfg.ProgressInterval, write)
	publisher.OnError = func(err error) { logf("writing progress: %v (will retry)", err) }
	runner := &Runner{Stdout: stdout, Stderr: stderr, Publisher: publisher, Total: cfg.Total}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(signals)

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

	var exit *ExitError
	if !errors.As(runErr, &exit) {
		return 0
	}
	logf("%s", exit.Reason)
	if inTask {
		writeTerminationMessage(cfg.TerminationLog, exit.Reason+"\n"+runner.Tail())
	}
	return exit.Code
}

// writeTerminationMessage tells the controller, through the pod's status, why the task failed. The
// kubelet creates the file before the container starts; outside a pod it does not exist and nothing is
// written.
func writeTerminationMessage(path, message string) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = io.WriteString(f, tailBytes(message, longtaskv1.MaxOutputBytes))
}

// tailBytes keeps the end of s, which holds the most recent output.
func tailBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[len(s)-max:], "")
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

// statusWriter merge-patches the worker's own status fields, progress and result, and nothing else.
func statusWriter(c client.Client, key types.NamespacedName) WriteFunc {
	return func(ctx context.Context, snap Snapshot) error {
		type workerStatus struct {
			Progress *longtaskv1.Progress `json:"progress,omitempty"`
			Result   *string              `json:"result,omitempty"`
		}
		body, err := json.Marshal(map[string]workerStatus{"status": {Progress: snap.Progress, Result: snap.Result}})
		if err != nil {
			return err
		}
		task := &longtaskv1.LongTask{}
		task.Name, task.Namespace = key.Name, key.Namespace
		return c.Status().Patch(ctx, task, client.RawPatch(types.MergePatchType, body), client.FieldOwner(longtaskv1.WorkerFieldOwner))
	}
}
