package integration

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/internal/worker"
	"github.com/longtask-dev/longtask/pkg/progress"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

// TestStatusWritesAreCappedByTheAPIServer: a task's program runs beside the worker and holds its token, so
// it can write its task's status directly, past the worker's caps, into every cache and watch of the task.
// The API server refuses a megabyte in any free-text status field and names the field, and still accepts
// the longest status the worker writes.
func TestStatusWritesAreCappedByTheAPIServer(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("limits", ns).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)
	program := fw.ClientWithToken(t, fw.Token(t, ns, job.Spec.Template.Spec.ServiceAccountName))
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
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("unreadable", ns).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)
	program := fw.ClientWithToken(t, fw.Token(t, ns, job.Spec.Template.Spec.ServiceAccountName))
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
	if err := fw.Client.List(ctx, &tasks, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing the namespace's tasks after a program wrote its status: %v", err)
	}
}

// patchResolvedTask writes status.resolvedTask as c, with a merge patch; nil removes it.
func patchResolvedTask(c client.Client, task *longtaskv1.LongTask, value any) error {
	patch, err := json.Marshal(map[string]any{"status": map[string]any{"resolvedTask": value}})
	if err != nil {
		return err
	}
	return c.Status().Patch(context.Background(), task.DeepCopy(), client.RawPatch(types.MergePatchType, patch))
}

// attackerTask is a resolved task that a program would like the manager to run: its own image, as a
// ServiceAccount of its choosing, with the node's processes in sight.
var attackerTask = map[string]any{"podTemplate": map[string]any{"spec": map[string]any{
	"serviceAccountName": "default",
	"hostPID":            true,
	"containers":         []any{map[string]any{"name": "task", "image": "attacker:1", "command": []any{"sh"}}},
}}}

// TestAProgramCannotForgeTheResolvedTask: status.resolvedTask says what a task from a template runs, and
// the task's program holds a token that may patch the task's status. Were the record writable, the next
// Job the manager makes for the task (after someone deletes the Job, to run it again, say) would run what
// the program wrote, with the manager's rights; and, the record having no schema, a value of any shape
// would make every read of the namespace's tasks fail. The API server refuses every write of it but the
// controller's first, and a Job made again is the template's.
func TestAProgramCannotForgeTheResolvedTask(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	fw.Create(t, resizeTemplate(ns))
	task := testutil.MakeLongTask("resize", ns).TemplateRef("resize-photos").Parameter("album", "cats").Obj()
	fw.Create(t, task)
	plain := testutil.MakeLongTask("plain", ns).Obj()
	fw.Create(t, plain)
	job := fw.WaitForJob(t, task)
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.ResolvedTask).NotTo(gomega.BeNil())
	})
	program := fw.ClientWithToken(t, fw.Token(t, ns, job.Spec.Template.Spec.ServiceAccountName))
	plainProgram := fw.ClientWithToken(t, fw.Token(t, ns, fw.WaitForJob(t, plain).Spec.Template.Spec.ServiceAccountName))

	// The pod comes last, so that without the rule it is what the record says when the Job is made again.
	for _, write := range []struct {
		name    string
		program client.Client
		task    *longtaskv1.LongTask
		value   any
	}{
		{"another image", program, task, map[string]any{"image": "attacker:1"}},
		{"a value deep inside", program, task, map[string]any{"env": []any{map[string]any{"name": "ALBUM", "value": "dogs"}}}},
		{"a value no client can read", program, task, map[string]any{"retries": "many"}},
		{"nothing", program, task, nil},
		{"a record for a task without a template", plainProgram, plain, attackerTask},
		{"an unreadable one without a template", plainProgram, plain, map[string]any{"command": "sh"}},
		{"a pod of its choosing", program, task, attackerTask},
	} {
		err := patchResolvedTask(write.program, write.task, write.value)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "status.resolvedTask") {
			t.Errorf("%s: got %v, want it refused naming status.resolvedTask", write.name, err)
		}
	}
	var tasks longtaskv1.LongTaskList
	if err := fw.Client.List(context.Background(), &tasks, client.InNamespace(ns)); err != nil {
		t.Fatalf("listing the namespace's tasks after their programs wrote status.resolvedTask: %v", err)
	}

	// Someone deletes the Job to run the task again; envtest has no garbage collector to delete it later.
	if err := fw.Client.Delete(context.Background(), job, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	var again batchv1.Job
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(fw.Client.Get(context.Background(), client.ObjectKeyFromObject(task), &again)).To(gomega.Succeed())
		g.Expect(again.UID).NotTo(gomega.Equal(job.UID))
	})
	g := gomega.NewWithT(t)
	pod := again.Spec.Template.Spec
	g.Expect(pod.Containers[0].Image).To(gomega.Equal("resizer:1"), "the Job made again runs the template's image")
	g.Expect(pod.ServiceAccountName).To(gomega.Equal("longtask-worker-resize"))
	g.Expect(pod.HostPID).To(gomega.BeFalse())
}

// TestAnEarlierWorkerCannotChooseWhatATaskRuns: a task's worker token outlives its task for as long as the
// garbage collector takes to delete the task's Role, ServiceAccount and pods, and its Role names the task by
// name. A new task of the same name, from a template that does not exist yet, has no status.resolvedTask,
// so that token can write the first one. The controller creates a Job only from what the template says
// when it creates it: the task fails, saying why, and nothing of the record runs.
func TestAnEarlierWorkerCannotChooseWhatATaskRuns(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	ctx := context.Background()
	earlier := testutil.MakeLongTask("resize", ns).Obj()
	fw.Create(t, earlier)
	earlierJob := fw.WaitForJob(t, earlier)
	program := fw.ClientWithToken(t, fw.Token(t, ns, earlierJob.Spec.Template.Spec.ServiceAccountName))
	for _, obj := range []client.Object{earlier, earlierJob} {
		if err := fw.Client.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil {
			t.Fatal(err)
		}
	}

	task := testutil.MakeLongTask("resize", ns).TemplateRef("resize-photos").Parameter("album", "cats").Obj()
	fw.Create(t, task)
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(patchResolvedTask(program, task, attackerTask)).To(gomega.Succeed())
	})
	// The garbage collector's part: the earlier task's worker access goes, and with it the token.
	for _, obj := range []client.Object{
		&corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{},
	} {
		obj.SetNamespace(ns)
		obj.SetName("longtask-worker-resize")
		if err := fw.Client.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	// Deleting them raises no event for the task, which looks again only every 30s: a label brings it back now.
	if err := fw.Client.Patch(ctx, task.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"touched":"yes"}}}`))); err != nil {
		t.Fatal(err)
	}

	got := fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseFailed))
	})
	g := gomega.NewWithT(t)
	g.Expect(got.Status.Failure.Reason).To(gomega.Equal(longtaskv1.FailureReasonTemplateChanged))
	g.Expect(got.Status.Failure.Message).To(gomega.ContainSubstring("LongTaskTemplate resize-photos was not found"))
	err := fw.Client.Get(ctx, client.ObjectKeyFromObject(task), &batchv1.Job{})
	g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "getting the Job of a task whose status.resolvedTask was forged: %v", err)
}
