package ui

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// cacheReader lists tasks as the manager's cache does with UnsafeDisableDeepCopy: the stored objects,
// not copies of them.
type cacheReader struct{ tasks []longtaskv1.LongTask }

func (r cacheReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return fmt.Errorf("not needed by the benchmark")
}

func (r cacheReader) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	list.(*longtaskv1.LongTaskList).Items = append([]longtaskv1.LongTask(nil), r.tasks...)
	return nil
}

// BenchmarkListPage works out the first page of 10,000 tasks created in the same second, as a burst
// creates them.
func BenchmarkListPage(b *testing.B) {
	created := metav1.NewTime(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	var reader cacheReader
	for i := range 10_000 {
		task := testutil.MakeLongTask(fmt.Sprintf("task-%05d", i), "bench").Phase(longtaskv1.PhaseRunning).Progress(int64(i), 1000, "working").Obj()
		task.CreationTimestamp = created
		reader.tasks = append(reader.tasks, *task)
	}
	s, err := NewServer(Options{Reader: reader})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		page, err := s.list(ctx, viewer{}, listQuery{Page: 1})
		if err != nil || len(page.Tasks) != pageSize {
			b.Fatalf("a page of %d tasks, %v", len(page.Tasks), err)
		}
	}
	// Allocations that grow with the number of tasks would show here: the page should allocate for the
	// 50 tasks it shows, not for the 10,000 it sorts.
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() { _, _ = s.list(ctx, viewer{}, listQuery{Page: 1}) }))/10_000, "allocs/task")
}
