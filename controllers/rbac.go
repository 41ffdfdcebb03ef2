package controllers

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// Each task's worker gets a ServiceAccount and a Role of its own. The Role names the task in
// resourceNames, so the worker's token can read its own LongTask and patch its status, and nothing else:
// not another task, not Secrets, not Pods. The task's program runs in the same container and can read the
// token too, so this is also all the program can do with it.

// +kubebuilder:rbac:groups="",resources=serviceaccounts,verbs=create;get
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings,verbs=create;get

// workerServiceAccountName is the ServiceAccount a task's pod runs as, unless its podTemplate names one.
func workerServiceAccountName(task *longtaskv1.LongTask) string {
	return "longtask-worker-" + task.Name
}

// workerAccess builds the task worker's ServiceAccount, Role and RoleBinding. The binding's subject is the
// account the pod runs as: a podTemplate's own ServiceAccount gets the Role too.
func workerAccess(task *longtaskv1.LongTask) []client.Object {
	name := workerServiceAccountName(task)
	meta := func() metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: name, Namespace: task.Namespace, Labels: map[string]string{longtaskv1.LabelTaskName: task.Name}}
	}
	subject := name
	if t := task.Spec.PodTemplate; t != nil && t.Spec.ServiceAccountName != "" {
		subject = t.Spec.ServiceAccountName
	}
	objects := []client.Object{
		&rbacv1.Role{
			ObjectMeta: meta(),
			Rules: []rbacv1.PolicyRule{
				{APIGroups: []string{longtaskv1.GroupVersion.Group}, Resources: []string{"longtasks"}, ResourceNames: []string{task.Name}, Verbs: []string{"get"}},
				{APIGroups: []string{longtaskv1.GroupVersion.Group}, Resources: []string{"longtasks/status"}, ResourceNames: []string{task.Name}, Verbs: []string{"patch"}},
			},
		},
		&rbacv1.RoleBinding{
			ObjectMeta: meta(),
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: subject, Namespace: task.Namespace}},
		},
	}
	if subject == name {
		objects = append([]client.Object{&corev1.ServiceAccount{ObjectMeta: meta()}}, objects...)
	}
	return objects
}

// createWorkerAccess creates the worker's ServiceAccount, Role and RoleBinding, owned by the task so that
// they go with it. They are created once, before the Job. An existing one is used, as it is, only if the
// task controls it (checkWorkerAccess); the manager never changes one. The account and the Role are
// created side by side, so that starting a task waits for two writes in a row rather than three; the
// RoleBinding comes after the Role, because RBAC lets the manager grant only permissions it holds, which
// it checks by reading the Role: a binding to a Role that is not there yet is refused. Nothing is bound
// while the account's or the Role's name is taken.
func (r *LongTaskReconciler) createWorkerAccess(ctx context.Context, task *longtaskv1.LongTask) error {
	var first, second []client.Object
	for _, obj := range workerAccess(task) {
		if err := ctrl.SetControllerReference(task, obj, r.Scheme()); err != nil {
			return err
		}
		if _, ok := obj.(*rbacv1.RoleBinding); ok {
			second = append(second, obj)
		} else {
			first = append(first, obj)
		}
	}
	for _, objs := range [][]client.Object{first, second} {
		var g errgroup.Group
		for _, obj := range objs {
			g.Go(func() error {
				err := r.Create(ctx, obj, client.FieldOwner(longtaskv1.ControllerFieldOwner))
				if apierrors.IsAlreadyExists(err) {
					return r.checkWorkerAccess(ctx, task, obj)
				}
				if err != nil {
					return fmt.Errorf("creating the worker's %T: %w", obj, err)
				}
				return nil
			})
		}
		if err := g.Wait(); err != nil {
			return err
		}
	}
	return nil
}

// checkWorkerAccess makes sure that the existing object with obj's name is the task's own: created by
// this controller for this task, as its controller reference to the task's UID says. Anyone else's would
// have the manager bind a Role it did not write (a user who may create Roles but not RoleBindings would
// get the manager to grant for them), grant the task's Role to an account it did not make, or run the
// task's pod as that account with whatever else is bound to it. An earlier task with the same name, whose
// objects the garbage collector has not deleted yet, is not this task either. It reads from the API
// server, as createJob does: the cache holds no ServiceAccounts, Roles or RoleBindings.
func (r *LongTaskReconciler) checkWorkerAccess(ctx context.Context, task *longtaskv1.LongTask, obj client.Object) error {
	gvk, err := apiutil.GVKForObject(obj, r.Scheme())
	if err != nil {
		return err
	}
	existing, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return fmt.Errorf("copying the worker's %s: not an object", gvk.Kind)
	}
	if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), existing); err != nil {
		return fmt.Errorf("getting the existing %s %s: %w", gvk.Kind, obj.GetName(), err)
	}
	if !metav1.IsControlledBy(existing, task) {
		return &nameTakenError{reason: ReasonWorkerAccessConflict, kind: gvk.Kind, name: obj.GetName()}
	}
	return nil
}
