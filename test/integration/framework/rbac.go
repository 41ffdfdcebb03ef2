package framework

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"
)

// generatedRBAC is a component's RBAC as controller-gen writes it from the markers: a ClusterRole, and a
// Role for the namespace it is installed in. The test users are named after the ClusterRole.
type generatedRBAC struct {
	file, user string
}

var (
	managerRBAC = generatedRBAC{file: filepath.Join("config", "rbac", "role.yaml"), user: "longtask-manager"}
	uiRBAC      = generatedRBAC{file: filepath.Join("config", "ui", "rbac", "role.yaml"), user: "longtask-ui"}
)

// roles reads the ClusterRole and the Role of the component's generated file.
func (f *Framework) roles(rbac generatedRBAC) (*rbacv1.ClusterRole, *rbacv1.Role, error) {
	data, err := os.ReadFile(f.Path(rbac.file))
	if err != nil {
		return nil, nil, err
	}
	var clusterRole *rbacv1.ClusterRole
	var role *rbacv1.Role
	for _, doc := range strings.Split(string(data), "\n---") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", rbac.file, err)
		}
		switch meta.Kind {
		case "ClusterRole":
			clusterRole = &rbacv1.ClusterRole{}
			err = yaml.Unmarshal([]byte(doc), clusterRole)
		case "Role":
			role = &rbacv1.Role{}
			err = yaml.Unmarshal([]byte(doc), role)
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", rbac.file, err)
		}
	}
	if clusterRole == nil || clusterRole.Name != rbac.user {
		return nil, nil, fmt.Errorf("%s has no ClusterRole %s", rbac.file, rbac.user)
	}
	return clusterRole, role, nil
}

// identity is the component's user, bound to its generated ClusterRole and to nothing else.
func (f *Framework) identity(rbac generatedRBAC) (*rest.Config, error) {
	role, _, err := f.roles(rbac)
	if err != nil {
		return nil, err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: rbac.user + "-integration"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: rbac.user}},
	}
	for _, obj := range []client.Object{role, binding} {
		if err := f.Client.Create(context.Background(), obj); err != nil {
			return nil, err
		}
	}
	user, err := f.env.AddUser(envtest.User{Name: rbac.user}, f.Config)
	if err != nil {
		return nil, err
	}
	return user.Config(), nil
}

// GrantManagerInstallRole gives the manager's user, in namespace, the Role generated for the namespace
// the manager is installed in: leader election's Lease and Events.
func (f *Framework) GrantManagerInstallRole(t *testing.T, namespace string) {
	t.Helper()
	f.grantInstallRole(t, managerRBAC, namespace)
}

// GrantUIInstallRole gives the UI's user, in namespace, the Role generated for the namespace the UI is
// installed in: its session Secret.
func (f *Framework) GrantUIInstallRole(t *testing.T, namespace string) {
	t.Helper()
	f.grantInstallRole(t, uiRBAC, namespace)
}

func (f *Framework) grantInstallRole(t *testing.T, rbac generatedRBAC, namespace string) {
	t.Helper()
	_, role, err := f.roles(rbac)
	if err != nil {
		t.Fatal(err)
	}
	if role == nil {
		t.Fatalf("%s has no Role", rbac.file)
	}
	role.Namespace = namespace
	f.Create(t, role)
	f.Create(t, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: rbac.user}},
	})
}
