package integration

import (
	"context"
	"testing"

	"github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

// A manager started with --watch-namespaces (the chart's manager.watchNamespaces) sees, and so runs, only
// the tasks and Jobs of those namespaces, with what the chart then grants it: the manager's ClusterRole
// bound in those namespaces only.
func TestManagerWatchingSomeNamespacesSeesOnlyTheirTasks(t *testing.T) {
	t.Parallel()
	watched, other := fw.Namespace(t), fw.Namespace(t)
	user := "scoped-manager-" + watched
	fw.Create(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "longtask-manager", Namespace: watched},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "longtask-manager"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	})
	config := rest.CopyConfig(fw.Config)
	config.Impersonate = rest.ImpersonationConfig{UserName: user}
	scoped := fw.StartManagerAs(t, config, manager.Options{WatchNamespaces: []string{watched}})
	for _, ns := range []string{watched, other} {
		fw.Create(t, testutil.MakeLongTask("scoped", ns).Obj())
	}
	// It runs the task it watches, with no rights beyond that namespace.
	fw.WaitForJob(t, testutil.MakeLongTask("scoped", watched).Obj())

	ctx := context.Background()
	framework.Eventually(t, func(g gomega.Gomega) {
		tasks := &longtaskv1.LongTaskList{}
		g.Expect(scoped.GetCache().List(ctx, tasks)).To(gomega.Succeed())
		jobs := &batchv1.JobList{}
		g.Expect(scoped.GetCache().List(ctx, jobs)).To(gomega.Succeed())
		var seen []string
		for _, task := range tasks.Items {
			seen = append(seen, "LongTask "+task.Namespace+"/"+task.Name)
		}
		for _, job := range jobs.Items {
			seen = append(seen, "Job "+job.Namespace+"/"+job.Name)
		}
		g.Expect(seen).To(gomega.Equal([]string{"LongTask " + watched + "/scoped", "Job " + watched + "/scoped"}),
			"what a manager watching %s sees", watched)
	})
	if err := scoped.GetCache().List(ctx, &longtaskv1.LongTaskList{}, client.InNamespace(other)); err == nil {
		t.Errorf("listing the tasks of %s, which it does not watch, succeeded; want an error", other)
	}
}
