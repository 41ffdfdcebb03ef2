package tasks

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// observation is progress seen by a watch some seconds after now.
type observation struct {
	after          time.Duration
	current, total int64
	attempt        int32
}

func TestObservedRate(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := map[string]struct {
		seen          []observation
		at            time.Duration
		wantRate      string
		wantRemaining string
	}{
		"nothing seen yet": {at: time.Second},
		"one report": {
			seen: []observation{{0, 10, 100, 1}}, at: 5 * time.Second,
		},
		"two steps, too soon to say": {
			seen: []observation{{0, 10, 100, 1}, {time.Second, 12, 100, 1}, {2 * time.Second, 14, 100, 1}}, at: 2 * time.Second,
		},
		"steady, 2 a second": {
			seen:     []observation{{0, 10, 100, 1}, {2 * time.Second, 14, 100, 1}, {4 * time.Second, 18, 100, 1}},
			at:       4 * time.Second,
			wantRate: "2.0/s", wantRemaining: "41s",
		},
		"counted down since the last step": {
			seen:     []observation{{0, 10, 100, 1}, {2 * time.Second, 14, 100, 1}, {4 * time.Second, 18, 100, 1}},
			at:       14 * time.Second,
			wantRate: "2.0/s", wantRemaining: "31s",
		},
		"slow: per minute": {
			seen:     []observation{{0, 1, 10, 1}, {30 * time.Second, 2, 10, 1}, {60 * time.Second, 3, 10, 1}},
			at:       60 * time.Second,
			wantRate: "2.0/min", wantRemaining: "3m30s",
		},
		"a new attempt starts over": {
			seen: []observation{{0, 10, 100, 1}, {2 * time.Second, 14, 100, 1}, {4 * time.Second, 18, 100, 1}, {5 * time.Second, 18, 100, 2}},
			at:   6 * time.Second,
		},
		"going back starts over": {
			seen: []observation{{0, 10, 100, 1}, {2 * time.Second, 14, 100, 1}, {4 * time.Second, 18, 100, 1}, {5 * time.Second, 3, 100, 1}},
			at:   6 * time.Second,
		},
		"unknown total: a rate, no ETA": {
			seen:     []observation{{0, 10, 0, 1}, {2 * time.Second, 14, 0, 1}, {4 * time.Second, 18, 0, 1}},
			at:       4 * time.Second,
			wantRate: "2.0/s",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var observed ObservedRate
			var last *longtaskv1.Progress
			for _, o := range tc.seen {
				last = &longtaskv1.Progress{Current: o.current, Total: o.total, Attempt: o.attempt}
				observed.Observe(last, now.Add(o.after))
			}
			if last == nil {
				last = &longtaskv1.Progress{}
			}
			rate, remaining := RateAndRemaining(last, &observed, now.Add(tc.at))
			if diff := cmp.Diff([]string{tc.wantRate, tc.wantRemaining}, []string{rate, remaining}); diff != "" {
				t.Errorf("rate and remaining (-want,+got):\n%s", diff)
			}
		})
	}
}
