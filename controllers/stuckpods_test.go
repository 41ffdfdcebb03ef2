package controllers

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// podAfterReboot is a task's pod as a kubelet leaves it when its node restarted between creating the task
// container and starting it: Pending, without a sandbox since sandboxLost, its container created.
func podAfterReboot(name string, sandboxLost time.Time, created bool) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "photos", UID: "pod-uid", Labels: map[string]string{longtaskv1.LabelTaskName: "resize"}},
		Status: corev1.PodStatus{
			Phase:      corev1.PodPending,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse, LastTransitionTime: metav1.Time{Time: sandboxLost}}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: longtaskv1.TaskContainerName, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}},
			}},
		},
	}
	if created {
		pod.Status.ContainerStatuses[0].ContainerID = "containerd://abc"
	}
	return pod
}

// podController is whose pod a test's pod is.
type podController int

const (
	// theTasksJob: the task's Job controls the pod, as the Job controller makes it.
	theTasksJob podController = iota
	// onlyTheLabel: the pod has the task's label, as anyone who may create pods can give it.
	onlyTheLabel
	// anEarlierJob: a Job with the task's name and another UID, since deleted, controls the pod.
	anEarlierJob
)

func TestReconcileDeletesAPodItsKubeletWillNotStart(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for name, tc := range map[string]struct {
		pod         *corev1.Pod
		controller  podController
		jobStarted  time.Time
		wantDeleted bool
		wantReads   int
	}{
		"stuck for longer than the grace": {pod: podAfterReboot("resize-a", now.Add(-2*stuckPodGrace), true), jobStarted: now.Add(-time.Hour), wantDeleted: true, wantReads: 1},
		"stuck for less than the grace":   {pod: podAfterReboot("resize-a", now.Add(-stuckPodGrace/2), true), jobStarted: now.Add(-time.Hour), wantReads: 1},
		"slow to start: no container yet": {pod: podAfterReboot("resize-a", now.Add(-2*stuckPodGrace), false), jobStarted: now.Add(-time.Hour), wantReads: 1},
		// A pod of a Job younger than the grace cannot have waited that long: not even listed.
		"a new Job": {pod: podAfterReboot("resize-a", now.Add(-2*stuckPodGrace), true), jobStarted: now.Add(-stuckPodGrace / 2)},
		// The controller deletes only what the task's Job controls, never a pod someone labelled.
		"stuck, with only the task's label": {
			pod: podAfterReboot("resize-a", now.Add(-2*stuckPodGrace), true), controller: onlyTheLabel, jobStarted: now.Add(-time.Hour), wantReads: 1,
		},
		"stuck, of an earlier Job with the task's name": {
			pod: podAfterReboot("resize-a", now.Add(-2*stuckPodGrace), true), controller: anEarlierJob, jobStarted: now.Add(-time.Hour), wantReads: 1,
		},
	} {
		t.Run(name, func(t *testing.T) {
			task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhasePending).Obj()
			job := testutil.MakeJob("resize", "photos").UID("job-uid").OwnedBy(task).Started(tc.jobStarted).Obj()
			switch tc.controller {
			case theTasksJob:
				testutil.ControlledBy(tc.pod, job)
			case anEarlierJob:
				testutil.ControlledBy(tc.pod, testutil.FromJob(job).UID("earlier-job-uid").Obj())
			}
			r, c, calls := newTestReconciler(t, now, task, job, tc.pod)

			result := reconcileTask(t, r, task)
			if calls.reads != tc.wantReads {
				t.Errorf("%d reads from the API server, want %d", calls.reads, tc.wantReads)
			}

			err := c.Get(context.Background(), client.ObjectKeyFromObject(tc.pod), &corev1.Pod{})
			if deleted := err != nil; deleted != tc.wantDeleted {
				t.Errorf("pod deleted: %v (%v), want %v", deleted, err, tc.wantDeleted)
			}
			if result.RequeueAfter <= 0 || result.RequeueAfter > stuckPodGrace {
				t.Errorf("requeue after %v, want within %v: nothing else wakes the task while its pod waits", result.RequeueAfter, stuckPodGrace)
			}
			recorded := strings.Join(drain(r.Recorder.(*events.FakeRecorder)), "\n")
			if got := strings.Contains(recorded, "Warning PodLost"); got != tc.wantDeleted {
				t.Errorf("events %q: a PodLost Warning %v, want %v", recorded, got, tc.wantDeleted)
			}
		})
	}
}

func drain(recorder *events.FakeRecorder) []string {
	var got []string
	for {
		select {
		case e := <-recorder.Events:
			got = append(got, e)
		default:
			return got
		}
	}
}
