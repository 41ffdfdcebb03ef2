package ui

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// A task's page shows as its attempts, and reads the output of, only the pods its Job controls: a pod
// that someone labels longtask.dev/name=resize, with an exit code of their choosing, is not the task's.
func TestTaskPageShowsOnlyThePodsOfTheTasksJob(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseFailed).Obj()
	task.Status.JobName = "resize"
	job := testutil.MakeJob("resize", "photos").UID("job-uid").OwnedBy(task).Obj()
	start := time.Now().Add(-time.Hour)
	own := testutil.ControlledBy(testutil.TerminatedPod("resize-abcde", "photos", "resize", 3, "Error", "", start), job)
	own.CreationTimestamp = metav1.NewTime(start)
	forged := testutil.TerminatedPod("forged-pod", "photos", "resize", 99, "Forged", "", time.Now())
	forged.CreationTimestamp = metav1.NewTime(time.Now())

	serve := func(pods ...runtime.Object) string {
		c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(task).Build()
		s, err := NewServer(Options{Reader: c, Client: c, Kube: kubefake.NewClientset(append(pods, job)...)})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(s.Handler())
		t.Cleanup(ts.Close)
		return ts.URL
	}

	code, body := get(t, serve(own, forged)+"/tasks/photos/resize")
	if code != http.StatusOK {
		t.Fatalf("GET the task's page: %d\n%s", code, body)
	}
	if !strings.Contains(body, "resize-abcde") || !strings.Contains(body, "exit code 3") {
		t.Errorf("the page does not show the task's own attempt:\n%s", body)
	}
	if strings.Contains(body, "forged-pod") || strings.Contains(body, "exit code 99") {
		t.Errorf("the page shows a pod that only carries the task's label as its attempt:\n%s", body)
	}

	// The fake API server answers every pod's log alike, so only a task with no pod of its own shows
	// whether the forged one's output is read.
	if _, body := get(t, serve(forged)+"/tasks/photos/resize/log"); !strings.Contains(body, "the task has no pod") {
		t.Errorf("the task's output, with only a forged pod, is %q; want none", body)
	}
}
