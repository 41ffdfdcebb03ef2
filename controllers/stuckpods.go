package controllers

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// stuckPodGrace is how long a task's pod may wait for a sandbox the kubelet will never make before the
// controller deletes it; while a task waits for its pod, the controller looks this often.
const stuckPodGrace = time.Minute

// deleteStuckPods deletes the task's pods (those its Job controls: taskPods) that a kubelet will never start. A kubelet that restarts (its
// node lost power, or rebooted) after it created a container but before it started it leaves a
// restartPolicy: Never pod Pending for ever: it makes no new sandbox for a pod that has a container
// (kubernetes/kubernetes#118321). The Job controller waits for that pod for ever too, so the task would
// stay Pending. Once such a pod has waited stuckPodGrace, it is deleted: the Job controller counts it
// failed and, when the task has retries left, starts another, which resumes from the task's checkpoint;
// without retries the task fails with reason PodLost. It returns when to look again, 0 for never.
func (r *LongTaskReconciler) deleteStuckPods(ctx context.Context, task *longtaskv1.LongTask, job *batchv1.Job, now time.Time) (time.Duration, error) {
	if job == nil || task.Status.Phase.Finished() || jobFinished(job) || job.Status.Active == 0 || ptr.Deref(job.Status.Ready, 0) > 0 {
		return 0, nil
	}
	// No pod of a Job younger than the grace can have waited that long: a burst of new tasks costs no
	// List of their pods.
	if job.Status.StartTime == nil {
		return stuckPodGrace, nil
	}
	if age := now.Sub(job.Status.StartTime.Time); age < stuckPodGrace {
		return stuckPodGrace - age, nil
	}
	pods, err := r.taskPods(ctx, task, job)
	if err != nil {
		return 0, err
	}
	for i := range pods {
		pod := &pods[i]
		since, stuck := stuckSince(pod)
		if !stuck || now.Sub(since) < stuckPodGrace {
			continue
		}
		if err := r.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
			return 0, fmt.Errorf("deleting pod %s, which its kubelet will not start: %w", pod.Name, err)
		}
		ctrl.LoggerFrom(ctx).Info("Deleted a pod its kubelet will not start", "pod", klog.KObj(pod), "waitingSince", since)
		r.Recorder.Eventf(task, pod, corev1.EventTypeWarning, string(longtaskv1.FailureReasonPodLost), "DeletePod",
			"Deleted pod %s: its node restarted after creating its container, and the kubelet will not start it", pod.Name)
	}
	return stuckPodGrace, nil
}

// stuckSince reports whether the kubelet will not start pod, and since when: it is Pending without a
// sandbox (PodReadyToStartContainers is False), though one of its containers was created (has an ID)
// and waits. A pod that is only slow to start has no container yet, or its sandbox.
func stuckSince(pod *corev1.Pod) (time.Time, bool) {
	if pod.Status.Phase != corev1.PodPending || pod.DeletionTimestamp != nil {
		return time.Time{}, false
	}
	var since time.Time
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReadyToStartContainers && c.Status == corev1.ConditionFalse {
			since = c.LastTransitionTime.Time
		}
	}
	if since.IsZero() {
		return time.Time{}, false
	}
	for _, statuses := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range statuses {
			if cs.ContainerID != "" && cs.State.Waiting != nil {
				return since, true
			}
		}
	}
	return time.Time{}, false
}
