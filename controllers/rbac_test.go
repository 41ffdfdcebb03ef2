package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

func TestWorkerAccess(t *testing.T) {
	cases := map[string]struct {
		template       *corev1.PodTemplateSpec
		wantAccount    bool
		wantSubjectSA  string
		wantObjectsLen int
	}{
		"own ServiceAccount": {wantAccount: true, wantSubjectSA: "longtask-worker-resize", wantObjectsLen: 3},
		"the podTemplate's ServiceAccount gets the Role": {
			template: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{ServiceAccountName: "photo-reader",
				Containers: []corev1.Container{{Name: "task", Command: []string{"resize"}}}}},
			wantSubjectSA: "photo-reader", wantObjectsLen: 2,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := testutil.MakeLongTask("resize", "photos")
			if tc.template != nil {
				w.PodTemplate(*tc.template)
			}
			objects := workerAccess(w.Obj())
			if len(objects) != tc.wantObjectsLen {
				t.Fatalf("%d objects, want %d", len(objects), tc.wantObjectsLen)
			}
			var role *rbacv1.Role
			var binding *rbacv1.RoleBinding
			for _, obj := range objects {
				switch o := obj.(type) {
				case *rbacv1.Role:
					role = o
				case *rbacv1.RoleBinding:
					binding = o
				case *corev1.ServiceAccount:
					if !tc.wantAccount {
						t.Errorf("created a ServiceAccount although the podTemplate names one")
					}
				}
			}
			wantRules := []rbacv1.PolicyRule{
				{APIGroups: []string{"longtask.dev"}, Resources: []string{"longtasks"}, ResourceNames: []string{"resize"}, Verbs: []string{"get"}},
				{APIGroups: []string{"longtask.dev"}, Resources: []string{"longtasks/status"}, ResourceNames: []string{"resize"}, Verbs: []string{"patch"}},
			}
			if diff := cmp.Diff(wantRules, role.Rules); diff != "" {
				t.Errorf("the worker's Role (-want,+got):\n%s", diff)
			}
			wantSubjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: tc.wantSubjectSA, Namespace: "photos"}}
			if diff := cmp.Diff(wantSubjects, binding.Subjects); diff != "" {
				t.Errorf("the RoleBinding's subjects (-want,+got):\n%s", diff)
			}
		})
	}
}

// TestWorkerAccessNameTaken: a ServiceAccount, Role or RoleBinding that already has the name of a task's
// worker is used only when the task controls it. Anyone else's (a user who may create Roles but not
// RoleBindings, or an earlier task with the same name whose objects are not yet collected) would have
// the manager bind a Role it did not write, or run the task as an account it did not make: the task waits
// instead, and says which name is taken. The other object is never changed.
func TestWorkerAccessNameTaken(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	task := func() *longtaskv1.LongTask { return testutil.MakeLongTask("resize", "photos").Command("resize").Obj() }
	const name = "longtask-worker-resize"
	meta := func() metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "photos"} }
	// someonesRole grants what its author may, and is not the task's.
	someonesRole := func() client.Object {
		return &rbacv1.Role{ObjectMeta: meta(), Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"get"}}}}
	}
	someonesBinding := func() client.Object {
		return &rbacv1.RoleBinding{
			ObjectMeta: meta(),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "mallory", Namespace: "photos"}},
		}
	}
	someonesAccount := func() client.Object { return &corev1.ServiceAccount{ObjectMeta: meta()} }
	// earlierTasks makes obj an earlier task's of the same name: controlled by a LongTask with another UID.
	earlierTasks := func(obj client.Object) client.Object {
		earlier := task()
		earlier.UID = "earlier-task-uid"
		obj.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(earlier, longtaskv1.GroupVersion.WithKind("LongTask"))})
		return obj
	}
	conflict := func(kind string) string {
		return kind + " " + name + " already exists and does not belong to this LongTask: delete it or give the task another name"
	}

	for caseName, tc := range map[string]struct {
		existing client.Object
		// wantConflict is the kind whose name is taken; "" when the task starts.
		wantConflict string
	}{
		"someone else's Role":                     {existing: someonesRole(), wantConflict: "Role"},
		"someone else's RoleBinding":              {existing: someonesBinding(), wantConflict: "RoleBinding"},
		"someone else's ServiceAccount":           {existing: someonesAccount(), wantConflict: "ServiceAccount"},
		"an earlier task's Role of the same name": {existing: earlierTasks(someonesRole()), wantConflict: "Role"},
		// A pass that created the worker's access and failed before the Job leaves the task's own.
		"the task's own Role": {existing: func() client.Object {
			role := workerAccess(task())[1]
			role.SetOwnerReferences([]metav1.OwnerReference{*metav1.NewControllerRef(task(), longtaskv1.GroupVersion.WithKind("LongTask"))})
			return role
		}()},
	} {
		t.Run(caseName, func(t *testing.T) {
			r, c, _ := newTestReconciler(t, now, task(), tc.existing.DeepCopyObject().(client.Object))
			results := [2]ctrl.Result{reconcileTask(t, r, task()), reconcileTask(t, r, task())}

			stored := &longtaskv1.LongTask{}
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(task()), stored); err != nil {
				t.Fatal(err)
			}
			running := apimeta.FindStatusCondition(stored.Status.Conditions, longtaskv1.ConditionRunning)
			if tc.wantConflict == "" {
				if got := jobOf(t, c, task()); got != jobRunning {
					t.Errorf("the Job is %s, want %s", got, jobRunning)
				}
				if running == nil || running.Reason != ReasonPodPending {
					t.Errorf("Running condition %+v, want %s", running, ReasonPodPending)
				}
				return
			}

			if got := jobOf(t, c, task()); got != jobNone {
				t.Errorf("the Job is %s, want %s: the task must not start", got, jobNone)
			}
			wantRunning := &metav1.Condition{Type: longtaskv1.ConditionRunning, Status: metav1.ConditionFalse, Reason: ReasonWorkerAccessConflict, Message: conflict(tc.wantConflict)}
			if diff := cmp.Diff(wantRunning, running, cmpopts.IgnoreFields(metav1.Condition{}, "LastTransitionTime", "ObservedGeneration")); diff != "" {
				t.Errorf("Running condition (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"Warning " + ReasonWorkerAccessConflict + " " + conflict(tc.wantConflict)}, recordedEvents(r)); diff != "" {
				t.Errorf("Events, once for both passes (-want,+got):\n%s", diff)
			}
			if want := [2]ctrl.Result{{RequeueAfter: conflictRetry}, {RequeueAfter: conflictRetry}}; results != want {
				t.Errorf("results %+v, want %+v: nothing else wakes the task when the name is freed", results, want)
			}

			got := tc.existing.DeepCopyObject().(client.Object)
			if err := c.Get(context.Background(), client.ObjectKeyFromObject(tc.existing), got); err != nil {
				t.Fatal(err)
			}
			got.SetResourceVersion(tc.existing.GetResourceVersion())
			if diff := cmp.Diff(tc.existing, got); diff != "" {
				t.Errorf("the other %s was changed (-before,+after):\n%s", tc.wantConflict, diff)
			}
			if tc.wantConflict != "RoleBinding" {
				// Binding someone else's Role, or the task's Role to someone else's account, is the grant.
				err := c.Get(context.Background(), client.ObjectKey{Namespace: "photos", Name: name}, &rbacv1.RoleBinding{})
				if !apierrors.IsNotFound(err) {
					t.Errorf("getting the worker's RoleBinding: %v, want NotFound: nothing may be bound while a name is taken", err)
				}
			}
		})
	}
}
