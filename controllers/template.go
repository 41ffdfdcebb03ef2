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
	"github.com/longtask-dev/longtask/internal/text"
)

// A LongTask with a templateRef runs what its template says, resolved once, before its Job is created, into
// status.resolvedTask: later edits to the template, or its deletion, never change a task that started.

// +kubebuilder:rbac:groups=longtask.dev,resources=longtasktemplates,verbs=get;list;watch

// waitingForTemplateIndex indexes the tasks that wait for a template to be resolved by the template's
// name, so that a template's creation wakes exactly the tasks that named it before it existed.
const waitingForTemplateIndex = "longtask.dev/waiting-for-template"

// maxConditionMessageBytes is the API's limit on a condition's message: a failure message longer than it
// would make the status write fail, and the task would never end.
const maxConditionMessageBytes = 32 * 1024

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
		return false, r.waitForTemplate(ctx, task)
	}
	if err != nil {
		return false, fmt.Errorf("getting LongTaskTemplate %s: %w", task.Spec.TemplateRef.Name, err)
	}
	resolved, err := tasktemplate.Resolve(&template.Spec, &task.Spec)
	if err != nil {
		return false, r.failInvalidParameters(ctx, task, err)
	}
	// Written before the Job is created, so that the Job and status.resolvedTask always agree, even if the
	// template changes before the next pass.
	status := task.Status.DeepCopy()
	status.ResolvedTask = resolved
	if err := r.updateStatusIfChanged(ctx, task, *status); err != nil {
		return false, err
	}
	task.Spec.TaskSpec = *resolved.DeepCopy()
	return true, nil
}

// waitForTemplate keeps a task whose template does not exist Pending. The template's creation brings the
// task back (SetupWithManager).
func (r *LongTaskReconciler) waitForTemplate(ctx context.Context, task *longtaskv1.LongTask) error {
	return r.holdPending(ctx, task, ReasonTemplateNotFound, "ResolveTemplate", fmt.Sprintf(
		"LongTaskTemplate %s not found in namespace %s: the task starts when it is created", task.Spec.TemplateRef.Name, task.Namespace))
}

// failInvalidParameters ends a task whose parameters do not fit its template, or whose template is broken,
// before it ran; the Event comes with the phase change.
func (r *LongTaskReconciler) failInvalidParameters(ctx context.Context, task *longtaskv1.LongTask, resolveErr error) error {
	now := r.Clock.Now()
	message := text.Cut(fmt.Sprintf("LongTaskTemplate %s: %v", task.Spec.TemplateRef.Name, resolveErr), maxConditionMessageBytes, text.Start)
	status := computeStatus(task, observed{now: now})
	status.Failure = &longtaskv1.Failure{Reason: ReasonInvalidParameters, Message: message}
	finish(&status, longtaskv1.PhaseFailed, ReasonInvalidParameters, message, now)
	return r.updateStatusIfChanged(ctx, task, status)
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
