package cli

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasks"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

var now = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestTaskViewAndPlainLine(t *testing.T) {
	withRate := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Progress(12, 25, "Resized cat.jpg").Obj()
	withRate.Status.Progress.Rate = "0.5/s"
	withRate.Status.Progress.ETA = &metav1.Time{Time: now.Add(26 * time.Second)}
	pastETA := withRate.DeepCopy()
	pastETA.Status.Progress.ETA = &metav1.Time{Time: now.Add(-time.Minute)}
	failed := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseFailed).Progress(5, 25, "Resized \x1b[2Jcat.jpg").Obj()
	failed.Status.Failure = &longtaskv1.Failure{
		Reason: "TaskFailed", Message: "The task exited with code 3", ExitCode: ptr.To[int32](3),
		Output: "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\nline 11\n\x1b]0;pwned\x07disk full\n",
	}
	succeeded := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseSucceeded).Progress(25, 25, "Done").Obj()
	succeeded.Status.Progress.Rate = "0.5/s"

	tests := map[string]struct {
		task      *longtaskv1.LongTask
		deleted   bool
		want      taskView
		wantPlain string
	}{
		"new, not looked at by the controller yet": {
			task:      testutil.MakeLongTask("resize", "photos").Obj(),
			want:      taskView{Name: "resize"},
			wantPlain: "resize Pending",
		},
		"running without a total": {
			task:      testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Progress(12, 0, "").Obj(),
			want:      taskView{Name: "resize", Phase: longtaskv1.PhaseRunning, Summary: "12"},
			wantPlain: "resize Running 12",
		},
		"running, with the worker's rate and ETA counted down": {
			task: withRate,
			want: taskView{Name: "resize", Phase: longtaskv1.PhaseRunning, Percent: 48, Summary: "12/25 (48%)",
				Message: "Resized cat.jpg", Rate: "0.5/s", Remaining: "26s"},
			wantPlain: "resize Running 12/25 (48%) 0.5/s ETA 26s Resized cat.jpg",
		},
		"running late: the ETA has passed": {
			task: pastETA,
			want: taskView{Name: "resize", Phase: longtaskv1.PhaseRunning, Percent: 48, Summary: "12/25 (48%)",
				Message: "Resized cat.jpg", Rate: "0.5/s", Remaining: "0s"},
			wantPlain: "resize Running 12/25 (48%) 0.5/s ETA 0s Resized cat.jpg",
		},
		"succeeded: full, no rate": {
			task:      succeeded,
			want:      taskView{Name: "resize", Phase: longtaskv1.PhaseSucceeded, Percent: 100, Summary: "25/25 (100%)", Message: "Done"},
			wantPlain: "resize Succeeded 25/25 (100%) Done",
		},
		"failed: the reason and the last ten lines, made printable": {
			task: failed,
			want: taskView{Name: "resize", Phase: longtaskv1.PhaseFailed, Percent: 20, Summary: "5/25 (20%)", Message: "Resized cat.jpg",
				Failure: "TaskFailed: The task exited with code 3",
				Output:  []string{"line 3", "line 4", "line 5", "line 6", "line 7", "line 8", "line 9", "line 10", "line 11", "disk full"}},
			wantPlain: "resize Failed 5/25 (20%) TaskFailed: The task exited with code 3",
		},
		"cancelled": {
			task:      testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseCancelled).Progress(5, 25, "").Obj(),
			want:      taskView{Name: "resize", Phase: longtaskv1.PhaseCancelled, Percent: 20, Summary: "5/25 (20%)"},
			wantPlain: "resize Cancelled 5/25 (20%)",
		},
		"deleted before it finished": {
			task:      testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Obj(),
			deleted:   true,
			want:      taskView{Name: "resize", Phase: longtaskv1.PhaseRunning, Deleted: true},
			wantPlain: "resize deleted before it finished",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := newTaskView(tc.task, tc.task.Name, &tasks.ObservedRate{}, now)
			got.Deleted = tc.deleted
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("newTaskView (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantPlain, plainLine(got)); diff != "" {
				t.Errorf("plainLine (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestOutcome(t *testing.T) {
	tests := map[string]struct {
		view                   taskView
		wantFinished, wantGood bool
	}{
		"pending":   {view: taskView{}, wantFinished: false, wantGood: false},
		"running":   {view: taskView{Phase: longtaskv1.PhaseRunning}},
		"succeeded": {view: taskView{Phase: longtaskv1.PhaseSucceeded}, wantFinished: true, wantGood: true},
		"failed":    {view: taskView{Phase: longtaskv1.PhaseFailed}, wantFinished: true},
		"cancelled": {view: taskView{Phase: longtaskv1.PhaseCancelled}, wantFinished: true},
		"deleted":   {view: taskView{Phase: longtaskv1.PhaseRunning, Deleted: true}, wantFinished: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.view.finished(); got != tc.wantFinished {
				t.Errorf("finished() = %v, want %v", got, tc.wantFinished)
			}
			if got := tc.view.succeeded(); got != tc.wantGood {
				t.Errorf("succeeded() = %v, want %v", got, tc.wantGood)
			}
		})
	}
}

func TestPlainChangeIgnoresTheEstimateAlone(t *testing.T) {
	base := taskView{Name: "resize", Phase: longtaskv1.PhaseRunning, Summary: "12/25 (48%)", Message: "cat", Rate: "0.5/s", Remaining: "26s"}
	estimate := base
	estimate.Rate, estimate.Remaining = "0.4/s", "30s"
	if plainChange(base) != plainChange(estimate) {
		t.Errorf("a new rate and ETA alone print a new line")
	}
	for name, moved := range map[string]func(v *taskView){
		"step":    func(v *taskView) { v.Summary = "13/25 (52%)" },
		"message": func(v *taskView) { v.Message = "dog" },
		"phase":   func(v *taskView) { v.Phase = longtaskv1.PhaseSucceeded },
	} {
		v := base
		moved(&v)
		if plainChange(base) == plainChange(v) {
			t.Errorf("a new %s prints no new line", name)
		}
	}
}
