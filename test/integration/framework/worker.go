package framework

import (
	"context"
	"testing"
	"time"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/worker"
	"github.com/longtask-dev/longtask/pkg/progress"
)

// Worker stands in for a task's longtask-worker where a test has no program to run: the lines a program
// would print go through the worker's own Tracker and StatusWriter, so the status it writes is the one the
// worker would write.
type Worker struct {
	t       *testing.T
	tracker worker.Tracker
	snap    worker.Snapshot
	write   worker.WriteFunc
}

// Worker is a worker of task that writes as the administrator.
func (f *Framework) Worker(t *testing.T, task *longtaskv1.LongTask) *Worker {
	return NewWorker(t, f.Client, task)
}

// NewWorker is a worker of task that writes through c.
func NewWorker(t *testing.T, c client.Client, task *longtaskv1.LongTask) *Worker {
	return &Worker{
		t:       t,
		tracker: worker.Tracker{Total: ptr.Deref(task.Spec.Total, 0), Attempt: 1},
		write:   worker.StatusWriter(c, client.ObjectKeyFromObject(task), func(*longtaskv1.LongTask) {}),
	}
}

// Reports writes what the program printed, protocol lines (pkg/progress): "::progress 3/10 message",
// "::result text", in one write, as the worker does at the end of its write interval. It fails the test
// if the write fails.
func (w *Worker) Reports(lines ...string) {
	w.t.Helper()
	if err := w.Report(lines...); err != nil {
		w.t.Fatalf("writing %q as the worker: %v", lines, err)
	}
}

// Report is Reports that returns the write's error.
func (w *Worker) Report(lines ...string) error {
	w.t.Helper()
	var reports []progress.Line
	for _, line := range lines {
		parsed, ok := progress.Parse(line)
		if !ok {
			w.t.Fatalf("%q is not a report the worker would take", line)
		}
		reports = append(reports, parsed)
	}
	return w.apply(reports...)
}

// ResultFile writes the result the program left in its result file, which, unlike a ::result line, may
// hold several lines.
func (w *Worker) ResultFile(result string) {
	w.t.Helper()
	if err := w.apply(progress.Line{Kind: progress.KindResult, Result: result}); err != nil {
		w.t.Fatalf("writing the result as the worker: %v", err)
	}
}

// apply takes in reports and writes the status they make.
func (w *Worker) apply(reports ...progress.Line) error {
	now := time.Now()
	for _, report := range reports {
		w.tracker.Apply(&w.snap, report, now)
	}
	w.tracker.Derive(&w.snap, now)
	return w.write(context.Background(), w.snap.DeepCopy())
}
