package controllers

import (
	"context"
	"math"
	"sync"
	"time"

	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// recountEvery is how long a count of the running tasks is used before the tasks are counted again.
const recountEvery = 5 * time.Second

// WriteBudget shares a cluster-wide budget of progress writes per second among the unfinished tasks: with
// n tasks and a budget of b writes a second, each task writes at most once every n/b seconds. The interval
// is rounded up to a power of two seconds, so that it changes, and with it every task's status, only when
// the number of tasks doubles or halves.
type WriteBudget struct {
	reader    client.Reader
	clock     clock.PassiveClock
	perSecond float64

	mu        sync.Mutex
	countedAt time.Time
	interval  time.Duration
}

// NewWriteBudget returns a budget of writesPerSecond, counting tasks through reader, and again when clock
// says that recountEvery has passed; 0 means no budget.
func NewWriteBudget(reader client.Reader, writesPerSecond float64, clock clock.PassiveClock) *WriteBudget {
	return &WriteBudget{reader: reader, clock: clock, perSecond: writesPerSecond}
}

// Interval is the shortest write interval the budget allows each unfinished task; 0 when the budget does
// not limit them.
func (b *WriteBudget) Interval(ctx context.Context) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.perSecond <= 0 {
		return 0
	}
	if b.clock.Since(b.countedAt) < recountEvery {
		return b.interval
	}
	tasks := &longtaskv1.LongTaskList{}
	// The count only reads phases, so the cache's objects need not be copied.
	if err := b.reader.List(ctx, tasks, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "Counting the running tasks for the write budget; keeping the last interval")
		return b.interval
	}
	unfinished := 0
	for i := range tasks.Items {
		if !tasks.Items[i].Status.Phase.Finished() {
			unfinished++
		}
	}
	b.interval = budgetInterval(unfinished, b.perSecond)
	b.countedAt = b.clock.Now()
	return b.interval
}

// WritesPerSecond is the budget; 0 means none.
func (b *WriteBudget) WritesPerSecond() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.perSecond
}

// SetWritesPerSecond changes the budget; the next Interval counts the tasks again.
func (b *WriteBudget) SetWritesPerSecond(writesPerSecond float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.perSecond, b.countedAt = writesPerSecond, time.Time{}
}

// budgetInterval is the write interval that keeps that many tasks within writesPerSecond, rounded up to a
// power of two seconds; 0 when one write a second each fits.
func budgetInterval(tasks int, writesPerSecond float64) time.Duration {
	seconds := float64(tasks) / writesPerSecond
	if seconds <= 1 {
		return 0
	}
	return time.Duration(math.Exp2(math.Ceil(math.Log2(seconds)))) * time.Second
}
