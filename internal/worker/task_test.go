package worker

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/types"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

func TestOptionsFromEnv(t *testing.T) {
	cases := map[string]struct {
		env        map[string]string
		want       Options
		wantInTask bool
		wantErr    string
	}{
		"outside a LongTask": {
			env: map[string]string{},
		},
		"inside a LongTask": {
			env: map[string]string{
				"LONGTASK_NAME": "resize", "LONGTASK_NAMESPACE": "photos", "LONGTASK_PROGRESS_INTERVAL": "5s", "LONGTASK_TOTAL": "25",
				"LONGTASK_GRACE_PERIOD": "10", "LONGTASK_PROGRESS_FILE": "/longtask/progress", "LONGTASK_RESULT_FILE": "/longtask/result",
			},
			want: Options{
				Task: types.NamespacedName{Namespace: "photos", Name: "resize"}, ProgressInterval: 5 * time.Second, Total: 25,
				GracePeriod: 10 * time.Second, ProgressFile: "/longtask/progress", ResultFile: "/longtask/result",
				TerminationLog: "/dev/termination-log",
			},
			wantInTask: true,
		},
		"defaults": {
			env:        map[string]string{"LONGTASK_NAME": "resize", "LONGTASK_NAMESPACE": "photos"},
			want:       Options{Task: types.NamespacedName{Namespace: "photos", Name: "resize"}, ProgressInterval: time.Second, GracePeriod: 30 * time.Second, TerminationLog: "/dev/termination-log"},
			wantInTask: true,
		},
		"no namespace":     {env: map[string]string{"LONGTASK_NAME": "resize"}, wantErr: "LONGTASK_NAMESPACE is not"},
		"bad interval":     {env: map[string]string{"LONGTASK_NAME": "a", "LONGTASK_NAMESPACE": "b", "LONGTASK_PROGRESS_INTERVAL": "soon"}, wantErr: "LONGTASK_PROGRESS_INTERVAL"},
		"bad grace period": {env: map[string]string{"LONGTASK_NAME": "a", "LONGTASK_NAMESPACE": "b", "LONGTASK_GRACE_PERIOD": "30s"}, wantErr: "LONGTASK_GRACE_PERIOD"},
		"negative total":   {env: map[string]string{"LONGTASK_NAME": "a", "LONGTASK_NAMESPACE": "b", "LONGTASK_TOTAL": "-1"}, wantErr: "LONGTASK_TOTAL"},
		"interval of zero": {env: map[string]string{"LONGTASK_NAME": "a", "LONGTASK_NAMESPACE": "b", "LONGTASK_PROGRESS_INTERVAL": "0s"}, wantErr: "positive duration"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, inTask, err := OptionsFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if inTask != tc.wantInTask {
				t.Errorf("inTask = %v, want %v", inTask, tc.wantInTask)
			}
			if !tc.wantInTask {
				return
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Options{}, "FlushTimeout", "MemoryEvents")); diff != "" {
				t.Errorf("config (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestAttemptOf(t *testing.T) {
	cases := map[string]struct {
		controllerCount int32
		lastReported    int32
		want            int32
	}{
		"a new task": {want: 1},
		"the first attempt, counted by the controller": {controllerCount: 1, want: 1},
		"the attempt after one that reported":          {controllerCount: 1, lastReported: 1, want: 2},
		"the controller saw an attempt die silently":   {controllerCount: 3, lastReported: 1, want: 3},
		"the controller has not counted the new pod":   {controllerCount: 2, lastReported: 2, want: 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			task := testutil.MakeLongTask("resize", "photos").Attempts(tc.controllerCount).Obj()
			if tc.lastReported > 0 {
				task.Status.Progress = &longtaskv1.Progress{Attempt: tc.lastReported}
			}
			if got := attemptOf(task); got != tc.want {
				t.Errorf("attempt %d, want %d", got, tc.want)
			}
		})
	}
}

var taskKey = types.NamespacedName{Namespace: "photos", Name: "resize"}

// runOnClock runs f, moving clk on in steps of step whenever f waits on it (has at least waiters waiters),
// and returns when f does.
func runOnClock(t *testing.T, clk *clocktesting.FakeClock, step time.Duration, waiters int, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		select {
		case <-done:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("still running at %v on the fake clock", clk.Now())
		}
		if clk.Waiters() >= waiters {
			clk.Step(step)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestReadTaskRetriesWithBackoff(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]struct {
		failures       int
		wantReadsAt    []time.Duration
		wantCheckpoint string
		wantLog        string
	}{
		"read at once":                   {wantReadsAt: []time.Duration{0}, wantCheckpoint: "next"},
		"read after the server answered": {failures: 3, wantReadsAt: []time.Duration{0, 200 * time.Millisecond, 600 * time.Millisecond, 1400 * time.Millisecond}, wantCheckpoint: "next"},
		// 200ms, 400ms, 800ms, 1.6s, then 2s apart, until two minutes have passed.
		"given up after two minutes": {
			failures:    1000,
			wantReadsAt: readsEveryTwoSecondsUntil(2 * time.Minute),
			wantLog:     "reading LongTask photos/resize: the API server is unreachable; running as a first attempt",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(start)
			task := testutil.MakeLongTask("resize", "photos").Obj()
			task.Status.Checkpoint = "next"
			var readsAt []time.Duration
			failures := tc.failures
			c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(task).WithInterceptorFuncs(interceptor.Funcs{
				Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
					readsAt = append(readsAt, clk.Since(start))
					if failures > 0 {
						failures--
						return errors.New("the API server is unreachable")
					}
					return c.Get(ctx, key, obj, opts...)
				},
			}).Build()
			var log strings.Builder
			w := New(Options{Task: taskKey, ProgressInterval: time.Second, Client: c, Clock: clk, Stdout: &strings.Builder{}, Stderr: &log})
			var got *longtaskv1.LongTask
			// Two waiters: the deadline and the wait between reads.
			runOnClock(t, clk, 100*time.Millisecond, 2, func() { got = w.readTask(context.Background()) })

			if diff := cmp.Diff(tc.wantReadsAt, readsAt); diff != "" {
				t.Errorf("reads at (-want,+got):\n%s", diff)
			}
			if got.Status.Checkpoint != tc.wantCheckpoint {
				t.Errorf("checkpoint %q, want %q", got.Status.Checkpoint, tc.wantCheckpoint)
			}
			if !strings.Contains(log.String(), tc.wantLog) {
				t.Errorf("log %q, want it to contain %q", log.String(), tc.wantLog)
			}
		})
	}
}

// readsEveryTwoSecondsUntil is when readTask reads a task it cannot get: at 0, 200ms, 600ms and 1.4s, then
// every 2s, until the end.
func readsEveryTwoSecondsUntil(end time.Duration) []time.Duration {
	reads := []time.Duration{0, 200 * time.Millisecond, 600 * time.Millisecond, 1400 * time.Millisecond}
	for at := 3 * time.Second; at < end; at += 2 * time.Second {
		reads = append(reads, at)
	}
	return reads
}

func TestWorkerRun(t *testing.T) {
	cases := map[string]struct {
		script          string // run by sh -c
		args            []string
		patchFailures   int
		wantCode        int
		wantProgress    *longtaskv1.Progress
		wantResult      string
		wantTermination *longtaskv1.TerminationMessage
		wantEnv         string // what the script printed of its environment
	}{
		"a program that succeeds": {
			script:       `echo "attempt=$LONGTASK_ATTEMPT checkpoint=$LONGTASK_CHECKPOINT"; echo "::progress 3/10 resizing"; echo "::result {\"n\": 3}"`,
			wantProgress: &longtaskv1.Progress{Current: 3, Total: 10, Percent: 30, Summary: "3/10 (30%)", Message: "resizing", Attempt: 2},
			wantResult:   `{"n": 3}`,
			wantEnv:      "attempt=2 checkpoint=next",
		},
		"a program that fails": {
			script:       `echo "::progress 4/10"; echo "something broke"; exit 3`,
			wantCode:     3,
			wantProgress: &longtaskv1.Progress{Current: 4, Total: 10, Percent: 40, Summary: "4/10 (40%)", Attempt: 2},
			wantTermination: &longtaskv1.TerminationMessage{
				Reason: longtaskv1.FailureReasonTaskFailed, Message: "the program exited with code 3", Output: "something broke",
			},
		},
		"a command that is not found": {
			args:         []string{"/does/not/exist"},
			wantCode:     127,
			wantProgress: &longtaskv1.Progress{Current: 1, Total: 10, Percent: 10, Summary: "1/10 (10%)", Message: "earlier", Attempt: 2},
			wantTermination: &longtaskv1.TerminationMessage{
				Reason: longtaskv1.FailureReasonCommandNotFound, Message: "command not found: /does/not/exist",
			},
		},
		// The writes fail while the program runs and at first after it exited; the final flush retries
		// until the last progress and the result are written.
		"the final flush writes once the API server answers": {
			script:        `echo "::progress 10/10 done"; echo "::result ok"`,
			patchFailures: 4,
			wantProgress:  &longtaskv1.Progress{Current: 10, Total: 10, Percent: 100, Summary: "10/10 (100%)", Message: "done", Attempt: 2},
			wantResult:    "ok",
		},
		// 40 failed writes are about three minutes of an API server outage at the flush's backoff (up to 5 s
		// apart): the default flush timeout outlasts it, so the task's result is not lost.
		"the final flush outlasts an outage of minutes": {
			script:        `echo "::progress 10/10 done"; echo "::result ok"`,
			patchFailures: 40,
			wantProgress:  &longtaskv1.Progress{Current: 10, Total: 10, Percent: 100, Summary: "10/10 (100%)", Message: "done", Attempt: 2},
			wantResult:    "ok",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			terminationLog := filepath.Join(dir, "termination-log")
			if err := os.WriteFile(terminationLog, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			task := testutil.MakeLongTask("resize", "photos").Attempts(1).Progress(1, 10, "earlier").Obj()
			task.Status.Progress.Attempt = 1
			task.Status.Checkpoint = "next"
			var mu sync.Mutex
			failures := tc.patchFailures
			c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(task).WithStatusSubresource(task).WithInterceptorFuncs(interceptor.Funcs{
				SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
					mu.Lock()
					defer mu.Unlock()
					if failures > 0 {
						failures--
						return errors.New("the API server is unreachable")
					}
					return c.SubResource(sub).Patch(ctx, obj, patch, opts...)
				},
			}).Build()
			clk := clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			var stdout, stderr syncBuffer
			opts := Options{
				Task: taskKey, ProgressInterval: time.Second, Total: 10, GracePeriod: 30 * time.Second,
				ProgressFile: filepath.Join(dir, "progress"), ResultFile: filepath.Join(dir, "result"),
				TerminationLog: terminationLog, FlushTimeout: defaultFlushTimeout,
				Client: c, Clock: clk, Stdout: &stdout, Stderr: &stderr,
			}
			args := tc.args
			if args == nil {
				args = []string{"sh", "-c", tc.script}
			}
			var code int
			runOnClock(t, clk, 100*time.Millisecond, 1, func() {
				code = New(opts).Run(context.Background(), args, make(chan os.Signal))
			})

			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d; log:\n%s", code, tc.wantCode, stderr.String())
			}
			got := &longtaskv1.LongTask{}
			if err := c.Get(context.Background(), taskKey, got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantProgress, got.Status.Progress, cmpopts.IgnoreFields(longtaskv1.Progress{}, "UpdateTime")); diff != "" {
				t.Errorf("stored progress (-want,+got):\n%s", diff)
			}
			if got.Status.Result != tc.wantResult {
				t.Errorf("stored result %q, want %q", got.Status.Result, tc.wantResult)
			}
			data, err := os.ReadFile(terminationLog)
			if err != nil {
				t.Fatal(err)
			}
			var termination *longtaskv1.TerminationMessage
			if len(data) > 0 {
				termination = &longtaskv1.TerminationMessage{}
				if err := json.Unmarshal(data, termination); err != nil {
					t.Fatalf("termination message %q: %v", data, err)
				}
			}
			if diff := cmp.Diff(tc.wantTermination, termination); diff != "" {
				t.Errorf("termination message (-want,+got):\n%s", diff)
			}
			if tc.wantEnv != "" && !strings.Contains(stdout.String(), tc.wantEnv) {
				t.Errorf("the program printed %q, want %q", stdout.String(), tc.wantEnv)
			}
		})
	}
}

func TestWorkerOutsideALongTaskOnlyRunsTheProgram(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	var stdout, stderr syncBuffer
	code := New(Options{ProgressInterval: time.Second, FlushTimeout: time.Second, Clock: clk, Stdout: &stdout, Stderr: &stderr}).
		Run(context.Background(), []string{"sh", "-c", `echo "::progress 1/2"; echo "file=$LONGTASK_PROGRESS_FILE"; exit 4`}, make(chan os.Signal))
	if code != 4 {
		t.Errorf("exit code %d, want the program's 4", code)
	}
	if !strings.Contains(stdout.String(), "file=/") {
		t.Errorf("the program printed %q: want a progress file of the worker's own", stdout.String())
	}
}

// syncBuffer is a strings.Builder the program's output can be written to from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
