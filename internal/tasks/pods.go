package tasks

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// Pods returns the task's pods, its attempts, oldest first: the pods its Job controls, of the Job the task
// controls, both checked by UID. Which pods are a task's decides whose exit codes and output the front ends
// show as the task's. The label longtask.dev/name only narrows the list: anyone who may create pods in
// the namespace can give one the label, with an exit code and output of their choosing, and an earlier
// Job of the same name leaves pods with it too. A task whose Job is not there yet, or is not the task's,
// has no pods.
func Pods(ctx context.Context, kube kubernetes.Interface, task *longtaskv1.LongTask) ([]corev1.Pod, error) {
	if task.Status.JobName == "" {
		return nil, nil
	}
	job, err := kube.BatchV1().Jobs(task.Namespace).Get(ctx, task.Status.JobName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the Job of longtask %q: %w", task.Name, err)
	}
	if !metav1.IsControlledBy(job, task) {
		return nil, nil
	}
	pods, err := kube.CoreV1().Pods(task.Namespace).List(ctx, metav1.ListOptions{LabelSelector: longtaskv1.LabelTaskName + "=" + task.Name})
	if err != nil {
		return nil, fmt.Errorf("listing the pods of longtask %q: %w", task.Name, err)
	}
	owned := slices.DeleteFunc(pods.Items, func(pod corev1.Pod) bool { return !metav1.IsControlledBy(&pod, job) })
	slices.SortFunc(owned, func(a, b corev1.Pod) int {
		return cmp.Or(a.CreationTimestamp.Compare(b.CreationTimestamp.Time), strings.Compare(a.Name, b.Name))
	})
	return owned, nil
}

// NewestPod returns the task's newest pod, its current or last attempt; nil when it has none.
func NewestPod(ctx context.Context, kube kubernetes.Interface, task *longtaskv1.LongTask) (*corev1.Pod, error) {
	pods, err := Pods(ctx, kube, task)
	if err != nil || len(pods) == 0 {
		return nil, err
	}
	return &pods[len(pods)-1], nil
}
