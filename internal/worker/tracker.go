package worker

import (
	"math"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/text"
	"github.com/longtask-dev/longtask/pkg/progress"
)

// Rate estimation: an exponential moving average of the step rate, weighted by the time between reports
// so that bursts of reports do not swing it, shown only after a warm-up.
const (
	// rateTimeConstant is how far back the average mostly looks.
	rateTimeConstant = 30 * time.Second
	// warmupReports and warmupTime must both pass before a rate or ETA is shown.
	warmupReports = 3
	warmupTime    = 3 * time.Second
)

// Tracker turns a task's reports into the worker's part of the LongTask's status. It is not safe for
// concurrent use: the Publisher serializes calls through Update.
type Tracker struct {
	// Total is spec.total, used until the task reports a total of its own; 0 when unknown.
	Total int64
	// Attempt is this attempt's number, from 1.
	Attempt int32
	// floor is the progress an earlier attempt reached: viewers keep seeing it until this attempt passes it
	// or reports a different total.
	floor *longtaskv1.Progress

	rate rateEstimator
}

// Start records the beginning of an attempt in the snapshot, carrying over what an earlier attempt
// reached.
func (t *Tracker) Start(s *Snapshot, previous *longtaskv1.Progress, now time.Time) {
	t.floor = previous.DeepCopy()
	p := &longtaskv1.Progress{Total: t.Total}
	if previous != nil {
		p = previous.DeepCopy()
		p.Rate, p.ETA, p.Remaining = "", nil, ""
	}
	p.Attempt = t.Attempt
	p.UpdateTime = &metav1.Time{Time: now}
	p.Percent, p.Summary = longtaskv1.Percent(p.Current, p.Total), longtaskv1.Summary(p.Current, p.Total)
	s.Progress = p
}

// Apply applies one report to the snapshot.
func (t *Tracker) Apply(s *Snapshot, line progress.Line, now time.Time) {
	switch line.Kind {
	case progress.KindResult:
		result := text.Cut(line.Result, longtaskv1.MaxResultBytes, text.Start)
		s.Result = &result
	case progress.KindCheckpoint:
		checkpoint := line.Checkpoint
		s.Checkpoint = &checkpoint
	case progress.KindProgress:
		t.applyProgress(s, line, now)
	}
}

func (t *Tracker) applyProgress(s *Snapshot, line progress.Line, now time.Time) {
	total := line.Total
	if total == 0 && s.Progress != nil {
		total = s.Progress.Total
	}
	if total == 0 {
		total = t.Total
	}
	current, message := line.Current, text.Cut(line.Message, longtaskv1.MaxProgressMessageBytes, text.Start)
	if f := t.floor; f != nil {
		if f.Total == total && current < f.Current {
			// A retried attempt is catching up: keep showing how far the task already got.
			current = f.Current
		} else {
			t.floor = nil
		}
	}

	// Reports can come thousands of times a second, so this only records them, in place; what is derived
	// from them for viewers is worked out once per write, in Derive.
	p := s.Progress
	if p == nil {
		p = &longtaskv1.Progress{}
		s.Progress = p
	}
	if p.UpdateTime == nil || p.Current != current || p.Total != total || p.Message != message || p.Attempt != t.Attempt {
		// Something a viewer would see changed. Reports that change nothing keep the time of the last
		// change, which the progress deadline counts from.
		p.UpdateTime = &metav1.Time{Time: now}
	}
	p.Current, p.Total, p.Message, p.Attempt = current, total, message, t.Attempt
	t.rate.observe(now, line.Current, total)
}

// Derive works out what viewers see from the reports in the snapshot: percent, summary, and the rate and
// ETA as of now. The publisher calls it on each snapshot it writes (Publisher.BeforeWrite), not on each
// report.
func (t *Tracker) Derive(s *Snapshot, now time.Time) {
	p := s.Progress
	if p == nil {
		return
	}
	p.Percent, p.Summary = longtaskv1.Percent(p.Current, p.Total), longtaskv1.Summary(p.Current, p.Total)
	p.Rate, p.ETA, p.Remaining = "", nil, ""
	rate, ok := t.rate.estimate(now)
	if !ok {
		return
	}
	p.Rate = progress.FormatRate(rate)
	if p.Total > 0 && p.Current < p.Total {
		remaining := time.Duration(float64(p.Total-p.Current) / rate * float64(time.Second)).Round(time.Second)
		p.ETA = &metav1.Time{Time: now.Add(remaining)}
		p.Remaining = progress.FormatRemaining(remaining)
	}
}

// rateEstimator keeps a time-weighted moving average of steps per second.
type rateEstimator struct {
	reports      int
	start, last  time.Time
	startCurrent int64
	lastCurrent  int64
	total        int64
	perSecond    float64
}

func (e *rateEstimator) observe(now time.Time, current, total int64) {
	if e.reports == 0 || current < e.lastCurrent || total != e.total {
		// The first report, or the task went back or changed its total: what came before says nothing
		// about the rate from here on.
		*e = rateEstimator{reports: 1, start: now, last: now, startCurrent: current, lastCurrent: current, total: total}
		return
	}
	if current == e.lastCurrent {
		return
	}
	elapsed := now.Sub(e.last).Seconds()
	instant := float64(current-e.lastCurrent) / math.Max(elapsed, 1e-3)
	if e.reports < warmupReports {
		// Until warmed up, the plain average since the first report.
		e.perSecond = float64(current-e.startCurrent) / math.Max(now.Sub(e.start).Seconds(), 1e-3)
	} else {
		alpha := 1 - math.Exp(-elapsed/rateTimeConstant.Seconds())
		e.perSecond += alpha * (instant - e.perSecond)
	}
	e.reports++
	e.last, e.lastCurrent = now, current
}

// estimate returns the rate once warmed up. A task that has made no step for longer than the rate
// predicts is slower than the average says, so the time since its last step caps the rate.
func (e *rateEstimator) estimate(now time.Time) (float64, bool) {
	if e.reports < warmupReports || now.Sub(e.start) < warmupTime || e.perSecond <= 0 {
		return 0, false
	}
	rate := e.perSecond
	if since := now.Sub(e.last).Seconds(); since > 0 {
		rate = math.Min(rate, 1/since)
	}
	return rate, true
}
