package worker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

func TestConfigFromEnv(t *testing.T) {
	cases := map[string]struct {
		env        map[string]string
		want       Config
		wantInTask bool
		wantErr    string
	}{
		"outside a LongTask": {
			env: map[string]string{},
		},
		"inside a LongTask": {
			env: map[string]string{
				"LONGTASK_NAME": "resize", "LONGTASK_NAMESPACE": "photos", "LONGTASK_PROGRESS_INTERVAL": "5s", "LONGTASK_TOTAL": "25",
				"LONGTASK_GRACE_PERIOD": "10", "LONGTASK_PROGRESS_FILE": "/longtask/progress", "LONGTASK_RESULT_FILE": "/longtask/result",
			},
			want: Config{
				Task: types.NamespacedName{Namespace: "photos", Name: "resize"}, ProgressInterval: 5 * time.Second, Total: 25,
				GracePeriod: 10 * time.Second, ProgressFile: "/longtask/progress", ResultFile: "/longtask/result",
			},
			wantInTask: true,
		},
		"no namespace":     {env: map[string]string{"LONGTASK_NAME": "resize"}, wantErr: "LONGTASK_NAMESPACE is not"},
		"bad interval":     {env: map[string]string{"LONGTASK_NAME": "a", "LONGTASK_NAMESPACE": "b", "LONGTASK_PROGRESS_INTERVAL": "soon"}, wantErr: "LONGTASK_PROGRESS_INTERVAL"},
		"bad grace period": {env: map[string]string{"LONGTASK_NAME": "a", "LONGTASK_NAMESPACE": "b", "LONGTASK_GRACE_PERIOD": "30s"}, wantErr: "LONGTASK_GRACE_PERIOD"},
		"negative total":   {env: map[string]string{"LONGTASK_NAME": "a", "LONGTASK_NAMESPACE": "b", "LONGTASK_TOTAL": "-1"}, wantErr: "LONGTASK_TOTAL"},
		"interval of zero": {env: map[string]string{"LONGTASK_NAME": "a", "LONGTASK_NAMESPACE": "b", "LONGTASK_PROGRESS_INTERVAL": "0s"}, wantErr: "positive duration"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, inTask, err := ConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if inTask != tc.wantInTask {
				t.Errorf("inTask = %v, want %v", inTask, tc.wantInTask)
			}
			if !tc.wantInTask {
				return
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Config{}, "TerminationLog", "FlushTimeout", "MemoryEvents")); diff != "" {
				t.Errorf("config (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestAttemptOf(t *testing.T) {
	cases := map[string]struct {
		controllerCount int32
		lastReported    int32
		want            int32
	}{
		"a new task": {want: 1},
		"the first attempt, counted by the controller": {controllerCount: 1, want: 1},
		"the attempt after one that reported":          {controllerCount: 1, lastReported: 1, want: 2},
		"the controller saw an attempt die silently":   {controllerCount: 3, lastReported: 1, want: 3},
		"the controller has not counted the new pod":   {controllerCount: 2, lastReported: 2, want: 3},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			task := testutil.MakeLongTask("resize", "photos").Attempts(tc.controllerCount).Obj()
			if tc.lastReported > 0 {
				task.Status.Progress = &longtaskv1.Progress{Attempt: tc.lastReported}
			}
			if got := attemptOf(task); got != tc.want {
				t.Errorf("attempt %d, want %d", got, tc.want)
			}
		})
	}
}

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
