package integration

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/internal/worker"
	"github.com/longtask-dev/longtask/pkg/progress"
)

// TestStatusWritesAreCappedByTheAPIServer: a task's program runs beside the worker and holds its token, so
// it can write its task's status directly, past the worker's caps, into every cache and watch of the task.
// The API server refuses a megabyte in any free-text status field and names the field, and still accepts
// the longest status the worker writes.
func TestStatusWritesAreCappedByTheAPIServer(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("limits", ns).Obj()
	create(t, task)
	job := waitForJob(t, task)
	workerConfig := rest.CopyConfig(restConfig)
	workerConfig.CertData, workerConfig.KeyData = nil, nil
	workerConfig.BearerToken = workerToken(t, ns, job.Spec.Template.Spec.ServiceAccountName)
	program, err := client.New(workerConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	key := client.ObjectKeyFromObject(task)

	longest := worker.Snapshot{
		Progress: &longtaskv1.Progress{
			Current: math.MaxInt64, Total: math.MaxInt64, Percent: 100, Summary: longtaskv1.Summary(math.MaxInt64, math.MaxInt64),
			Message: strings.Repeat("m", longtaskv1.MaxProgressMessageBytes), Attempt: 1,
			Rate: progress.FormatRate(math.MaxInt64 * 1e3), Remaining: progress.FormatRemaining(math.MaxInt64),
		},
		Result:     ptr.To(strings.Repeat("r", longtaskv1.MaxResultBytes)),
		Checkpoint: ptr.To(strings.Repeat("c", progress.MaxCheckpointBytes)),
	}
	write := worker.StatusWriter(program, key, func(*longtaskv1.LongTask) {})
	if err := write(ctx, longest); err != nil {
		t.Fatalf("the longest status the worker writes was refused: %v", err)
	}

	megabyte := strings.Repeat("x", 1<<20)
	for field, body := range map[string]map[string]any{
		"status.result":                    {"result": megabyte},
		"status.checkpoint":                {"checkpoint": megabyte},
		"status.progress.message":          {"progress": map[string]any{"message": megabyte}},
		"status.progress.summary":          {"progress": map[string]any{"summary": megabyte}},
		"status.progress.rate":             {"progress": map[string]any{"rate": megabyte}},
		"status.progress.remaining":        {"progress": map[string]any{"remaining": megabyte}},
		"status.failure.output":            {"failure": map[string]any{"reason": "TaskFailed", "message": "failed", "output": megabyte}},
		"status.failure.message":           {"failure": map[string]any{"reason": "TaskFailed", "message": megabyte}},
		"status.failure.reason":            {"failure": map[string]any{"reason": megabyte, "message": "failed"}},
		"status.jobName":                   {"jobName": megabyte},
		"status.effectiveProgressInterval": {"effectiveProgressInterval": megabyte},
	} {
		t.Run(field, func(t *testing.T) {
			patch, err := json.Marshal(map[string]any{"status": body})
			if err != nil {
				t.Fatal(err)
			}
			err = program.Status().Patch(ctx, task.DeepCopy(), client.RawPatch(types.MergePatchType, patch))
			if !apierrors.IsInvalid(err) {
				t.Fatalf("a megabyte in %s: got %v, want it refused as invalid", field, err)
			}
			var status apierrors.APIStatus
			if !errors.As(err, &status) || status.Status().Details == nil {
				t.Fatalf("refused without details: %v", err)
			}
			var fields []string
			for _, cause := range status.Status().Details.Causes {
				fields = append(fields, cause.Field)
			}
			if !slices.Contains(fields, field) {
				t.Errorf("refused naming %q, want %s: %v", fields, field, err)
			}
		})
	}
}

// TestAProgramCannotStoreAStatusNobodyCanRead: status.effectiveProgressInterval is a metav1.Duration, a
// string to the API server. A value that does not parse as a duration, written with the worker's token,
// would be stored, and every typed read of the task, and every List of the namespace's tasks (the
// controller's and the UI's caches among them), would then fail to decode: one task's program would hide
// every task. The API server refuses it naming the field, and the tasks can still be listed.
func TestAProgramCannotStoreAStatusNobodyCanRead(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("unreadable", ns).Obj()
	create(t, task)
	job := waitForJob(t, task)
	workerConfig := rest.CopyConfig(restConfig)
	workerConfig.CertData, workerConfig.KeyData = nil, nil
	workerConfig.BearerToken = workerToken(t, ns, job.Spec.Template.Spec.ServiceAccountName)
	program, err := client.New(workerConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	for _, value := range []string{"-1s", "99999999999999999999h", "not a duration"} {
		patch, err := json.Marshal(map[string]any{"status": map[string]any{"effectiveProgressInterval": value}})
		if err != nil {
			t.Fatal(err)
		}
		err = program.Status().Patch(ctx, task.DeepCopy(), client.RawPatch(types.MergePatchType, patch))
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "status.effectiveProgressInterval") {
			t.Errorf("effectiveProgressInterval %q: got %v, want it refused naming status.effectiveProgressInterval", value, err)
		}
	}
	var tasks longtaskv1.LongTaskList
	if err := k8sClient.List(ctx, &tasks, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing the namespace's tasks after a program wrote its status: %v", err)
	}
}
