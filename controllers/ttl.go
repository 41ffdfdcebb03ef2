package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// ttlExpired reports whether a finished task has outlived its ttlSecondsAfterFinished and, if it has not
// yet, how long until it does, at now. Tasks without a TTL, or not finished, never expire.
func ttlExpired(task *longtaskv1.LongTask, now time.Time) (bool, time.Duration) {
	if task.Spec.TTLSecondsAfterFinished == nil || !task.Status.Phase.Finished() || task.Status.CompletionTime == nil {
		return false, 0
	}
	expiry := task.Status.CompletionTime.Add(time.Duration(*task.Spec.TTLSecondsAfterFinished) * time.Second)
	remaining := expiry.Sub(now)
	if remaining <= 0 {
		return true, 0
	}
	return false, remaining
}

// deleteExpired deletes a task whose TTL ran out; the garbage collector deletes its Job and pods. A task
// already gone (a pass that read a stale cache after the pass that deleted it) gets no second Event.
func (r *LongTaskReconciler) deleteExpired(ctx context.Context, task *longtaskv1.LongTask) error {
	// Precondition on the UID so that a new task created with the same name is never deleted by mistake.
	err := r.Delete(ctx, task, client.PropagationPolicy("Background"), client.Preconditions{UID: &task.UID})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("deleting the task after its TTL: %w", err)
	}
	r.Recorder.Eventf(task, nil, corev1.EventTypeNormal, ReasonExpired, "Delete",
		"Deleted %d seconds after it finished (ttlSecondsAfterFinished)", *task.Spec.TTLSecondsAfterFinished)
	return nil
}
