package worker

import (
	"fmt"
	"io"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// defaultFlushTimeout bounds how long the final write is retried after the program exited. It outlasts
// an API server outage of minutes: until the write is done the pod keeps running, so the Job does not
// complete, and the task is not recorded Succeeded, without its final progress and result. A pod that is
// being stopped is killed at the end of its grace period whatever this says.
const defaultFlushTimeout = 5 * time.Minute

// memoryEventsFiles are the cgroup files that may count the container's OOM kills, in the order they are
// tried: cgroup v2's memory.events, then cgroup v1's memory.oom_control. Both have an oom_kill line.
var memoryEventsFiles = []string{"/sys/fs/cgroup/memory.events", "/sys/fs/cgroup/memory/memory.oom_control"}

// Options configure a worker: how it finds its LongTask, which the controller sets in the Job's environment
// (OptionsFromEnv reads it), and what it reports through.
type Options struct {
	Task             types.NamespacedName
	ProgressInterval time.Duration
	Total            int64
	// GracePeriod is the pod's termination grace period.
	GracePeriod time.Duration
	// ProgressFile and ResultFile are where the program may report; the worker makes its own when unset.
	ProgressFile, ResultFile string
	// TerminationLog is the file the kubelet reads as the container's termination message; empty outside a
	// LongTask, where no termination message is written.
	TerminationLog string
	// FlushTimeout bounds how long the final write may be retried after the program exited.
	FlushTimeout time.Duration
	// MemoryEvents are the cgroup files that may count the container's OOM kills (memoryEventsFiles).
	MemoryEvents []string

	// Client reports to the LongTask; nil reports nowhere: outside a LongTask, or when the API server
	// could not be reached.
	Client client.Client
	// Clock is the time the worker reads and waits on; the real clock when nil.
	Clock Clock
	// Stdout and Stderr get the program's output and the worker's own messages; the process's when nil.
	Stdout, Stderr io.Writer
}

// OptionsFromEnv reads the worker's configuration from the environment. Without LONGTASK_NAME the worker
// is not inside a LongTask and only runs the program.
func OptionsFromEnv(getenv func(string) string) (Options, bool, error) {
	cfg := Options{
		Task:             types.NamespacedName{Namespace: getenv(longtaskv1.EnvTaskNamespace), Name: getenv(longtaskv1.EnvTaskName)},
		ProgressInterval: longtaskv1.DefaultProgressInterval,
		GracePeriod:      corev1.DefaultTerminationGracePeriodSeconds * time.Second,
		ProgressFile:     getenv(longtaskv1.EnvProgressFile),
		ResultFile:       getenv(longtaskv1.EnvResultFile),
		FlushTimeout:     defaultFlushTimeout,
		MemoryEvents:     memoryEventsFiles,
	}
	if cfg.Task.Name == "" {
		return cfg, false, nil
	}
	if cfg.Task.Namespace == "" {
		return cfg, false, fmt.Errorf("%s is set but %s is not", longtaskv1.EnvTaskName, longtaskv1.EnvTaskNamespace)
	}
	cfg.TerminationLog = corev1.TerminationMessagePathDefault
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
