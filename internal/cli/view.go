package cli

import (
	"strings"
	"time"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasks"
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
	if v.Deleted {
		return "Deleted"
	}
	return string(v.Phase.OrPending())
}

// newTaskView is what to show of task at now; its rate and time left are tasks.RateAndRemaining's, from
// the progress the watch observed.
func newTaskView(task *longtaskv1.LongTask, name string, observed *tasks.ObservedRate, now time.Time) taskView {
	v := taskView{Name: name, Phase: task.Status.Phase}
	if p := task.Status.Progress; p != nil {
		v.Percent = longtaskv1.Percent(p.Current, p.Total)
		v.Summary = longtaskv1.Summary(p.Current, p.Total)
		v.Message = printable(p.Message)
		if !v.finished() {
			rate, remaining := tasks.RateAndRemaining(p, observed, now)
			v.Rate, v.Remaining = printable(rate), remaining
		}
	}
	if v.Phase == longtaskv1.PhaseSucceeded {
		v.Percent = 100
	}
	if f := task.Status.Failure; f != nil && v.Phase == longtaskv1.PhaseFailed {
		v.Failure = printable(string(f.Reason) + ": " + f.Message)
		v.Output = lastLines(printableLines(f.Output), failureLines)
	}
	return v
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
