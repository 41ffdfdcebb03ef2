package cli

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// logs prints the output of the task's own pod, one its Job controls: a pod that someone labels
// longtask.dev/name=resize is not the task's, and its output is not printed as the task's.
func TestLogsReadsOnlyAPodOfTheTasksJob(t *testing.T) {
	task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Obj()
	task.Status.JobName = "resize"
	job := testutil.MakeJob("resize", "photos").UID("job-uid").OwnedBy(task).Obj()
	forged := testutil.TerminatedPod("forged-pod", "photos", "resize", 0, "Completed", "", now)
	own := testutil.ControlledBy(testutil.TerminatedPod("resize-abcde", "photos", "resize", 0, "Completed", "", now.Add(-time.Minute)), job)

	// The fake API server answers every pod's log with "fake logs": whether any is printed tells.
	stdout, stderr, code, _ := fakeRunWith(t, []client.Object{task}, []runtime.Object{job, forged}, "logs", "resize")
	if code != ExitError || strings.Contains(stdout, "fake logs") || !strings.Contains(stderr, "has no pod") {
		t.Errorf("logs of a task whose only labelled pod is not its Job's: exit %d, stdout %q, stderr %q; want exit %d saying it has no pod",
			code, stdout, stderr, ExitError)
	}
	stdout, stderr, code, _ = fakeRunWith(t, []client.Object{task}, []runtime.Object{job, forged, own}, "logs", "resize")
	if code != ExitOK || stdout != "fake logs" {
		t.Errorf("logs of a task with a pod of its own: exit %d, stdout %q, stderr %q; want its output", code, stdout, stderr)
	}
}
