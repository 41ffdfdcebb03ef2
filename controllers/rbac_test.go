package controllers

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"

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
