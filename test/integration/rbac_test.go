package integration

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/controllers"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

func TestWorkerCredentialsReachOnlyItsOwnTask(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	own := testutil.MakeLongTask("own", ns).Obj()
	other := testutil.MakeLongTask("other", ns).Obj()
	fw.Create(t, own)
	fw.Create(t, other)
	job := fw.WaitForJob(t, own)
	fw.WaitForJob(t, other)
	serviceAccount := job.Spec.Template.Spec.ServiceAccountName

	worker := fw.ClientWithToken(t, fw.Token(t, ns, serviceAccount))
	ctx := context.Background()

	// Allowed: what the worker does.
	if err := worker.Get(ctx, client.ObjectKeyFromObject(own), &longtaskv1.LongTask{}); err != nil {
		t.Errorf("reading its own LongTask: %v, want success", err)
	}
	if err := framework.NewWorker(t, worker, own).Report("::progress 1"); err != nil {
		t.Errorf("writing its own LongTask's progress: %v, want success", err)
	}

	// Forbidden: everything else.
	forbidden := map[string]error{
		"write another task's progress": framework.NewWorker(t, worker, other).Report("::progress 1"),
		"read another task":             worker.Get(ctx, client.ObjectKeyFromObject(other), &longtaskv1.LongTask{}),
		"patch its own spec":            worker.Patch(ctx, own.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cancel":true}}`))),
		"delete its own task":           worker.Delete(ctx, own.DeepCopy()),
		"list tasks":                    worker.List(ctx, &longtaskv1.LongTaskList{}, client.InNamespace(ns)),
		"list secrets":                  worker.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)),
		"list pods":                     worker.List(ctx, &corev1.PodList{}, client.InNamespace(ns)),
	}
	for what, err := range forbidden {
		if !apierrors.IsForbidden(err) {
			t.Errorf("the worker's token could %s: got %v, want 403 Forbidden", what, err)
		}
	}
}

func TestWorkerReportsWithItsOwnToken(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("token", ns).Command("longtask-worker", "demo", "--steps", "3", "--max-delay", "10ms").Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)

	// The kubeconfig the worker gets here holds only the task's ServiceAccount token, as in the pod.
	config := clientcmdapi.NewConfig()
	config.Clusters["test"] = &clientcmdapi.Cluster{Server: fw.Config.Host, CertificateAuthorityData: fw.Config.CAData}
	config.AuthInfos["worker"] = &clientcmdapi.AuthInfo{Token: fw.Token(t, ns, job.Spec.Template.Spec.ServiceAccountName)}
	config.Contexts["worker"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "worker"}
	config.CurrentContext = "worker"
	path := filepath.Join(t.TempDir(), "worker-kubeconfig")
	if err := clientcmd.WriteToFile(*config, path); err != nil {
		t.Fatal(err)
	}

	cmd := taskContainerCommand(t, job)
	useKubeconfig(cmd, path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the worker failed: %v\n%s", err, out)
	}
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Progress).NotTo(gomega.BeNil())
		g.Expect(got.Status.Progress.Summary).To(gomega.Equal("3/3 (100%)"))
		g.Expect(got.Status.Result).To(gomega.Equal(`{"steps": 3}`))
	})
}

// TestManagerStartsATaskWithItsOwnRBAC reconciles a new task once with the manager's own permissions, and
// no manager besides: the worker's access and the Job must come in that one pass. RBAC
// lets the manager bind a Role only once the Role exists, since it checks that the manager holds every
// permission it grants; an admin, who skips that check, would not notice.
func TestManagerStartsATaskWithItsOwnRBAC(t *testing.T) {
	t.Parallel()
	ns := fw.Namespace(t)
	task := testutil.MakeLongTask("resize", ns).Obj()
	fw.Create(t, task)
	c, err := client.New(fw.ManagerConfig, client.Options{Scheme: fw.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	r := &controllers.LongTaskReconciler{
		Client: c, APIReader: c, Recorder: events.NewFakeRecorder(10), Clock: clock.RealClock{},
		Options: controllers.JobOptions{WorkerImage: framework.WorkerImage}, Budget: controllers.NewWriteBudget(c, 0, clock.RealClock{}),
	}
	if _, err := r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(task)}); err != nil {
		t.Fatalf("reconciling a new task as the manager: %v", err)
	}
	if err := fw.Client.Get(context.Background(), client.ObjectKeyFromObject(task), &batchv1.Job{}); err != nil {
		t.Errorf("the task's Job after one reconcile: %v", err)
	}
}

// TestWorkerRoleNameTakenBySomeoneElse: a Role that has the name of a task worker's, written by someone
// who may create Roles but not bind them, is never bound by the manager. The Role asks for what the
// manager holds itself, so RBAC's escalation check would let the manager grant it to the task's account,
// and so to the task's program. The task does not start and says why; the Role stays as its author wrote it.
func TestWorkerRoleNameTakenBySomeoneElse(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	foreign := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "longtask-worker-resize", Namespace: ns},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list", "delete"}}},
	}
	fw.Create(t, foreign)
	task := testutil.MakeLongTask("resize", ns).Obj()
	fw.Create(t, task)

	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhasePending))
		cond := meta.FindStatusCondition(got.Status.Conditions, longtaskv1.ConditionRunning)
		g.Expect(cond).NotTo(gomega.BeNil())
		g.Expect(cond.Reason).To(gomega.Equal(controllers.ReasonWorkerAccessConflict))
		g.Expect(cond.Message).To(gomega.Equal(
			"Role longtask-worker-resize already exists and does not belong to this LongTask: delete it or give the task another name"))
	})
	g := gomega.NewWithT(t)
	key := client.ObjectKeyFromObject(foreign)
	g.Expect(apierrors.IsNotFound(fw.Client.Get(context.Background(), key, &rbacv1.RoleBinding{}))).To(gomega.BeTrue(),
		"the manager bound a Role that is not the task's")
	g.Expect(apierrors.IsNotFound(fw.Client.Get(context.Background(), client.ObjectKeyFromObject(task), &batchv1.Job{}))).To(gomega.BeTrue(),
		"the task started")
	role := &rbacv1.Role{}
	g.Expect(fw.Client.Get(context.Background(), key, role)).To(gomega.Succeed())
	g.Expect(role.Rules).To(gomega.Equal(foreign.Rules))
	g.Expect(role.OwnerReferences).To(gomega.BeEmpty())
}
