package cli

import (
	"strings"
	"time"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/pkg/progress"
)

// failureLines is how many of a failed task's last lines of output the plugin shows under it.
const failureLines = 10

// taskView is what the plugin shows of a task at one moment, with everything the task reported made
// printable.
type taskView struct {
	// Name is the task's name, or namespace/name when tasks of several namespaces are shown.
	Name    string
	Phase   longtaskv1.Phase
	Percent int32
	// Summary is "12/25 (48%)", or the count alone when the total is unknown; empty before any report.
	Summary string
	Message string
	// Rate and Remaining are empty until known, and once the task finished.
	Rate, Remaining string
	// Failure is why a failed task failed: its reason and message; Output is its last lines.
	Failure string
	Output  []string
	// Deleted is a task deleted before it finished.
	Deleted bool
}

// finished reports whether the task will change no more.
func (v taskView) finished() bool { return v.Deleted || v.Phase.Finished() }

// succeeded reports whether the task finished well.
func (v taskView) succeeded() bool { return !v.Deleted && v.Phase == longtaskv1.PhaseSucceeded }

// phaseText is the phase as shown: a task the controller has not looked at yet is Pending.
func (v taskView) phaseText() string {
	switch {
	case v.Deleted:
		return "Deleted"
	case v.Phase == "":
		return string(longtaskv1.PhasePending)
	default:
		return string(v.Phase)
	}
}

// newTaskView is what to show of task at now. Its rate and ETA are the worker's when it gave them,
// else what observed estimates from the progress the watch saw.
func newTaskView(task *longtaskv1.LongTask, name string, observed *observedRate, now time.Time) taskView {
	v := taskView{Name: name, Phase: task.Status.Phase}
	if p := task.Status.Progress; p != nil {
		v.Percent = longtaskv1.Percent(p.Current, p.Total)
		v.Summary = longtaskv1.Summary(p.Current, p.Total)
		v.Message = printable(p.Message)
		if !v.finished() {
			v.Rate, v.Remaining = rateAndRemaining(p, observed, now)
		}
	}
	if v.Phase == longtaskv1.PhaseSucceeded {
		v.Percent = 100
	}
	if f := task.Status.Failure; f != nil && v.Phase == longtaskv1.PhaseFailed {
		v.Failure = printable(f.Reason + ": " + f.Message)
		v.Output = lastLines(printableLines(f.Output), failureLines)
	}
	return v
}

// rateAndRemaining are the worker's rate and time left when it gave them, counting the time left down
// from its ETA; else the rate observed by the watch.
func rateAndRemaining(p *longtaskv1.Progress, observed *observedRate, now time.Time) (string, string) {
	if p.Rate != "" {
		remaining := ""
		if p.ETA != nil {
			remaining = progress.FormatRemaining(max(0, p.ETA.Sub(now)))
		}
		return printable(p.Rate), remaining
	}
	if observed == nil {
		return "", ""
	}
	perSecond, ok := observed.estimate(now)
	if !ok {
		return "", ""
	}
	remaining := ""
	if p.Total > 0 && p.Current < p.Total {
		left := time.Duration(float64(p.Total-p.Current)/perSecond*float64(time.Second)) - now.Sub(observed.last)
		remaining = progress.FormatRemaining(max(0, left))
	}
	return progress.FormatRate(perSecond), remaining
}

// plainLine is a task's line when the output is not a terminal: "resize Running 12/25 (48%) 0.5/s ETA 26s
// Resized cat.jpg".
func plainLine(v taskView) string {
	if v.Deleted {
		return v.Name + " deleted before it finished"
	}
	fields := []string{v.Name, v.phaseText()}
	if v.Summary != "" {
		fields = append(fields, v.Summary)
	}
	if v.Rate != "" {
		fields = append(fields, v.Rate)
	}
	if v.Remaining != "" {
		fields = append(fields, "ETA "+v.Remaining)
	}
	if v.Failure != "" {
		fields = append(fields, v.Failure)
	} else if v.Message != "" {
		fields = append(fields, v.Message)
	}
	return strings.Join(fields, " ")
}

// plainChange is what makes a new plain line worth printing: the rate and ETA alone do not, so that a log
// gets a line when the task moved, not each time its estimate did.
func plainChange(v taskView) string {
	return strings.Join([]string{v.phaseText(), v.Summary, v.Message, v.Failure}, "\x00")
}

// observedRate estimates a task's rate from the progress the watch saw, for tasks whose worker gives none:
// the average since the first step seen, once steps were seen over warmupTime.
type observedRate struct {
	first, last               time.Time
	firstCurrent, lastCurrent int64
	total                     int64
	attempt                   int32
	steps                     int
}

// warmupTime and warmupSteps are how much the watch must see before it estimates a rate.
const (
	warmupTime  = 3 * time.Second
	warmupSteps = 2
)

// observe records the progress seen at now.
func (o *observedRate) observe(p *longtaskv1.Progress, now time.Time) {
	if p == nil {
		return
	}
	if o.first.IsZero() || p.Current < o.lastCurrent || p.Total != o.total || p.Attempt != o.attempt {
		// The first report seen, or the task went back, changed its total or started again: what came before
		// says nothing about the rate from here on.
		*o = observedRate{first: now, last: now, firstCurrent: p.Current, lastCurrent: p.Current, total: p.Total, attempt: p.Attempt}
		return
	}
	if p.Current == o.lastCurrent {
		return
	}
	o.steps++
	o.last, o.lastCurrent = now, p.Current
}

// estimate is the rate in steps per second, once known.
func (o *observedRate) estimate(now time.Time) (float64, bool) {
	span := o.last.Sub(o.first)
	if o.steps < warmupSteps || span < warmupTime {
		return 0, false
	}
	return float64(o.lastCurrent-o.firstCurrent) / span.Seconds(), true
}
