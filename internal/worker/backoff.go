package worker

import (
	"context"
	"math"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
)

// How the worker retries what failed against the API server.
var (
	// readTaskBackoff spaces the attempts to read the task when the worker starts, for at most
	// readTaskTimeout.
	readTaskBackoff = wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Cap: 2 * time.Second, Steps: math.MaxInt32}
	// flushBackoff spaces the attempts to write the final state, for at most Options.FlushTimeout.
	flushBackoff = wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Cap: 5 * time.Second, Steps: math.MaxInt32}
)

const (
	// readTaskTimeout bounds how long the worker tries to read its task before it runs the program as a
	// first attempt. It outlasts a short API server outage (a restart, an upgrade): a retry that ran
	// without the checkpoint its task reported would do the work again, or fail again.
	readTaskTimeout = 2 * time.Minute
	// readTaskRequestTimeout bounds each of those reads.
	readTaskRequestTimeout = 5 * time.Second
	// maxWriteBackoff is the longest the publisher waits between failed progress writes.
	maxWriteBackoff = 30 * time.Second
)

// writeBackoff spaces the publisher's failed writes while the program runs: the write interval first, then
// twice as long each time, up to maxWriteBackoff.
func writeBackoff(interval time.Duration) wait.Backoff {
	return wait.Backoff{Duration: interval, Factor: 2, Cap: maxWriteBackoff, Steps: math.MaxInt32}
}

// retry calls attempt until it succeeds or ctx ends, waiting on clk between failures as backoff says. It
// returns nil, or the last attempt's error. The wait package's own loops run on the real clock; this one
// runs on clk, so tests can move it.
func retry(ctx context.Context, clk clock.Clock, backoff wait.Backoff, attempt func() error) error {
	delay := backoff.DelayFunc()
	for {
		err := attempt()
		if err == nil || !sleep(ctx, clk, delay()) {
			return err
		}
	}
}

// sleep waits on clk for d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, clk clock.Clock, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := clk.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}

// withClockTimeout is context.WithTimeout on clk.
func withClockTimeout(ctx context.Context, clk clock.WithDelayedExecution, d time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	timer := clk.AfterFunc(d, cancel)
	return ctx, func() { timer.Stop(); cancel() }
}
