package worker

import (
	"context"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

func TestStatusWriterPatchesOnlyTheWorkersFieldsAndFollowsTheController(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Progress(1, 10, "old").Obj()
	task.Status.Progress.Rate = "9/s"
	task.Status.EffectiveProgressInterval = &metav1.Duration{Duration: 16 * time.Second}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(task).WithStatusSubresource(task).Build()

	var followed time.Duration
	write := StatusWriter(c, types.NamespacedName{Namespace: "photos", Name: "resize"}, func(lt *longtaskv1.LongTask) {
		followed = lt.Status.EffectiveProgressInterval.Duration
	})
	result := "done"
	if err := write(context.Background(), Snapshot{Progress: &longtaskv1.Progress{Current: 2, Total: 10, Summary: "2/10 (20%)"}, Result: &result}); err != nil {
		t.Fatal(err)
	}
	if followed != 16*time.Second {
		t.Errorf("followed %v, want the 16s the controller published in the patch response", followed)
	}
	got := &longtaskv1.LongTask{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: "photos", Name: "resize"}, got); err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != longtaskv1.PhaseRunning {
		t.Errorf("phase %q: the worker overwrote a field of the controller's", got.Status.Phase)
	}
	if got.Status.Progress.Summary != "2/10 (20%)" || got.Status.Progress.Rate != "" || got.Status.Result != "done" {
		t.Errorf("progress %+v, result %q: want the new progress whole (no stale rate) and the result", got.Status.Progress, got.Status.Result)
	}
}

// TestStatusWriterLeavesNoStaleProgressField stores a progress with every field set, then writes one with
// every optional field empty: what is stored must be what was written. A field added to Progress that the
// patch did not null would keep its stale value here; a field of a kind fillProgress does not know fails
// the test until it does.
func TestStatusWriterLeavesNoStaleProgressField(t *testing.T) {
	stale := &longtaskv1.Progress{}
	fillProgress(t, reflect.ValueOf(stale).Elem())
	task := testutil.MakeLongTask("resize", "photos").Obj()
	task.Status.Progress = stale
	c := fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(task).WithStatusSubresource(task).Build()
	key := types.NamespacedName{Namespace: "photos", Name: "resize"}

	written := &longtaskv1.Progress{Current: 1, Summary: "1"}
	if err := StatusWriter(c, key, func(*longtaskv1.LongTask) {})(context.Background(), Snapshot{Progress: written}); err != nil {
		t.Fatal(err)
	}
	got := &longtaskv1.LongTask{}
	if err := c.Get(context.Background(), key, got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(written, got.Status.Progress); diff != "" {
		t.Errorf("stored progress (-written,+stored): a field kept its stale value:\n%s", diff)
	}
}

// fillProgress sets every field of v to a value that is not its zero value.
func fillProgress(t *testing.T, v reflect.Value) {
	t.Helper()
	stale := &metav1.Time{Time: time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)}
	for i := range v.NumField() {
		field, name := v.Field(i), v.Type().Field(i).Name
		switch {
		case field.Kind() == reflect.Int32 || field.Kind() == reflect.Int64:
			field.SetInt(7)
		case field.Kind() == reflect.String:
			field.SetString("stale " + name)
		case field.Type() == reflect.TypeOf(stale):
			field.Set(reflect.ValueOf(stale.DeepCopy()))
		default:
			t.Fatalf("Progress.%s is a %v, which fillProgress cannot fill yet: add it", name, field.Type())
		}
	}
}

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme
}

// TestStatusPatchKeepsLargeStepCountsExact: a task may count up to the largest int64 (bytes, rows), and
// the API server refuses a progress.current that is not an int64, so the patch must not pass the counts
// through float64, which rounds 2^53+1 and turns the largest int64 into 2^63.
func TestStatusPatchKeepsLargeStepCountsExact(t *testing.T) {
	body, err := statusPatch(Snapshot{Progress: &longtaskv1.Progress{Current: 1<<53 + 1, Total: math.MaxInt64}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"current":9007199254740993`, `"total":9223372036854775807`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("patch %s, want %s in it", body, want)
		}
	}
}
