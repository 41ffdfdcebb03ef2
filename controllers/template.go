package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasktemplate"
)

// A LongTask with a templateRef runs what its template says, resolved once, before its Job is created, into
// status.resolvedTask: later edits to the template, or its deletion, never change a task that started.
//
// status.resolvedTask is a record, not an order: a task's worker holds a token that may patch its task's
// status, and the worker of an earlier task of the same name may still hold one while the garbage collector
// removes its Role. A Job is created only from what the controller resolves from the task's spec and its
// template when it creates it (checkResolvedTask), so a forged record never becomes a pod that the manager
// starts with its own rights.

// +kubebuilder:rbac:groups=longtask.dev,resources=longtasktemplates,verbs=get;list;watch

// waitingForTemplateIndex indexes the tasks that wait for a template to be resolved by the template's
// name, so that a template's creation wakes exactly the tasks that named it before it existed.
const waitingForTemplateIndex = "longtask.dev/waiting-for-template"

// waitingForTemplate is the index function of waitingForTemplateIndex.
func waitingForTemplate(obj client.Object) []string {
	task, ok := obj.(*longtaskv1.LongTask)
	if !ok || !needsTemplate(task) {
		return nil
	}
	return []string{task.Spec.TemplateRef.Name}
}

// needsTemplate reports whether the task still has to read its template: it names one, has not resolved
// it yet, and can still run (it is neither finished nor cancelled).
func needsTemplate(task *longtaskv1.LongTask) bool {
	return task.Spec.TemplateRef != nil && task.Status.ResolvedTask == nil && !task.Status.Phase.Finished() && !task.Spec.Cancel
}

// observeTemplate makes task.Spec.TaskSpec, in memory only, what the task runs, and puts in world what
// came of the task's template. A task that names a template runs status.resolvedTask once it has one: from
// then on every step (the Job, the worker's access, TTL, the progress deadline) reads the spec as for any
// other task. Until then the template is read and resolved into world.resolved, which the pass's status
// write stores; the Job comes on a later pass, from the stored copy (observe). A missing template, or
// parameters that do not fit it, go into world instead: the task does not run, and its status says why.
func (r *LongTaskReconciler) observeTemplate(ctx context.Context, task *longtaskv1.LongTask, world *observed) error {
	switch {
	case task.Spec.TemplateRef == nil:
		return nil
	case task.Status.ResolvedTask != nil:
		task.Spec.TaskSpec = *task.Status.ResolvedTask.DeepCopy()
		return nil
	case !needsTemplate(task):
		// Finished or cancelled before it ever ran: there is nothing left to run.
		return nil
	}
	template := &longtaskv1.LongTaskTemplate{}
	err := r.Get(ctx, client.ObjectKey{Namespace: task.Namespace, Name: task.Spec.TemplateRef.Name}, template)
	if apierrors.IsNotFound(err) {
		// Pending until the template's creation brings the task back (SetupWithManager).
		world.templateMissing = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting LongTaskTemplate %s: %w", task.Spec.TemplateRef.Name, err)
	}
	resolved, err := tasktemplate.Resolve(&template.Spec, &task.Spec)
	if err != nil {
		// The task ends before it ran; the Event comes with the phase change.
		world.invalidParameters = err
		return nil
	}
	world.resolved = resolved
	task.Spec.TaskSpec = *resolved.DeepCopy()
	return nil
}

// templateChangedError says that a task's Job cannot be created, because its template does not resolve to
// status.resolvedTask any more: the template changed, or was deleted, since the task resolved it (and then
// lost its Job), or someone else wrote the record.
type templateChangedError struct {
	template string
	// why is what was found: the template missing, its parameters not fitting, or another task.
	why string
}

func (e *templateChangedError) Error() string {
	return fmt.Sprintf("not creating the task's Job: LongTaskTemplate %s %s", e.template, e.why)
}

// message is the task's failure message.
func (e *templateChangedError) message() string {
	return fmt.Sprintf("The task's Job cannot be created: LongTaskTemplate %s %s. A Job runs only what the template says now", e.template, e.why)
}

// checkResolvedTask makes sure that task.Spec.TaskSpec, about to become a Job, is what the task's spec and
// its template resolve to now, rather than trust status.resolvedTask, which others can write. Both are read
// from the cache, so the check costs no API call. It returns a templateChangedError when they differ.
func (r *LongTaskReconciler) checkResolvedTask(ctx context.Context, task *longtaskv1.LongTask) error {
	if task.Spec.TemplateRef == nil {
		return nil
	}
	// The spec as its author wrote it: in task, resolveTemplate replaced the task's own settings.
	written := &longtaskv1.LongTask{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(task), written); err != nil {
		return fmt.Errorf("getting the LongTask's spec: %w", err)
	}
	name := written.Spec.TemplateRef.Name
	template := &longtaskv1.LongTaskTemplate{}
	err := r.Get(ctx, client.ObjectKey{Namespace: task.Namespace, Name: name}, template)
	if apierrors.IsNotFound(err) {
		return &templateChangedError{template: name, why: "was not found"}
	}
	if err != nil {
		return fmt.Errorf("getting LongTaskTemplate %s: %w", name, err)
	}
	resolved, err := tasktemplate.Resolve(&template.Spec, &written.Spec)
	if err != nil {
		return &templateChangedError{template: name, why: fmt.Sprintf("no longer takes the task's parameters (%v)", err)}
	}
	if !equality.Semantic.DeepEqual(resolved, &task.Spec.TaskSpec) {
		return &templateChangedError{template: name, why: "no longer resolves to status.resolvedTask: it changed since the task started, or the status was written by someone else"}
	}
	return nil
}

// tasksWaitingFor maps a LongTaskTemplate to the tasks that wait for it.
func (r *LongTaskReconciler) tasksWaitingFor(ctx context.Context, template client.Object) []reconcile.Request {
	tasks := &longtaskv1.LongTaskList{}
	if err := r.List(ctx, tasks, client.InNamespace(template.GetNamespace()),
		client.MatchingFields{waitingForTemplateIndex: template.GetName()}); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "Listing the tasks that wait for a template", "template", template.GetName())
		return nil
	}
	requests := make([]reconcile.Request, 0, len(tasks.Items))
	for _, task := range tasks.Items {
		requests = append(requests, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&task)})
	}
	return requests
}
