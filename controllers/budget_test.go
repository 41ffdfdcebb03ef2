package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

func TestBudgetInterval(t *testing.T) {
	cases := []struct {
		tasks           int
		writesPerSecond float64
		want            time.Duration
	}{
		{tasks: 0, writesPerSecond: 100, want: 0},
		{tasks: 100, writesPerSecond: 100, want: 0},
		{tasks: 101, writesPerSecond: 100, want: 2 * time.Second},
		{tasks: 1000, writesPerSecond: 100, want: 16 * time.Second},
		// The arithmetic: 10,000 tasks writing once a second would need 10,000 writes a second.
		{tasks: 10000, writesPerSecond: 100, want: 128 * time.Second},
		{tasks: 3, writesPerSecond: 0.5, want: 8 * time.Second},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%d tasks at %g/s", tc.tasks, tc.writesPerSecond), func(t *testing.T) {
			got := budgetInterval(tc.tasks, tc.writesPerSecond)
			if got != tc.want {
				t.Errorf("interval %v, want %v", got, tc.want)
			}
			if got > 0 && float64(tc.tasks)/got.Seconds() > tc.writesPerSecond {
				t.Errorf("%d tasks writing every %v make %g writes/s, over the budget", tc.tasks, got, float64(tc.tasks)/got.Seconds())
			}
		})
	}
}

// runningTasks are n Running tasks, named from first on.
func runningTasks(first, n int) []client.Object {
	var tasks []client.Object
	for i := range n {
		tasks = append(tasks, testutil.MakeLongTask(fmt.Sprintf("running-%d", first+i), "ns").Phase(longtaskv1.PhaseRunning).Obj())
	}
	return tasks
}

func budgetReader(t *testing.T, objects ...client.Object) client.Client {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objects...).Build()
}

func TestWriteBudgetCountsOnlyUnfinishedTasks(t *testing.T) {
	objects := runningTasks(0, 5)
	for i := range 20 {
		objects = append(objects, testutil.MakeLongTask(fmt.Sprintf("done-%d", i), "ns").Phase(longtaskv1.PhaseSucceeded).Obj())
	}
	budget := NewWriteBudget(budgetReader(t, objects...), 1, clocktesting.NewFakePassiveClock(time.Now()))
	if got := budget.Interval(context.Background()); got != 8*time.Second {
		t.Errorf("5 running tasks sharing 1 write/s: interval %v, want 8s", got)
	}
	budget.SetWritesPerSecond(0)
	if got := budget.Interval(context.Background()); got != 0 {
		t.Errorf("no budget: interval %v, want 0", got)
	}
}

// The budget counts the tasks again every recountEvery, and only then, whatever the number of calls: the
// interval follows the running tasks at a bounded cost in reads.
func TestWriteBudgetRecountsTheTasks(t *testing.T) {
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	clock := clocktesting.NewFakePassiveClock(start)
	reader := budgetReader(t, runningTasks(0, 5)...)
	budget := NewWriteBudget(reader, 1, clock)
	if got := budget.Interval(context.Background()); got != 8*time.Second {
		t.Fatalf("5 running tasks sharing 1 write/s: interval %v, want 8s", got)
	}
	for _, task := range runningTasks(5, 15) {
		if err := reader.Create(context.Background(), task); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		after time.Duration
		want  time.Duration
	}{
		{after: 0, want: 8 * time.Second},
		{after: recountEvery - time.Millisecond, want: 8 * time.Second},
		// 20 running tasks at 1 write/s: every 20s, rounded up to 32s.
		{after: recountEvery, want: 32 * time.Second},
	}
	for _, step := range steps {
		clock.SetTime(start.Add(step.after))
		if got := budget.Interval(context.Background()); got != step.want {
			t.Errorf("%v after the first count, with 20 tasks running: interval %v, want %v", step.after, got, step.want)
		}
	}
}
