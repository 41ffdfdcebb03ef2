package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"k8s.io/utils/clock"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/pkg/progress"
)

// DemoOptions shape the built-in demo task.
type DemoOptions struct {
	Steps    int
	MaxDelay time.Duration
	// FailAt makes the first attempt fail after this step, to show a retry resuming; 0 never fails.
	FailAt int
}

// demoCheckpoint is where the demo task resumes.
type demoCheckpoint struct {
	Step int `json:"step"`
}

// Demo is the built-in task: the seeds' simulated work, a number of steps that each take a random time
// up to MaxDelay, reported with the progress SDK, a checkpoint after each step, and a result at the end. A
// retried attempt resumes after the step in LONGTASK_CHECKPOINT.
func Demo(ctx context.Context, out io.Writer, getenv func(string) string, opts DemoOptions) error {
	reporter := progress.NewReporter(out)
	start := 1
	if data := getenv(longtaskv1.EnvCheckpoint); data != "" {
		var checkpoint demoCheckpoint
		if err := json.Unmarshal([]byte(data), &checkpoint); err != nil {
			return fmt.Errorf("reading the checkpoint %q: %w", data, err)
		}
		start = checkpoint.Step + 1
		fmt.Fprintf(out, "Attempt %s: resuming at step %d of %d\n", getenv(longtaskv1.EnvAttempt), start, opts.Steps)
	}
	firstAttempt := getenv(longtaskv1.EnvAttempt) == "" || getenv(longtaskv1.EnvAttempt) == "1"
	for i := start; i <= opts.Steps; i++ {
		took := time.Duration(rand.Int64N(int64(opts.MaxDelay) + 1))
		if !sleep(ctx, clock.RealClock{}, took) {
			return ctx.Err()
		}
		// A line for the task's log, as a real task prints what it did between its reports.
		fmt.Fprintf(out, "step %d of %d took %v\n", i, opts.Steps, took.Round(time.Millisecond))
		if err := reporter.Report(int64(i), int64(opts.Steps), fmt.Sprintf("Finished step %d of %d", i, opts.Steps)); err != nil {
			return err
		}
		checkpoint, _ := json.Marshal(demoCheckpoint{Step: i})
		if err := reporter.Checkpoint(string(checkpoint)); err != nil {
			return err
		}
		if i == opts.FailAt && firstAttempt {
			return fmt.Errorf("failing after step %d, as asked (--fail-at)", i)
		}
	}
	return reporter.Result(fmt.Sprintf(`{"steps": %d}`, opts.Steps))
}
