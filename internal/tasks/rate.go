package tasks

import (
	"time"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/pkg/progress"
)

// RateAndRemaining are the rate and the time left to show of a task's progress at now: the worker's rate
// when it gave one, with the time left counted down from its ETA, so that a task that stopped reporting
// does not show the time left as of its last report; else the rate observed estimates, when given.
func RateAndRemaining(p *longtaskv1.Progress, observed *ObservedRate, now time.Time) (rate, remaining string) {
	if p.Rate != "" {
		if p.ETA != nil {
			remaining = progress.FormatRemaining(max(0, p.ETA.Sub(now)))
		}
		return p.Rate, remaining
	}
	if observed == nil {
		return "", ""
	}
	perSecond, ok := observed.estimate(now)
	if !ok {
		return "", ""
	}
	if p.Total > 0 && p.Current < p.Total {
		left := time.Duration(float64(p.Total-p.Current)/perSecond*float64(time.Second)) - now.Sub(observed.last)
		remaining = progress.FormatRemaining(max(0, left))
	}
	return progress.FormatRate(perSecond), remaining
}

// ObservedRate estimates a task's rate from the progress a watch saw, for tasks whose worker gives none:
// the average since the first step seen, once steps were seen over warmupTime. The worker's own estimate
// (internal/worker's Tracker) sees every report; a watch sees only the writes, a progress interval or
// more apart, so this one does not cap the rate by the time since the last step, as the worker's does.
type ObservedRate struct {
	first, last               time.Time
	firstCurrent, lastCurrent int64
	total                     int64
	attempt                   int32
	steps                     int
}

// warmupTime and warmupSteps are how much a watch must see before it estimates a rate.
const (
	warmupTime  = 3 * time.Second
	warmupSteps = 2
)

// Observe records the progress seen at now.
func (o *ObservedRate) Observe(p *longtaskv1.Progress, now time.Time) {
	if p == nil {
		return
	}
	if o.first.IsZero() || p.Current < o.lastCurrent || p.Total != o.total || p.Attempt != o.attempt {
		// The first report seen, or the task went back, changed its total or started again: what came before
		// says nothing about the rate from here on.
		*o = ObservedRate{first: now, last: now, firstCurrent: p.Current, lastCurrent: p.Current, total: p.Total, attempt: p.Attempt}
		return
	}
	if p.Current == o.lastCurrent {
		return
	}
	o.steps++
	o.last, o.lastCurrent = now, p.Current
}

// estimate is the rate in steps per second, once known.
func (o *ObservedRate) estimate(now time.Time) (float64, bool) {
	span := o.last.Sub(o.first)
	if o.steps < warmupSteps || span < warmupTime {
		return 0, false
	}
	return float64(o.lastCurrent-o.firstCurrent) / span.Seconds(), true
}
