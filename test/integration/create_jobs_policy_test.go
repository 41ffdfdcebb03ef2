package integration

import (
	"context"
	"strings"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

// The rights of the README's person who starts and watches tasks (test/e2e's alice): see tasks and
// templates, start and cancel tasks, read their logs and events. No Jobs, no pods, no Secrets.
var creatorRules = []rbacv1.PolicyRule{viewTasks, startTasks, readLogs}

var (
	createJobs     = rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"create"}}
	writeTemplates = rbacv1.PolicyRule{APIGroups: []string{longtaskv1.GroupVersion.Group}, Resources: []string{"longtasktemplates"}, Verbs: []string{"create", "update", "patch"}}
)

// secretReadingTask prints a Secret of the namespace as its result: what a user who may not read Secrets
// must not be able to run.
func secretReadingTask(ns string) *longtaskv1.LongTask {
	task := testutil.MakeLongTask("read-secret", ns).Command("sh", "-c", `echo "::result $API_KEY"`).Obj()
	task.Spec.Env = []corev1.EnvVar{{Name: "API_KEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "billing"}, Key: "api-key",
	}}}}
	return task
}

// expectRefused checks that creating obj as c is refused as forbidden, saying why. The API server loads a
// new policy a moment after it is created, so a dry run waits for that first.
func expectRefused(t *testing.T, c client.Client, obj client.Object, why ...string) {
	t.Helper()
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(c.Create(context.Background(), obj.DeepCopyObject().(client.Object), client.DryRunAll)).NotTo(gomega.Succeed(), "the dry run was accepted")
	})
	g := gomega.NewWithT(t)
	err := c.Create(context.Background(), obj.DeepCopyObject().(client.Object))
	g.Expect(apierrors.IsForbidden(err)).To(gomega.BeTrue(), "want 403 Forbidden, got %v", err)
	for _, want := range why {
		g.Expect(err).To(gomega.MatchError(gomega.ContainSubstring(want)))
	}
}

// A user who may create LongTasks but not Jobs cannot run a pod of their own making through a task: the
// task that reads a Secret is refused, saying what the user would need; with create jobs it runs.
func TestTaskWithoutTemplateNeedsCreateJobs(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	creator := fw.ClientWithToken(t, fw.Token(t, ns, "alice", creatorRules...))
	runner := fw.ClientWithToken(t, fw.Token(t, ns, "bob", append(creatorRules, createJobs)...))
	ctx := context.Background()

	expectRefused(t, creator, secretReadingTask(ns),
		"creating a LongTask without a template runs a pod as you",
		"you need permission to create jobs in namespace "+ns,
		"start the task from a LongTaskTemplate")
	podTemplate := testutil.MakeLongTask("other-account", ns).PodTemplate(corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		ServiceAccountName: "deployer",
		Containers:         []corev1.Container{{Name: longtaskv1.TaskContainerName, Image: "kubectl", Command: []string{"kubectl", "get", "secrets"}}},
	}}).Obj()
	expectRefused(t, creator, podTemplate, "you need permission to create jobs in namespace "+ns)

	task := secretReadingTask(ns)
	if err := runner.Create(ctx, task); err != nil {
		t.Fatalf("a user who may create Jobs creating the task: %v", err)
	}
	job := fw.WaitForJob(t, task)
	gomega.NewWithT(t).Expect(job.Spec.Template.Spec.Containers[0].Env).To(gomega.ContainElement(task.Spec.Env[0]))

	// Cancelling is not creating: the creator may still cancel a task someone else started without a
	// template. (The worker, which may not create Jobs either, patches status: TestWorkerReportsWithItsOwnToken.)
	if err := creator.Patch(ctx, task.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cancel":true}}`))); err != nil {
		t.Errorf("the creator cancelling a task without a template: %v, want success", err)
	}
}

// A task from a template needs only create longtasks: the template's author answered for what it runs.
func TestTaskFromTemplateNeedsOnlyCreateLongTasks(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	fw.Create(t, resizeTemplate(ns))
	creator := fw.ClientWithToken(t, fw.Token(t, ns, "alice", creatorRules...))

	task := testutil.MakeLongTask("resize", ns).TemplateRef("resize-photos").Parameter("album", "cats").Obj()
	if err := creator.Create(context.Background(), task); err != nil {
		t.Fatalf("the creator starting a task from a template: %v, want success", err)
	}
	fw.WaitForJob(t, task)
}

// A template says what runs for everyone who starts it, so writing one, or changing what it runs, needs
// create jobs; its labels and annotations do not.
func TestTemplateNeedsCreateJobs(t *testing.T) {
	t.Parallel()
	ns := fw.Namespace(t)
	author := fw.ClientWithToken(t, fw.Token(t, ns, "alice", viewTasks, writeTemplates))
	admin := fw.ClientWithToken(t, fw.Token(t, ns, "bob", viewTasks, writeTemplates, createJobs))
	ctx := context.Background()

	template := testutil.MakeTemplate("dump", ns).Command("sh", "-c", "cat /var/run/secrets/*").Obj()
	expectRefused(t, author, template,
		"a LongTaskTemplate says what runs for everyone who starts a task from it",
		"you need permission to create jobs in namespace "+ns)
	if err := admin.Create(ctx, template); err != nil {
		t.Fatalf("a user who may create Jobs writing a template: %v, want success", err)
	}

	err := author.Patch(ctx, template.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"task":{"command":["sh","-c","env"]}}}`)))
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "you need permission to create jobs in namespace "+ns) {
		t.Errorf("the author without create jobs changing the template's command: %v, want 403 saying why", err)
	}
	if err := author.Patch(ctx, template.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"team":"billing"}}}`))); err != nil {
		t.Errorf("the author without create jobs labelling the template: %v, want success", err)
	}
}

// No task may run as another task's worker account: that account may write the other task's status.
// Even an admin, who may create Jobs, is refused, naming the field.
func TestTaskCannotRunAsAnotherTasksWorker(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	victim := testutil.MakeLongTask("victim", ns).Obj()
	fw.Create(t, victim)
	account := fw.WaitForJob(t, victim).Spec.Template.Spec.ServiceAccountName

	pod := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		ServiceAccountName: account,
		Containers:         []corev1.Container{{Name: longtaskv1.TaskContainerName, Image: "busybox", Command: []string{"sh"}}},
	}}
	err := fw.Client.Create(context.Background(), testutil.MakeLongTask("impostor", ns).PodTemplate(pod).Obj())
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.podTemplate.spec.serviceAccountName") {
		t.Errorf("a task running as %s: %v, want it refused naming spec.podTemplate.spec.serviceAccountName", account, err)
	}

	template := &longtaskv1.LongTaskTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "impostor", Namespace: ns},
		Spec:       longtaskv1.LongTaskTemplateSpec{Task: longtaskv1.TaskSpec{PodTemplate: &pod}},
	}
	err = fw.Client.Create(context.Background(), template)
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "spec.task.podTemplate.spec.serviceAccountName") {
		t.Errorf("a template running as %s: %v, want it refused naming spec.task.podTemplate.spec.serviceAccountName", account, err)
	}
}
