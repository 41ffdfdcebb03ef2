package integration

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

func TestRetriedDemoTaskResumesFromItsCheckpoint(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resume", ns).Retries(1).
		Command("longtask-worker", "demo", "--steps", "4", "--fail-at", "2", "--max-delay", "10ms").
		ProgressInterval(100 * time.Millisecond).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)
	stop := recordProgress(t, task)

	start := time.Now()
	fw.SetJobStatus(t, testutil.FromJob(job).Started(start).Ready().Obj())
	out, err := runTaskContainer(t, job)
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Fatalf("the first attempt ended with %v, want exit code 1\n%s", err, out)
	}
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Checkpoint).To(gomega.Equal(`{"step":2}`))
	})

	// The Job controller counts the failed pod and starts the next one.
	retry := testutil.FromJob(job).Started(start).Ready()
	retry.Status.Failed = 1
	fw.SetJobStatus(t, retry.Obj())
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Attempts).To(gomega.Equal(int32(2)))
	})
	out, err = runTaskContainer(t, job)
	if err != nil {
		t.Fatalf("the second attempt failed: %v\n%s", err, out)
	}
	g := gomega.NewWithT(t)
	g.Expect(out).To(gomega.ContainSubstring("Attempt 2: resuming at step 3 of 4"))

	done := testutil.FromJob(job).Started(start).Succeeded(time.Now())
	done.Status.Failed = 1
	fw.SetJobStatus(t, done.Obj())
	got := fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseSucceeded))
	})
	g.Expect(got.Status.Attempts).To(gomega.Equal(int32(2)))
	g.Expect(got.Status.Progress.Attempt).To(gomega.Equal(int32(2)))
	g.Expect(got.Status.Result).To(gomega.Equal(`{"steps": 4}`))

	seen := stop()
	for i := 1; i < len(seen); i++ {
		g.Expect(seen[i].Current).To(gomega.BeNumerically(">=", seen[i-1].Current),
			"progress went backwards for a viewer between attempts: %d then %d", seen[i-1].Current, seen[i].Current)
	}
}

func TestStalledTaskFailsWithProgressDeadlineExceeded(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("stall", ns).ProgressDeadline(1).Obj()
	job, _ := fw.StartTask(t, task)

	got := fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseFailed))
	})
	g := gomega.NewWithT(t)
	g.Expect(got.Status.Failure.Reason).To(gomega.Equal(longtaskv1.FailureReasonProgressDeadlineExceeded))
	g.Expect(meta.FindStatusCondition(got.Status.Conditions, longtaskv1.ConditionFailed).Reason).To(gomega.Equal("ProgressDeadlineExceeded"))
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(fw.Client.Get(context.Background(), client.ObjectKeyFromObject(job), job)).To(gomega.Succeed())
		g.Expect(job.Spec.Suspend).To(gomega.Equal(ptr.To(true)), "the stalled task's pod must be stopped")
	})
}

func TestSIGTERMWritesTheLastProgressBeforeTheWorkerExits(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	marker := filepath.Join(t.TempDir(), "reported")
	// An interval of an hour: only the start of the attempt is written at once, so the 7/10 report can
	// only reach the API server through the final write.
	task := testutil.MakeLongTask("term", ns).ProgressInterval(time.Hour).
		Command("sh", "-c", fmt.Sprintf(`echo "::progress 7/10 almost there"; touch %s; sleep 60`, marker)).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)

	cmd := taskContainerCommand(t, job)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitForFile(t, marker)
	time.Sleep(200 * time.Millisecond) // the worker reads the line the program printed before the marker
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 143 {
		t.Fatalf("the worker ended with %v, want 143 (the program's SIGTERM)", err)
	}
	got := &longtaskv1.LongTask{}
	if err := fw.Client.Get(context.Background(), client.ObjectKeyFromObject(task), got); err != nil {
		t.Fatal(err)
	}
	if p := got.Status.Progress; p == nil || p.Summary != "7/10 (70%)" || p.Message != "almost there" {
		t.Errorf("progress after SIGTERM is %+v, want the last report, 7/10 almost there", p)
	}
}

func TestChattyTaskWritesAtMostOncePerInterval(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	// About 10,000 lines a second for 3 seconds, progress and ordinary output mixed.
	program := `awk 'BEGIN { for (i = 1; i <= 30000; i++) { print "::progress " i "/30000 line " i; print "output " i; if (i % 100 == 0) system("sleep 0.01") } }'`
	task := testutil.MakeLongTask("chatty", ns).ProgressInterval(time.Second).Command("sh", "-c", program).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)
	stop := recordProgress(t, task)

	started := time.Now()
	out, err := runTaskContainer(t, job)
	elapsed := time.Since(started)
	if err != nil {
		t.Fatalf("the worker failed: %v\n%s", err, out[max(0, len(out)-2000):])
	}
	writes := stop()
	g := gomega.NewWithT(t)
	g.Expect(writes).NotTo(gomega.BeEmpty())
	g.Expect(writes[len(writes)-1].Summary).To(gomega.Equal("30000/30000 (100%)"), "the final state is always written")
	// One write when the attempt starts, one at most per interval after, and the final one.
	limit := int(elapsed/time.Second) + 2
	g.Expect(len(writes)).To(gomega.BeNumerically("<=", limit), "%d writes in %v for 30,000 reports", len(writes), elapsed)
	t.Logf("%d progress writes in %v for 30,000 reports (at most %d allowed)", len(writes), elapsed, limit)
}

func TestProgressAndResultFiles(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	program := `echo "3/10" > "$ARGO_PROGRESS_FILE"; sleep 0.5; echo "7/10 halfway" >> "$LONGTASK_PROGRESS_FILE"; sleep 0.5; printf '{"files": 10}\n' > "$LONGTASK_RESULT_FILE"`
	task := testutil.MakeLongTask("files", ns).ProgressInterval(100*time.Millisecond).Command("sh", "-c", program).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)
	stop := recordProgress(t, task)
	if out, err := runTaskContainer(t, job); err != nil {
		t.Fatalf("the worker failed: %v\n%s", err, out)
	}
	seen := stop()
	var summaries []string
	for _, p := range seen {
		summaries = append(summaries, p.Summary)
	}
	g := gomega.NewWithT(t)
	g.Expect(summaries).To(gomega.ContainElements("3/10 (30%)", "7/10 (70%)"), "Argo's N/M progress file format works unchanged")
	got := &longtaskv1.LongTask{}
	g.Expect(fw.Client.Get(context.Background(), client.ObjectKeyFromObject(task), got)).To(gomega.Succeed())
	g.Expect(got.Status.Progress.Message).To(gomega.Equal("halfway"))
	g.Expect(got.Status.Result).To(gomega.Equal(`{"files": 10}`))
}

func TestWorkerFollowsTheSharedWriteBudget(t *testing.T) {
	t.Parallel()
	// A budget at which the manager's one task writes at most once every 4 seconds.
	ns := fw.ManagedNamespace(t, manager.Options{ProgressWriteBudget: 0.25})

	program := `for i in $(seq 1 30); do echo "::progress $i/30"; sleep 0.1; done`
	task := testutil.MakeLongTask("budget", ns).ProgressInterval(100*time.Millisecond).Command("sh", "-c", program).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)
	got := fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.EffectiveProgressInterval).NotTo(gomega.BeNil())
		g.Expect(got.Status.EffectiveProgressInterval.Duration).To(gomega.BeNumerically(">=", 4*time.Second))
	})
	interval := got.Status.EffectiveProgressInterval.Duration

	stop := recordProgress(t, task)
	started := time.Now()
	if out, err := runTaskContainer(t, job); err != nil {
		t.Fatalf("the worker failed: %v\n%s", err, out)
	}
	elapsed := time.Since(started)
	writes := stop()
	limit := int(elapsed/interval) + 2
	g := gomega.NewWithT(t)
	g.Expect(len(writes)).To(gomega.BeNumerically("<=", limit), "%d writes in %v with a shared interval of %v", len(writes), elapsed, interval)
	g.Expect(writes[len(writes)-1].Summary).To(gomega.Equal("30/30 (100%)"))
	t.Logf("%d writes in %v at a shared interval of %v (spec: 100ms)", len(writes), elapsed, interval)
}
