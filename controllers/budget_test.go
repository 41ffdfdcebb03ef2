package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
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

func TestWriteBudgetCountsOnlyUnfinishedTasks(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	var objects []client.Object
	for i := range 5 {
		objects = append(objects, testutil.MakeLongTask(fmt.Sprintf("running-%d", i), "ns").Phase(longtaskv1.PhaseRunning).Obj())
	}
	for i := range 20 {
		objects = append(objects, testutil.MakeLongTask(fmt.Sprintf("done-%d", i), "ns").Phase(longtaskv1.PhaseSucceeded).Obj())
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objects...).Build()

	budget := NewWriteBudget(reader, 1)
	if got := budget.Interval(context.Background()); got != 8*time.Second {
		t.Errorf("5 running tasks sharing 1 write/s: interval %v, want 8s", got)
	}
	budget.SetWritesPerSecond(0)
	if got := budget.Interval(context.Background()); got != 0 {
		t.Errorf("no budget: interval %v, want 0", got)
	}
}
