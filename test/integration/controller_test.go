package integration

import (
	"context"
	"fmt"
	"os/exec"
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
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

func TestLongTaskRunsAsAJob(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).Command("resize", "--all").Total(25).Obj()
	create(t, task)

	job := waitForJob(t, task)
	g := gomega.NewWithT(t)
	g.Expect(metav1.IsControlledBy(job, task)).To(gomega.BeTrue(), "the Job must be owned by its LongTask")
	g.Expect(job.Labels).To(gomega.HaveKeyWithValue(longtaskv1.LabelTaskName, "resize"))
	container := job.Spec.Template.Spec.Containers[0]
	g.Expect(container.Image).To(gomega.Equal(workerImage), "a task without an image runs in the worker image")
	g.Expect(container.Command).To(gomega.Equal([]string{"/longtask/bin/longtask-worker", "run", "--", "resize", "--all"}))
	g.Expect(job.Spec.BackoffLimit).To(gomega.Equal(ptr.To[int32](0)), "retries defaults to 0")

	eventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhasePending))
		g.Expect(got.Status.JobName).To(gomega.Equal("resize"))
		g.Expect(got.Status.ObservedGeneration).To(gomega.Equal(got.Generation))
	})
}

func TestJobStatusDrivesPhaseAndConditions(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).Total(25).Obj()
	job, start := startTask(t, task)
	eventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseRunning))
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, longtaskv1.ConditionRunning)).To(gomega.BeTrue())
		g.Expect(got.Status.Attempts).To(gomega.Equal(int32(1)))
	})
	workerReports(t, task, progressPatch(12, 25, "Resized cat.jpg"))

	// kubectl wait is how users block on a task; it must return once the task succeeds.
	wait := kubectl(ns, "wait", "--for=condition=Succeeded", "--timeout=60s", "longtask/resize")
	waitDone := make(chan error, 1)
	go func() { waitDone <- wait.Run() }()

	setJobStatus(t, testutil.FromJob(job).Started(start).Succeeded(time.Now()).Obj())
	got := eventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseSucceeded))
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, longtaskv1.ConditionSucceeded)).To(gomega.BeTrue())
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, longtaskv1.ConditionRunning)).To(gomega.BeFalse())
	})
	g := gomega.NewWithT(t)
	g.Expect(got.Status.Progress.Summary).To(gomega.Equal("25/25 (100%)"), "success completes the progress bar")
	g.Expect(got.Status.Progress.Message).To(gomega.Equal("Resized cat.jpg"), "the controller keeps the worker's message")
	g.Expect(got.Status.CompletionTime).NotTo(gomega.BeNil())
	g.Expect(<-waitDone).To(gomega.Succeed(), "kubectl wait --for=condition=Succeeded did not return")

	out, err := kubectl(ns, "get", "longtasks").CombinedOutput()
	g.Expect(err).NotTo(gomega.HaveOccurred(), string(out))
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	g.Expect(strings.Fields(lines[0])).To(gomega.Equal([]string{"NAME", "PHASE", "PROGRESS", "MESSAGE", "AGE"}))
	g.Expect(lines[1]).To(gomega.MatchRegexp(`^resize\s+Succeeded\s+25/25 \(100%\)\s+Resized cat.jpg\s+\d+s$`))

	out, err = kubectl(ns, "get", "longtasks", "-o", "wide").CombinedOutput()
	g.Expect(err).NotTo(gomega.HaveOccurred(), string(out))
	header := strings.Fields(strings.SplitN(string(out), "\n", 2)[0])
	g.Expect(header).To(gomega.Equal([]string{"NAME", "PHASE", "PROGRESS", "MESSAGE", "AGE", "ETA", "RATE", "ATTEMPTS", "JOB"}))
}

func TestFailedTaskSaysWhy(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).Obj()
	job, start := startTask(t, task)

	// Plain text, as the kubelet writes the end of the log when the worker could not write its message.
	pod := testutil.ControlledBy(testutil.TerminatedPod("resize-abcde", ns, "resize", 3, "Error", "the program exited with code 3\ndisk full: /data\n", time.Now()), job)
	status := pod.Status
	create(t, pod) // creating a pod drops its status, as the kubelet sets it later
	pod.Status = status
	if err := k8sClient.Status().Update(context.Background(), pod); err != nil {
		t.Fatalf("setting the pod's status: %v", err)
	}
	setJobStatus(t, testutil.FromJob(job).Started(start).Failed(time.Now(), "BackoffLimitExceeded", "Job has reached the specified backoff limit", 1).Obj())

	got := eventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
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
	g.Expect(kubectl(ns, "wait", "--for=condition=Failed", "--timeout=10s", "longtask/resize").Run()).To(gomega.Succeed())
}

func TestCancelStopsTheTask(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).Obj()
	job, start := startTask(t, task)
	workerReports(t, task, progressPatch(5, 25, ""))
	eventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseRunning))
	})

	out, err := kubectl(ns, "patch", "lt", "resize", "--type", "merge", "-p", `{"spec":{"cancel":true}}`).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl patch: %v\n%s", err, out)
	}
	// The Job controller stops the pods of a suspended Job gracefully; that is how a task is cancelled.
	gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(job), job)).To(gomega.Succeed())
		g.Expect(job.Spec.Suspend).To(gomega.Equal(ptr.To(true)))
	}, timeout, interval).Should(gomega.Succeed())
	setJobStatus(t, testutil.FromJob(job).Started(start).Stopped().Obj())

	got := eventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseCancelled))
		g.Expect(meta.IsStatusConditionTrue(got.Status.Conditions, longtaskv1.ConditionCancelled)).To(gomega.BeTrue())
	})
	gomega.NewWithT(t).Expect(got.Status.Progress.Summary).To(gomega.Equal("5/25 (20%)"), "the last progress is kept")
}

func TestCancelBeforeStartCreatesNoJob(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).Cancel().Obj()
	create(t, task)
	eventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseCancelled))
	})
	err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(task), &batchv1.Job{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("getting the Job of a task cancelled before it started: %v, want NotFound", err)
	}
}

func TestFinishedTaskIsDeletedAfterItsTTL(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).TTL(1).Obj()
	create(t, task)
	job := waitForJob(t, task)
	setJobStatus(t, testutil.FromJob(job).Started(time.Now()).Succeeded(time.Now()).Obj())

	gomega.NewWithT(t).Eventually(func() error {
		return k8sClient.Get(context.Background(), client.ObjectKeyFromObject(task), &longtaskv1.LongTask{})
	}, timeout, interval).Should(gomega.Satisfy(apierrors.IsNotFound), "the task outlived its ttlSecondsAfterFinished")
}

func TestTaskWithoutTTLIsKept(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).Obj()
	create(t, task)
	job := waitForJob(t, task)
	setJobStatus(t, testutil.FromJob(job).Started(time.Now()).Succeeded(time.Now()).Obj())
	eventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseSucceeded))
	})
	gomega.NewWithT(t).Consistently(func() error {
		return k8sClient.Get(context.Background(), client.ObjectKeyFromObject(task), &longtaskv1.LongTask{})
	}, 2*time.Second, 100*time.Millisecond).Should(gomega.Succeed())
}

// progressPatch is the status patch of a worker reporting current of total steps.
func progressPatch(current, total int64, message string) string {
	return fmt.Sprintf(`{"status":{"progress":{"current":%d,"total":%d,"percent":%d,"summary":%q,"message":%q}}}`,
		current, total, longtaskv1.Percent(current, total), longtaskv1.Summary(current, total), message)
}

// workerReports merge-patches status as the worker does.
func workerReports(t *testing.T, task *longtaskv1.LongTask, patch string) {
	t.Helper()
	obj := &longtaskv1.LongTask{ObjectMeta: metav1.ObjectMeta{Name: task.Name, Namespace: task.Namespace}}
	if err := k8sClient.Status().Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatalf("patching status as the worker: %v", err)
	}
}

// kubectl runs kubectl against the test API server in a namespace.
func kubectl(namespace string, args ...string) *exec.Cmd {
	return exec.Command("kubectl", append([]string{"--kubeconfig", kubeconfig, "--namespace", namespace}, args...)...)
}

func TestJobNameTakenBySomeoneElse(t *testing.T) {
	ns := newNamespace(t)
	foreign := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "resize", Namespace: ns},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Containers:    []corev1.Container{{Name: "main", Image: "busybox", Command: []string{"true"}}},
		}}},
	}
	create(t, foreign)
	task := testutil.MakeLongTask("resize", ns).Obj()
	create(t, task)

	eventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhasePending))
		cond := meta.FindStatusCondition(got.Status.Conditions, longtaskv1.ConditionRunning)
		g.Expect(cond).NotTo(gomega.BeNil())
		g.Expect(cond.Reason).To(gomega.Equal("JobConflict"))
		g.Expect(cond.Message).To(gomega.ContainSubstring("Job resize already exists and does not belong to this LongTask"))
	})
	job := &batchv1.Job{}
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(foreign), job); err != nil {
		t.Fatal(err)
	}
	if len(job.OwnerReferences) != 0 || job.Spec.Template.Spec.Containers[0].Name != "main" {
		t.Errorf("the controller changed a Job that is not its own: %+v", job.ObjectMeta)
	}
}

func TestQueuedTaskWaitsForKueueAndIsNeverFought(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("queued", ns).Label(longtaskv1.LabelQueueName, "batch").Obj()
	create(t, task)
	job := waitForJob(t, task)
	g := gomega.NewWithT(t)
	g.Expect(job.Labels).To(gomega.HaveKeyWithValue(longtaskv1.LabelQueueName, "batch"))
	g.Expect(job.Spec.Suspend).To(gomega.Equal(ptr.To(true)), "a queued Job starts suspended, for Kueue to admit")
	eventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhasePending))
		g.Expect(meta.FindStatusCondition(got.Status.Conditions, longtaskv1.ConditionRunning).Reason).To(gomega.Equal("JobSuspended"))
	})

	// Kueue admits the Job by unsuspending it; the controller must leave it so.
	g.Expect(k8sClient.Patch(context.Background(), job, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"suspend":false}}`)))).To(gomega.Succeed())
	setJobStatus(t, testutil.FromJob(job).Started(time.Now()).Ready().Obj())
	eventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseRunning))
	})
	// Kueue preempts it by suspending it again; the controller must not undo that either.
	g.Expect(k8sClient.Patch(context.Background(), job, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"suspend":true}}`)))).To(gomega.Succeed())
	g.Consistently(func(g gomega.Gomega) {
		got := &batchv1.Job{}
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(job), got)).To(gomega.Succeed())
		g.Expect(got.Spec.Suspend).To(gomega.Equal(ptr.To(true)))
	}, 2*time.Second, 100*time.Millisecond).Should(gomega.Succeed(), "the controller changed a Job that Kueue suspended")
}

func TestATaskFromTheGoClientGetsItsDefaults(t *testing.T) {
	ns := newNamespace(t)
	// Only what is required, as a Go program using the API types would write it.
	task := &longtaskv1.LongTask{
		ObjectMeta: metav1.ObjectMeta{Name: "minimal", Namespace: ns},
		Spec:       longtaskv1.LongTaskSpec{TaskSpec: longtaskv1.TaskSpec{Command: []string{"resize"}}},
	}
	create(t, task)
	g := gomega.NewWithT(t)
	job := waitForJob(t, task)
	g.Expect(job.Spec.Template.Spec.Containers[0].Env).To(gomega.ContainElement(corev1.EnvVar{Name: "LONGTASK_PROGRESS_INTERVAL", Value: "1s"}))
}
