package integration

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/controllers"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// A manager started with --watch-namespaces (the chart's manager.watchNamespaces) sees, and so runs, only
// the tasks and Jobs of those namespaces, with what the chart then grants it: the manager's ClusterRole
// bound in those namespaces only.
func TestManagerWatchingSomeNamespacesSeesOnlyTheirTasks(t *testing.T) {
	watched, other := newNamespace(t), newNamespace(t)
	for _, ns := range []string{watched, other} {
		task := testutil.MakeLongTask("scoped", ns).Obj()
		create(t, task)
		waitForJob(t, task)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	user := "scoped-manager-" + watched
	create(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "longtask-manager", Namespace: watched},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "longtask-manager"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	})
	config := rest.CopyConfig(restConfig)
	config.Impersonate = rest.ImpersonationConfig{UserName: user}
	opts := controllers.CacheOptions(watched)
	opts.Scheme = scheme
	scoped, err := cache.New(config, opts)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = scoped.Start(ctx) }()
	if !scoped.WaitForCacheSync(ctx) {
		t.Fatal("the cache did not sync")
	}

	tasks := &longtaskv1.LongTaskList{}
	if err := scoped.List(ctx, tasks); err != nil {
		t.Fatal(err)
	}
	jobs := &batchv1.JobList{}
	if err := scoped.List(ctx, jobs); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for _, task := range tasks.Items {
		seen = append(seen, "LongTask "+task.Namespace+"/"+task.Name)
	}
	for _, job := range jobs.Items {
		seen = append(seen, "Job "+job.Namespace+"/"+job.Name)
	}
	want := []string{"LongTask " + watched + "/scoped", "Job " + watched + "/scoped"}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("what a manager watching %s sees (-want,+got):\n%s", watched, diff)
	}
	if err := scoped.List(ctx, &longtaskv1.LongTaskList{}, client.InNamespace(other)); err == nil {
		t.Errorf("listing the tasks of %s, which it does not watch, succeeded; want an error", other)
	}
}
