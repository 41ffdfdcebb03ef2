package tasks

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

func TestListFindsOnlyThePodsOfTheTasksJob(t *testing.T) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Obj()
	task.Status.JobName = "resize"
	job := testutil.MakeJob("resize", "photos").UID("job-uid").OwnedBy(task).Obj()
	// A Job of the task's name that another task, or nobody, controls.
	strangersJob := testutil.MakeJob("resize", "photos").UID("strangers-job-uid").Obj()
	pod := func(name string, created time.Duration) *corev1.Pod {
		p := testutil.TerminatedPod(name, "photos", "resize", 1, "Error", "", start)
		p.CreationTimestamp = metav1.NewTime(start.Add(created))
		return p
	}
	first, second := testutil.ControlledBy(pod("resize-1", 0), job), testutil.ControlledBy(pod("resize-2", time.Minute), job)
	// Pods someone made with the task's label, later than the task's own: the label alone, a controller
	// reference to a Job of the task's name with another UID, and a Job's pod that is not its controller.
	labelled := pod("forged-label", time.Hour)
	otherUID := testutil.ControlledBy(pod("forged-uid", time.Hour), strangersJob)
	notController := pod("forged-owner", time.Hour)
	notController.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: "resize", UID: "job-uid"}}
	forged := []runtime.Object{labelled, otherUID, notController}

	tests := map[string]struct {
		task    *longtaskv1.LongTask
		objects []runtime.Object
		want    []string
	}{
		"the Job's pods, oldest first, and none of the forged": {
			task: task, objects: append([]runtime.Object{job, second, first}, forged...), want: []string{"resize-1", "resize-2"},
		},
		"a Job of the task's name that is not the task's": {
			task: task, objects: []runtime.Object{strangersJob, otherUID, labelled}, want: nil,
		},
		"no Job yet": {
			task: task, objects: []runtime.Object{labelled}, want: nil,
		},
		"the controller has not named the Job yet": {
			task: testutil.MakeLongTask("resize", "photos").Obj(), objects: []runtime.Object{job, first}, want: nil,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kube := kubefake.NewClientset(tc.objects...)
			pods, err := Pods(context.Background(), kube, tc.task)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range pods {
				got = append(got, p.Name)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("pods (-want,+got):\n%s", diff)
			}
			newest, err := NewestPod(context.Background(), kube, tc.task)
			if err != nil {
				t.Fatal(err)
			}
			if want := len(tc.want); (newest == nil) != (want == 0) || (newest != nil && newest.Name != tc.want[want-1]) {
				t.Errorf("NewestPod = %v, want the last of %v", newest, tc.want)
			}
		})
	}
}
