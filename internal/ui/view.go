package ui

import (
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasks"
)

// taskView is a LongTask as the pages and the JSON API show it.
type taskView struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Phase     string `json:"phase"`
	Finished  bool   `json:"finished"`
	Cancel    bool   `json:"cancelRequested"`
	Age       string `json:"age"`
	Attempts  int32  `json:"attempts"`

	Current int64 `json:"current"`
	Total   int64 `json:"total"`
	Percent int32 `json:"percent"`
	// Indeterminate is true while the total is unknown: the bar moves without saying how far.
	Indeterminate bool   `json:"indeterminate"`
	Summary       string `json:"summary"`
	Message       string `json:"message"`
	Rate          string `json:"rate"`
	Remaining     string `json:"remaining"`

	// Template and Parameters say what the task was started from, when it names a template.
	Template   string                      `json:"template,omitempty"`
	Parameters []longtaskv1.ParameterValue `json:"parameters,omitempty"`
	// Started is when the task started running; Duration is how long it ran, or has run so far.
	Started  string `json:"started,omitempty"`
	Duration string `json:"duration,omitempty"`

	Result  string              `json:"result"`
	Failure *longtaskv1.Failure `json:"failure,omitempty"`
	// ExitNote tells the program's exit code beside a failure's message that does not already state it.
	ExitNote string `json:"exitNote,omitempty"`

	// object is the LongTask shown, whose UID and Job tell its pods (tasks.Pods).
	object *longtaskv1.LongTask
}

func newTaskView(task *longtaskv1.LongTask, now time.Time) taskView {
	v := taskView{
		Namespace: task.Namespace,
		Name:      task.Name,
		Phase:     string(task.Status.Phase.OrPending()),
		Finished:  task.Status.Phase.Finished(),
		Cancel:    task.Spec.Cancel,
		Age:       age(now.Sub(task.CreationTimestamp.Time)),
		Attempts:  task.Status.Attempts,
		Result:    task.Status.Result,
		Failure:   task.Status.Failure,
		object:    task,
	}
	if p := task.Status.Progress; p != nil {
		v.Current, v.Total, v.Percent = p.Current, p.Total, p.Percent
		v.Summary, v.Message = p.Summary, p.Message
		if !v.Finished {
			v.Rate, v.Remaining = tasks.RateAndRemaining(p, nil, now)
		}
	}
	v.Indeterminate = v.Total <= 0 && !v.Finished
	if ref := task.Spec.TemplateRef; ref != nil {
		v.Template, v.Parameters = ref.Name, task.Spec.Parameters
	}
	if start := task.Status.StartTime; start != nil {
		v.Started = start.UTC().Format(time.DateTime) + " UTC"
		end := now
		if done := task.Status.CompletionTime; done != nil {
			end = done.Time
		}
		v.Duration = end.Sub(start.Time).Round(time.Second).String()
	}
	if f := v.Failure; f != nil && f.ExitCode != nil && f.Reason.ExitCodeFromProgram() && !f.Reason.MessageStatesExitCode() {
		v.ExitNote = " (exit code " + strconv.Itoa(int(*f.ExitCode)) + ")"
	}
	return v
}

// age is how long ago something happened, as kubectl says it: "5m", "2d".
func age(d time.Duration) string { return duration.HumanDuration(d) }
