package worker

import (
	"math"
	"testing"
	"time"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/pkg/progress"
)

var t0 = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func progressLine(current, total int64, message string) progress.Line {
	return progress.Line{Kind: progress.KindProgress, Current: current, Total: total, Message: message}
}

func TestTrackerProgress(t *testing.T) {
	type report struct {
		line progress.Line
		at   time.Duration
	}
	cases := map[string]struct {
		specTotal   int64
		previous    *longtaskv1.Progress
		reports     []report
		wantSummary string
		wantPercent int32
	}{
		"current over total shows as reported, capped at 100%": {
			reports:     []report{{line: progressLine(30, 25, "")}},
			wantSummary: "30/25 (100%)", wantPercent: 100,
		},
		"unknown total is indeterminate": {
			reports:     []report{{line: progressLine(12, 0, "")}},
			wantSummary: "12", wantPercent: 0,
		},
		"spec total fills in": {
			specTotal:   40,
			reports:     []report{{line: progressLine(10, 0, "")}},
			wantSummary: "10/40 (25%)", wantPercent: 25,
		},
		"a reported total is kept for later reports without one": {
			reports:     []report{{line: progressLine(1, 10, "")}, {line: progressLine(5, 0, "")}},
			wantSummary: "5/10 (50%)", wantPercent: 50,
		},
		"a total that changes mid-run replaces the old one": {
			reports:     []report{{line: progressLine(5, 10, "")}, {line: progressLine(5, 20, "")}},
			wantSummary: "5/20 (25%)", wantPercent: 25,
		},
		"a task may go back within an attempt": {
			reports:     []report{{line: progressLine(8, 10, "")}, {line: progressLine(3, 10, "verifying")}},
			wantSummary: "3/10 (30%)", wantPercent: 30,
		},
		"a retry does not move the bar back while it catches up": {
			previous:    &longtaskv1.Progress{Current: 6, Total: 10, Attempt: 1},
			reports:     []report{{line: progressLine(2, 10, "")}},
			wantSummary: "6/10 (60%)", wantPercent: 60,
		},
		"a retry that passes the earlier progress shows its own": {
			previous:    &longtaskv1.Progress{Current: 6, Total: 10, Attempt: 1},
			reports:     []report{{line: progressLine(2, 10, "")}, {line: progressLine(7, 10, "")}, {line: progressLine(3, 10, "")}},
			wantSummary: "3/10 (30%)", wantPercent: 30,
		},
		"a retry with a new total says where it is": {
			previous:    &longtaskv1.Progress{Current: 6, Total: 10, Attempt: 1},
			reports:     []report{{line: progressLine(2, 50, "")}},
			wantSummary: "2/50 (4%)", wantPercent: 4,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tracker := &Tracker{Total: tc.specTotal, Attempt: 1}
			var s Snapshot
			if tc.previous != nil {
				tracker.Attempt = 2
				tracker.Start(&s, tc.previous, t0)
			}
			for _, r := range tc.reports {
				tracker.Apply(&s, r.line, t0.Add(r.at))
			}
			tracker.Derive(&s, t0)
			if s.Progress.Summary != tc.wantSummary || s.Progress.Percent != tc.wantPercent {
				t.Errorf("shows %q (%d%%), want %q (%d%%)", s.Progress.Summary, s.Progress.Percent, tc.wantSummary, tc.wantPercent)
			}
			if s.Progress.Attempt != tracker.Attempt {
				t.Errorf("attempt %d, want %d", s.Progress.Attempt, tracker.Attempt)
			}
		})
	}
}

func TestTrackerStartMarksTheAttempt(t *testing.T) {
	tracker := &Tracker{Attempt: 3}
	var s Snapshot
	previous := &longtaskv1.Progress{Current: 4, Total: 10, Rate: "2.0/s", Remaining: "3s", Attempt: 2}
	tracker.Start(&s, previous, t0)
	if s.Progress.Attempt != 3 || s.Progress.Current != 4 || !s.Progress.UpdateTime.Time.Equal(t0) {
		t.Errorf("start of attempt 3 shows %+v, want attempt 3 at 4/10, updated now", s.Progress)
	}
	if s.Progress.Rate != "" || s.Progress.Remaining != "" {
		t.Errorf("an earlier attempt's rate %q and ETA %q carried over", s.Progress.Rate, s.Progress.Remaining)
	}
}

func TestTrackerKeepsTheTimeOfTheLastChange(t *testing.T) {
	tracker := &Tracker{Attempt: 1}
	var s Snapshot
	tracker.Apply(&s, progressLine(1, 10, "copying"), t0)
	tracker.Apply(&s, progressLine(1, 10, "copying"), t0.Add(time.Minute))
	if got := s.Progress.UpdateTime.Time; !got.Equal(t0) {
		t.Errorf("updateTime %v after a report that changed nothing, want %v: the progress deadline counts from changes", got, t0)
	}
	tracker.Apply(&s, progressLine(2, 10, "copying"), t0.Add(2*time.Minute))
	if got := s.Progress.UpdateTime.Time; !got.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("updateTime %v after a step, want the step's time", got)
	}
}

func TestTrackerRateAndETA(t *testing.T) {
	tracker := &Tracker{Attempt: 1}
	var s Snapshot
	// Two steps a second, steadily.
	tracker.Apply(&s, progressLine(0, 100, ""), t0)
	tracker.Apply(&s, progressLine(2, 100, ""), t0.Add(time.Second))
	tracker.Derive(&s, t0.Add(time.Second))
	if s.Progress.Rate != "" || s.Progress.ETA != nil {
		t.Fatalf("rate %q shown after two reports, want none until warmed up", s.Progress.Rate)
	}
	for i := int64(2); i <= 20; i++ {
		tracker.Apply(&s, progressLine(2*i, 100, ""), t0.Add(time.Duration(i)*time.Second))
	}
	tracker.Derive(&s, t0.Add(20*time.Second))
	if s.Progress.Rate != "2.0/s" {
		t.Errorf("rate %q, want 2.0/s", s.Progress.Rate)
	}
	// 40 of 100 done at 2/s: 30s left.
	wantETA := t0.Add(50 * time.Second)
	if s.Progress.ETA == nil || !s.Progress.ETA.Time.Equal(wantETA) || s.Progress.Remaining != "30s" {
		t.Errorf("eta %v (%q), want %v (30s)", s.Progress.ETA, s.Progress.Remaining, wantETA)
	}

	// A burst of reports in one instant barely moves a time-weighted average.
	for i := int64(41); i <= 45; i++ {
		tracker.Apply(&s, progressLine(i, 100, ""), t0.Add(20*time.Second+time.Millisecond))
	}
	tracker.Derive(&s, t0.Add(20*time.Second+time.Millisecond))
	if s.Progress.Rate != "2.0/s" && s.Progress.Rate != "2.1/s" {
		t.Errorf("rate %q after a burst, want it to stay near 2.0/s", s.Progress.Rate)
	}

	// A stall: the next step comes a minute later; the rate must drop and the ETA move out.
	tracker.Apply(&s, progressLine(46, 100, ""), t0.Add(80*time.Second))
	tracker.Derive(&s, t0.Add(140*time.Second))
	if s.Progress.Rate != "1.0/min" {
		t.Errorf("rate %q a minute after the last step, want 1.0/min", s.Progress.Rate)
	}
}

// TestTheLongestRateAndRemainingFitTheirCap: the API server refuses a status.progress.rate or remaining
// over MaxProgressFigureBytes. The fastest rate the estimator can see is every step of an int64 in its
// shortest interval (1ms), and the remaining time is a time.Duration, which a huge quotient overflows.
func TestTheLongestRateAndRemainingFitTheirCap(t *testing.T) {
	for _, figure := range []string{
		progress.FormatRate(math.MaxInt64 / 1e-3),
		progress.FormatRate(1e-300),
		progress.FormatRemaining(math.MaxInt64),
		progress.FormatRemaining(math.MinInt64),
	} {
		if len(figure) > longtaskv1.MaxProgressFigureBytes {
			t.Errorf("%q is %d bytes, over MaxProgressFigureBytes (%d)", figure, len(figure), longtaskv1.MaxProgressFigureBytes)
		}
	}
}
