package worker

import (
	"context"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// Snapshot is the part of a LongTask's status the worker owns.
type Snapshot struct {
	Progress *longtaskv1.Progress
	// Result is nil until the task reports one.
	Result *string
	// Checkpoint is nil until the task reports one.
	Checkpoint *string
}

// DeepCopy returns a copy that shares nothing with s.
func (s Snapshot) DeepCopy() Snapshot {
	c := Snapshot{Progress: s.Progress.DeepCopy()}
	if s.Result != nil {
		result := *s.Result
		c.Result = &result
	}
	if s.Checkpoint != nil {
		checkpoint := *s.Checkpoint
		c.Checkpoint = &checkpoint
	}
	return c
}

// WriteFunc writes a snapshot to the API server.
type WriteFunc func(context.Context, Snapshot) error

// Publisher coalesces a task's reports into status writes: the first report is written at once, then at
// most one write per interval carries the latest state, and Flush writes the final state. However fast a
// task reports, the publisher holds one snapshot, so its memory is bounded.
type Publisher struct {
	write WriteFunc
	// OnError is told about failed writes, which are retried with backoff.
	OnError func(error)
	// BeforeWrite, when set, completes each snapshot taken to be written, with the time it is taken: work
	// that is needed once per write rather than once per report (Tracker.Derive).
	BeforeWrite func(*Snapshot, time.Time)

	clock    clock.Clock
	mu       sync.Mutex
	interval time.Duration
	latest   Snapshot
	version  uint64 // counts updates
	written  uint64 // the version last written
	wake     chan struct{}
}

// NewPublisher returns a publisher that calls write at most once per interval.
func NewPublisher(interval time.Duration, write WriteFunc) *Publisher {
	return newPublisher(interval, write, clock.RealClock{})
}

// newPublisher is NewPublisher on the given clock.
func newPublisher(interval time.Duration, write WriteFunc, clk clock.Clock) *Publisher {
	return &Publisher{write: write, clock: clk, interval: interval, wake: make(chan struct{}, 1), OnError: func(error) {}}
}

// SetInterval changes the shortest time between writes, as the controller's write budget asks.
func (p *Publisher) SetInterval(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.interval = d
}

// Follow keeps to the interval the controller asks of the task in status.effectiveProgressInterval, which
// may be longer than base, the task's own spec.progressInterval, but never shorter.
func (p *Publisher) Follow(task *longtaskv1.LongTask, base time.Duration) {
	if d := task.Status.EffectiveProgressInterval; d != nil {
		p.SetInterval(max(base, d.Duration))
	}
}

func (p *Publisher) currentInterval() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.interval
}

// Update changes the latest state; change must not keep the snapshot it is given.
func (p *Publisher) Update(change func(*Snapshot)) {
	p.mu.Lock()
	change(&p.latest)
	p.version++
	p.mu.Unlock()
	p.poke()
}

// Latest returns a copy of the latest state.
func (p *Publisher) Latest() Snapshot {
	snap, _ := p.snapshot()
	return snap
}

func (p *Publisher) snapshot() (Snapshot, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	snap := p.latest.DeepCopy()
	if p.BeforeWrite != nil {
		p.BeforeWrite(&snap, p.clock.Now())
	}
	return snap, p.version
}

// Run writes updates until ctx ends. Call Flush after it returned to write the final state.
func (p *Publisher) Run(ctx context.Context) {
	var lastWrite time.Time
	var backoff wait.DelayFunc // while writes fail
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		if !lastWrite.IsZero() {
			if !sleep(ctx, p.clock, p.currentInterval()-p.clock.Since(lastWrite)) {
				return
			}
		}
		snap, version := p.snapshot()
		if version == p.written {
			continue
		}
		if err := p.write(ctx, snap); err != nil {
			if ctx.Err() != nil {
				return
			}
			p.OnError(err)
			// Keep only the latest state and try again later; updates meanwhile just replace it.
			if backoff == nil {
				backoff = writeBackoff(p.currentInterval()).DelayFunc()
			}
			if !sleep(ctx, p.clock, backoff()) {
				return
			}
			p.poke()
			continue
		}
		backoff = nil
		p.written = version
		lastWrite = p.clock.Now()
	}
}

// Flush writes the latest state if it was not written yet, retrying with flushBackoff until ctx ends. It
// must not run at the same time as Run.
func (p *Publisher) Flush(ctx context.Context) error {
	return retry(ctx, p.clock, flushBackoff, func() error {
		snap, version := p.snapshot()
		if version == p.written {
			return nil
		}
		if err := p.write(ctx, snap); err != nil {
			p.OnError(err)
			return err
		}
		p.written = version
		return nil
	})
}

func (p *Publisher) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
