package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

func TestLongTaskRunsAsAJob(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Command("resize", "--all").Total(25).Obj()
	fw.Create(t, task)

	job := fw.WaitForJob(t, task)
	g := gomega.NewWithT(t)
	g.Expect(metav1.IsControlledBy(job, task)).To(gomega.BeTrue(), "the Job must be owned by its LongTask")
	g.Expect(job.Labels).To(gomega.HaveKeyWithValue(longtaskv1.LabelTaskName, "resize"))
	container := job.Spec.Template.Spec.Containers[0]
	g.Expect(container.Image).To(gomega.Equal(framework.WorkerImage), "a task without an image runs in the worker image")
	g.Expect(container.Command).To(gomega.Equal([]string{"/longtask/bin/longtask-worker", "run", "--", "resize", "--all"}))
	g.Expect(job.Spec.BackoffLimit).To(gomega.Equal(ptr.To[int32](0)), "retries defaults to 0")

	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhasePending))
		g.Expect(got.Status.JobName).To(gomega.Equal("resize"))
		g.Expect(got.Status.ObservedGeneration).To(gomega.Equal(got.Generation))
	})
}

func TestJobStatusDrivesPhaseAndConditions(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Total(25).Obj()
	job, start := fw.StartTask(t, task)
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseRunning))
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, longtaskv1.ConditionRunning)).To(gomega.BeTrue())
		g.Expect(got.Status.Attempts).To(gomega.Equal(int32(1)))
	})
	fw.Worker(t, task).Reports("::progress 12/25 Resized cat.jpg")

	// kubectl wait is how users block on a task; it must return once the task succeeds.
	wait := fw.Kubectl(ns, "wait", "--for=condition=Succeeded", "--timeout=60s", "longtask/resize")
	waitDone := make(chan error, 1)
	go func() { waitDone <- wait.Run() }()

	fw.SetJobStatus(t, testutil.FromJob(job).Started(start).Succeeded(time.Now()).Obj())
	got := fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseSucceeded))
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, longtaskv1.ConditionSucceeded)).To(gomega.BeTrue())
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, longtaskv1.ConditionRunning)).To(gomega.BeFalse())
	})
	g := gomega.NewWithT(t)
	g.Expect(got.Status.Progress.Summary).To(gomega.Equal("25/25 (100%)"), "success completes the progress bar")
	g.Expect(got.Status.Progress.Message).To(gomega.Equal("Resized cat.jpg"), "the controller keeps the worker's message")
	g.Expect(got.Status.CompletionTime).NotTo(gomega.BeNil())
	g.Expect(<-waitDone).To(gomega.Succeed(), "kubectl wait --for=condition=Succeeded did not return")

	out, err := fw.Kubectl(ns, "get", "longtasks").CombinedOutput()
	g.Expect(err).NotTo(gomega.HaveOccurred(), string(out))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	g.Expect(strings.Fields(lines[0])).To(gomega.Equal([]string{"NAME", "PHASE", "PROGRESS", "MESSAGE", "AGE"}))
	g.Expect(lines[1]).To(gomega.MatchRegexp(`^resize\s+Succeeded\s+25/25 \(100%\)\s+Resized cat.jpg\s+\d+s$`))

	out, err = fw.Kubectl(ns, "get", "longtasks", "-o", "wide").CombinedOutput()
	g.Expect(err).NotTo(gomega.HaveOccurred(), string(out))
	header := strings.Fields(strings.SplitN(string(out), "\n", 2)[0])
	g.Expect(header).To(gomega.Equal([]string{"NAME", "PHASE", "PROGRESS", "MESSAGE", "AGE", "ETA", "RATE", "ATTEMPTS", "JOB"}))
}

func TestFailedTaskSaysWhy(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Obj()
	job, start := fw.StartTask(t, task)

	// Plain text, as the kubelet writes the end of the log when the worker could not write its message.
	fw.CreatePod(t, testutil.ControlledBy(testutil.TerminatedPod("resize-abcde", ns, "resize", 3, "Error", "the program exited with code 3\ndisk full: /data\n", time.Now()), job))
	fw.SetJobStatus(t, testutil.FromJob(job).Started(start).Failed(time.Now(), "BackoffLimitExceeded", "Job has reached the specified backoff limit", 1).Obj())

	got := fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseFailed))
	})
	g := gomega.NewWithT(t)
	g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, longtaskv1.ConditionFailed)).To(gomega.BeTrue())
	g.Expect(got.Status.Failure).To(gomega.Equal(&longtaskv1.Failure{
		Reason:   "TaskFailed",
		Message:  "The task exited with code 3",
		ExitCode: ptr.To[int32](3),
		Output:   "the program exited with code 3\ndisk full: /data",
	}))
	g.Expect(fw.Kubectl(ns, "wait", "--for=condition=Failed", "--timeout=10s", "longtask/resize").Run()).To(gomega.Succeed())
}

func TestCancelStopsTheTask(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Obj()
	job, start := fw.StartTask(t, task)
	fw.Worker(t, task).Reports("::progress 5/25")
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseRunning))
	})

	out, err := fw.Kubectl(ns, "patch", "lt", "resize", "--type", "merge", "-p", `{"spec":{"cancel":true}}`).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl patch: %v\n%s", err, out)
	}
	// The Job controller stops the pods of a suspended Job gracefully; that is how a task is cancelled.
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(fw.Client.Get(context.Background(), client.ObjectKeyFromObject(job), job)).To(gomega.Succeed())
		g.Expect(job.Spec.Suspend).To(gomega.Equal(ptr.To(true)))
	})
	fw.SetJobStatus(t, testutil.FromJob(job).Started(start).Stopped().Obj())

	got := fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseCancelled))
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, longtaskv1.ConditionCancelled)).To(gomega.BeTrue())
	})
	gomega.NewWithT(t).Expect(got.Status.Progress.Summary).To(gomega.Equal("5/25 (20%)"), "the last progress is kept")
}

func TestCancelBeforeStartCreatesNoJob(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Cancel().Obj()
	fw.Create(t, task)
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseCancelled))
	})
	err := fw.Client.Get(context.Background(), client.ObjectKeyFromObject(task), &batchv1.Job{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("getting the Job of a task cancelled before it started: %v, want NotFound", err)
	}
}

func TestFinishedTaskIsDeletedAfterItsTTL(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).TTL(1).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)
	fw.SetJobStatus(t, testutil.FromJob(job).Started(time.Now()).Succeeded(time.Now()).Obj())

	framework.Eventually(t, func(g gomega.Gomega) {
		err := fw.Client.Get(context.Background(), client.ObjectKeyFromObject(task), &longtaskv1.LongTask{})
		g.Expect(err).To(gomega.Satisfy(apierrors.IsNotFound), "the task outlived its ttlSecondsAfterFinished")
	})
}

func TestTaskWithoutTTLIsKept(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)
	fw.SetJobStatus(t, testutil.FromJob(job).Started(time.Now()).Succeeded(time.Now()).Obj())
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseSucceeded))
	})
	gomega.NewWithT(t).Consistently(func() error {
		return fw.Client.Get(context.Background(), client.ObjectKeyFromObject(task), &longtaskv1.LongTask{})
	}, 2*time.Second, 100*time.Millisecond).Should(gomega.Succeed())
}

func TestJobNameTakenBySomeoneElse(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	foreign := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "resize", Namespace: ns},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"true"}}},
		}}},
	}
	fw.Create(t, foreign)
	task := testutil.MakeLongTask("resize", ns).Obj()
	fw.Create(t, task)

	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhasePending))
		cond := meta.FindStatusCondition(got.Status.Conditions, longtaskv1.ConditionRunning)
		g.Expect(cond).NotTo(gomega.BeNil())
		g.Expect(cond.Reason).To(gomega.Equal("JobConflict"))
		g.Expect(cond.Message).To(gomega.ContainSubstring("Job resize already exists and does not belong to this LongTask"))
	})
	job := &batchv1.Job{}
	if err := fw.Client.Get(context.Background(), client.ObjectKeyFromObject(foreign), job); err != nil {
		t.Fatal(err)
	}
	if len(job.OwnerReferences) != 0 || job.Spec.Template.Spec.Containers[0].Name != "main" {
		t.Errorf("the controller changed a Job that is not its own: %+v", job.ObjectMeta)
	}
}

func TestQueuedTaskWaitsForKueueAndIsNeverFought(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("queued", ns).Label(longtaskv1.LabelQueueName, "batch").Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)
	g := gomega.NewWithT(t)
	g.Expect(job.Labels).To(gomega.HaveKeyWithValue(longtaskv1.LabelQueueName, "batch"))
	g.Expect(job.Spec.Suspend).To(gomega.Equal(ptr.To(true)), "a queued Job starts suspended, for Kueue to admit")
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhasePending))
		g.Expect(meta.FindStatusCondition(got.Status.Conditions, longtaskv1.ConditionRunning).Reason).To(gomega.Equal("JobSuspended"))
	})

	// Kueue admits the Job by unsuspending it; the controller must leave it so.
	g.Expect(fw.Client.Patch(context.Background(), job, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"suspend":false}}`)))).To(gomega.Succeed())
	fw.SetJobStatus(t, testutil.FromJob(job).Started(time.Now()).Ready().Obj())
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseRunning))
	})
	// Kueue preempts it by suspending it again; the controller must not undo that either.
	g.Expect(fw.Client.Patch(context.Background(), job, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"suspend":true}}`)))).To(gomega.Succeed())
	g.Consistently(func(g gomega.Gomega) {
		got := &batchv1.Job{}
		g.Expect(fw.Client.Get(context.Background(), client.ObjectKeyFromObject(job), got)).To(gomega.Succeed())
		g.Expect(got.Spec.Suspend).To(gomega.Equal(ptr.To(true)))
	}, 2*time.Second, 100*time.Millisecond).Should(gomega.Succeed(), "the controller changed a Job that Kueue suspended")
}

func TestATaskFromTheGoClientGetsItsDefaults(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	// Only what is required, as a Go program using the API types would write it.
	task := &longtaskv1.LongTask{
		ObjectMeta: metav1.ObjectMeta{Name: "minimal", Namespace: ns},
		Spec:       longtaskv1.LongTaskSpec{TaskSpec: longtaskv1.TaskSpec{Command: []string{"resize"}}},
	}
	fw.Create(t, task)
	g := gomega.NewWithT(t)
	job := fw.WaitForJob(t, task)
	g.Expect(job.Spec.Template.Spec.Containers[0].Env).To(gomega.ContainElement(corev1.EnvVar{Name: "LONGTASK_PROGRESS_INTERVAL", Value: "1s"}))
}
