package worker

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/longtask-dev/longtask/pkg/progress"
)

// Demo is the built-in task: the seeds' simulated work, a number of steps that each take a random time
// up to maxDelay, reported with the progress SDK, and a result at the end.
func Demo(ctx context.Context, out io.Writer, steps int, maxDelay time.Duration) error {
	reporter := progress.NewReporter(out)
	for i := 1; i <= steps; i++ {
		if !sleep(ctx, time.Duration(rand.Int64N(int64(maxDelay)+1))) {
			return ctx.Err()
		}
		if err := reporter.Report(int64(i), int64(steps), fmt.Sprintf("Finished step %d of %d", i, steps)); err != nil {
			return err
		}
	}
	return reporter.Result(fmt.Sprintf(`{"steps": %d}`, steps))
}

// Install copies the running worker binary into dir, so that a task container of any image can run it.
func Install(dir, name string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the worker binary: %w", err)
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dest := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, name+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}
