package worker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// recorder is a WriteFunc that keeps what was written and can be told to fail.
type recorder struct {
	mu       sync.Mutex
	written  []Snapshot
	failures int // the next writes that fail
}

func (r *recorder) write(_ context.Context, s Snapshot) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures > 0 {
		r.failures--
		return errors.New("the API server is unreachable")
	}
	r.written = append(r.written, s)
	return nil
}

func (r *recorder) snapshots() []Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Snapshot(nil), r.written...)
}

// waitFor polls until cond holds, failing the test after a generous limit.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func report(p *Publisher, current int64) {
	p.Update(func(s *Snapshot) { s.Progress = &longtaskv1.Progress{Current: current, Total: 1000} })
}

func startPublisher(t *testing.T, interval time.Duration, rec *recorder) (*Publisher, func()) {
	p := NewPublisher(interval, rec.write)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	stop := func() {
		cancel()
		<-done
		if err := p.Flush(context.Background()); err != nil {
			t.Fatalf("Flush: %v", err)
		}
	}
	t.Cleanup(func() { cancel(); <-done })
	return p, stop
}

func TestPublisherWritesFirstAndFinalReportsOnly(t *testing.T) {
	rec := &recorder{}
	p, stop := startPublisher(t, time.Hour, rec)

	report(p, 1)
	waitFor(t, "the first report to be written at once", func() bool { return len(rec.snapshots()) == 1 })
	for i := int64(2); i <= 1000; i++ {
		report(p, i)
	}
	stop()

	got := rec.snapshots()
	if len(got) != 2 {
		t.Fatalf("%d writes for 1000 reports within one interval, want 2 (the first and the final)", len(got))
	}
	if got[0].Progress.Current != 1 || got[1].Progress.Current != 1000 {
		t.Errorf("wrote reports %d and %d, want 1 and 1000", got[0].Progress.Current, got[1].Progress.Current)
	}
}

func TestPublisherWritesTheLatestReportAtTheEndOfTheInterval(t *testing.T) {
	rec := &recorder{}
	p, stop := startPublisher(t, 50*time.Millisecond, rec)

	report(p, 1)
	waitFor(t, "the first write", func() bool { return len(rec.snapshots()) == 1 })
	report(p, 2)
	report(p, 3)
	waitFor(t, "the write at the end of the interval", func() bool { return len(rec.snapshots()) == 2 })
	stop()

	got := rec.snapshots()
	if len(got) != 2 {
		t.Fatalf("%d writes, want 2: nothing changed after the second", len(got))
	}
	if got[1].Progress.Current != 3 {
		t.Errorf("the interval's write carried report %d, want the latest, 3", got[1].Progress.Current)
	}
}

func TestPublisherKeepsTheLatestStateWhileTheAPIServerIsDown(t *testing.T) {
	rec := &recorder{failures: 3}
	p := NewPublisher(10*time.Millisecond, rec.write)
	report(p, 1)
	report(p, 2)
	if err := p.Flush(context.Background()); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	got := rec.snapshots()
	if len(got) != 1 || got[0].Progress.Current != 2 {
		t.Errorf("wrote %+v, want only the latest report, 2, once the API server answered", got)
	}
}

func TestFlushGivesUpWhenItsContextEnds(t *testing.T) {
	rec := &recorder{failures: 1 << 30}
	p := NewPublisher(10*time.Millisecond, rec.write)
	report(p, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Flush(ctx); err == nil {
		t.Error("Flush succeeded against an API server that never answers")
	}
}

// The publisher keeps to the longer interval the controller asks for, and never to a shorter one.
func TestPublisherFollowsTheControllersInterval(t *testing.T) {
	cases := map[string]struct {
		effective *metav1.Duration
		want      time.Duration
	}{
		"nothing asked":  {nil, time.Second},
		"a longer one":   {&metav1.Duration{Duration: 16 * time.Second}, 16 * time.Second},
		"a shorter one":  {&metav1.Duration{Duration: 100 * time.Millisecond}, time.Second},
		"the task's own": {&metav1.Duration{Duration: time.Second}, time.Second},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := NewPublisher(time.Second, func(context.Context, Snapshot) error { return nil })
			task := &longtaskv1.LongTask{}
			task.Status.EffectiveProgressInterval = tc.effective
			p.Follow(task, time.Second)
			if got := p.currentInterval(); got != tc.want {
				t.Errorf("interval %s, want %s", got, tc.want)
			}
		})
	}
}

// TestPublisherBacksOffBetweenFailedWrites checks the spacing of writes while the API server fails them:
// from the write interval, doubling up to 30 s, and then, after the program exited, the final flush's from
// 100 ms doubling up to 5 s.
func TestPublisherBacksOffBetweenFailedWrites(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]struct {
		flush     bool
		step      time.Duration
		wantTimes []time.Duration
	}{
		"while the program runs": {
			step:      time.Second,
			wantTimes: []time.Duration{0, 1 * time.Second, 3 * time.Second, 7 * time.Second, 15 * time.Second, 31 * time.Second, 61 * time.Second, 91 * time.Second},
		},
		"the final flush": {
			flush: true,
			step:  100 * time.Millisecond,
			wantTimes: []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond, 1500 * time.Millisecond,
				3100 * time.Millisecond, 6300 * time.Millisecond, 11300 * time.Millisecond, 16300 * time.Millisecond},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			clk := clocktesting.NewFakeClock(start)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var times []time.Duration
			p := newPublisher(time.Second, func(context.Context, Snapshot) error {
				times = append(times, clk.Since(start))
				if len(times) == len(tc.wantTimes) {
					cancel()
				}
				return errors.New("the API server is unreachable")
			}, clk)
			report(p, 1)
			runOnClock(t, clk, tc.step, 1, func() {
				if tc.flush {
					_ = p.Flush(ctx)
				} else {
					p.Run(ctx)
				}
			})
			if diff := cmp.Diff(tc.wantTimes, times); diff != "" {
				t.Errorf("writes at (-want,+got):\n%s", diff)
			}
		})
	}
}
