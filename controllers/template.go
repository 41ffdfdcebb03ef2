package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasktemplate"
)

// A LongTask with a templateRef runs what its template says, resolved once, before its Job is created, into
// status.resolvedTask: later edits to the template, or its deletion, never change a task that started.

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

// resolveTemplate makes task.Spec.TaskSpec, in memory only, what the task runs: for a task that names a
// template, status.resolvedTask, which it resolves and writes the first time. From then on every step
// (the Job, the worker's access, TTL, the progress deadline) reads the spec as for any other task. It
// reports false when the task cannot run: its template is missing, or its parameters do not fit; its
// status then says why.
func (r *LongTaskReconciler) resolveTemplate(ctx context.Context, task *longtaskv1.LongTask) (bool, error) {
	switch {
	case task.Spec.TemplateRef == nil:
		return true, nil
	case task.Status.ResolvedTask != nil:
		task.Spec.TaskSpec = *task.Status.ResolvedTask.DeepCopy()
		return true, nil
	case !needsTemplate(task):
		// Finished or cancelled before it ever ran: there is nothing left to run.
		return true, nil
	}
	template := &longtaskv1.LongTaskTemplate{}
	err := r.Get(ctx, client.ObjectKey{Namespace: task.Namespace, Name: task.Spec.TemplateRef.Name}, template)
	if apierrors.IsNotFound(err) {
		// Pending until the template's creation brings the task back (SetupWithManager).
		return false, r.updateStatusIfChanged(ctx, task, computeStatus(task, observed{now: r.Clock.Now(), templateMissing: true}))
	}
	if err != nil {
		return false, fmt.Errorf("getting LongTaskTemplate %s: %w", task.Spec.TemplateRef.Name, err)
	}
	resolved, err := tasktemplate.Resolve(&template.Spec, &task.Spec)
	if err != nil {
		// The task ends before it ran; the Event comes with the phase change.
		return false, r.updateStatusIfChanged(ctx, task, computeStatus(task, observed{now: r.Clock.Now(), invalidParameters: err}))
	}
	// Written before the Job is created, so that the Job and status.resolvedTask always agree, even if the
	// template changes before the next pass.
	status := task.Status.DeepCopy()
	status.ResolvedTask = resolved
	if err := r.updateStatusIfChanged(ctx, task, decision{status: *status}); err != nil {
		return false, err
	}
	task.Spec.TaskSpec = *resolved.DeepCopy()
	return true, nil
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
