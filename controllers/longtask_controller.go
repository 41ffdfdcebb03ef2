// Package controllers reconciles LongTasks into Jobs and keeps their status true to the world.
package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// LongTaskReconciler runs each LongTask as a Job and keeps the LongTask's status in step with it.
type LongTaskReconciler struct {
	client.Client
	// APIReader reads pods straight from the API server: they are needed only when a task fails, which
	// does not justify caching every pod in the cluster.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	Options   JobOptions
	// Budget spreads the cluster-wide progress write budget over the running tasks.
	Budget *WriteBudget
	// Metrics count what happens to tasks; nil counts nothing.
	Metrics *TaskMetrics

	concurrency int
	registry    prometheus.Registerer
}

// ReconcilerOptions configure a LongTaskReconciler.
type ReconcilerOptions struct {
	// Job is what every task's Job is built with.
	Job JobOptions
	// ProgressWriteBudget is how many progress writes per second all running tasks together may make; 0
	// for no limit.
	ProgressWriteBudget float64
	// MaxConcurrentReconciles is how many tasks are reconciled at once (never the same task twice at
	// once); controller-runtime's 1 when 0.
	MaxConcurrentReconciles int
	// Clock tells the controller and its write budget the time (the budget counts the running tasks again
	// when it says recountEvery passed); the real clock when nil.
	Clock clock.PassiveClock
	// Registry is where the LongTask metrics are registered; controller-runtime's, which the manager
	// serves, when nil. Managers that run in one process (in tests) each need a registry of their own.
	Registry prometheus.Registerer
}

// NewLongTaskReconciler returns a reconciler that works through the manager's clients and event recorder.
func NewLongTaskReconciler(mgr ctrl.Manager, opts ReconcilerOptions) *LongTaskReconciler {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &LongTaskReconciler{
		Client:      mgr.GetClient(),
		APIReader:   mgr.GetAPIReader(),
		Recorder:    mgr.GetEventRecorder("longtask-controller"),
		Clock:       opts.Clock,
		Options:     opts.Job,
		Budget:      NewWriteBudget(mgr.GetClient(), opts.ProgressWriteBudget, opts.Clock),
		Metrics:     NewTaskMetrics(),
		concurrency: opts.MaxConcurrentReconciles,
		registry:    opts.Registry,
	}
}

// +kubebuilder:rbac:groups=longtask.dev,resources=longtasks,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups=longtask.dev,resources=longtasks/status,verbs=get;patch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",resources=pods,verbs=list;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one LongTask's Job and status in line with its spec.
func (r *LongTaskReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	task := &longtaskv1.LongTask{}
	if err := r.Get(ctx, req.NamespacedName, task); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !task.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	log := ctrl.LoggerFrom(ctx).WithValues("longtask", klog.KObj(task))
	ctx = ctrl.LoggerInto(ctx, log)

	// From here on, task's spec is what it runs: for a task with a templateRef, its resolved template.
	world, err := r.observe(ctx, task)
	if err != nil {
		return ctrl.Result{}, err
	}
	if expired, requeueAfter := ttlExpired(task, world.now); expired {
		return ctrl.Result{}, r.deleteExpired(ctx, task)
	} else if requeueAfter > 0 {
		return ctrl.Result{RequeueAfter: requeueAfter}, nil
	}

	d := computeStatus(task, world)
	if err := r.stopJobIfNeeded(ctx, d.stopJob, world.job); err != nil {
		return ctrl.Result{}, err
	}
	if err := r.updateStatusIfChanged(ctx, task, d); apierrors.IsConflict(err) {
		// The task changed after the copy this pass read: the watch brings the newer copy back, and the next
		// pass decides again from it. Nothing was written, so no Event is due.
		return ctrl.Result{}, nil
	} else if err != nil {
		return ctrl.Result{}, err
	}
	lookForStuckPods, err := r.deleteStuckPods(ctx, task, world.job, world.now)
	if err != nil {
		return ctrl.Result{}, err
	}
	if world.conflict != nil && !task.Status.Phase.Finished() {
		// Someone else's Job, or worker's account, Role or binding, has the name the task needs: look again
		// now and then, since deleting that object raises no event for this task.
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	if _, requeueAfter := ttlExpired(task, world.now); requeueAfter > 0 {
		return ctrl.Result{RequeueAfter: requeueAfter}, nil
	}
	// Come back when the progress deadline would pass; a progress report meanwhile brings the task back
	// sooner, through the status change it makes.
	return ctrl.Result{RequeueAfter: soonest(untilStalled(task, world.now), lookForStuckPods)}, nil
}

// soonest is the shortest of durations that are not 0, or 0.
func soonest(durations ...time.Duration) time.Duration {
	var d time.Duration
	for _, next := range durations {
		if next > 0 && (d == 0 || next < d) {
			d = next
		}
	}
	return d
}

// observe gathers what the controller sees of the task's world in one pass, for computeStatus: the time,
// the write interval the budget leaves each task, what came of the task's template, the task's Job, and,
// when the Job failed, its pods. It makes task.Spec.TaskSpec, in memory only, what the task runs (for a task
// that names a template, the template as resolved). Its one change to the world is the task's Job, with its
// worker's access, for a task that may run and has none: status is computed from the Job as created.
func (r *LongTaskReconciler) observe(ctx context.Context, task *longtaskv1.LongTask) (observed, error) {
	world := observed{now: r.Clock.Now(), sharedInterval: r.Budget.Interval(ctx)}
	if err := r.observeTemplate(ctx, task, &world); err != nil {
		return world, err
	}
	if needsTemplate(task) {
		// The Job comes once status.resolvedTask is stored, so that the two always agree.
		return world, nil
	}
	job, err := r.reconcileJob(ctx, task)
	if err != nil && !errors.As(err, &world.conflict) && !errors.As(err, &world.templateChanged) {
		return world, err
	}
	world.job = job
	if job != nil && jobCondition(job, batchv1.JobFailed) && !task.Status.Phase.Finished() {
		if world.pods, err = r.taskPods(ctx, task, job); err != nil {
			return world, err
		}
	}
	return world, nil
}

// reconcileJob makes sure the task has its Job, unless it is finished or cancelled, and returns it, or nil.
func (r *LongTaskReconciler) reconcileJob(ctx context.Context, task *longtaskv1.LongTask) (*batchv1.Job, error) {
	job := &batchv1.Job{}
	err := r.Get(ctx, client.ObjectKey{Namespace: task.Namespace, Name: jobName(task)}, job)
	switch {
	case apierrors.IsNotFound(err):
		if task.Status.Phase.Finished() || task.Spec.Cancel {
			return nil, nil
		}
		return r.createJob(ctx, task)
	case err != nil:
		return nil, fmt.Errorf("getting Job: %w", err)
	}
	return checkJob(task, job)
}

// checkJob makes sure the Job is the task's own.
func checkJob(task *longtaskv1.LongTask, job *batchv1.Job) (*batchv1.Job, error) {
	if !metav1.IsControlledBy(job, task) {
		return nil, &nameTakenError{reason: ReasonJobConflict, kind: "Job", name: job.Name}
	}
	return job, nil
}

// stopJobIfNeeded suspends the Job when computeStatus decided that it must stop (the task was cancelled,
// failed its progress deadline, or finished while its Job runs again): the Job controller then stops its
// pod gracefully (SIGTERM, then SIGKILL after the grace period), and the Job stays for inspection. Its Event
// comes with the status that says so (recordChange), so that a pass that read a stale Job records none.
func (r *LongTaskReconciler) stopJobIfNeeded(ctx context.Context, why stopReason, job *batchv1.Job) error {
	if why == jobMayRun {
		return nil
	}
	patch := client.MergeFrom(job.DeepCopy())
	job.Spec.Suspend = ptr.To(true)
	if err := r.Patch(ctx, job, patch, client.FieldOwner(longtaskv1.ControllerFieldOwner)); err != nil {
		return fmt.Errorf("suspending the Job to stop the task: %w", err)
	}
	return nil
}

func (r *LongTaskReconciler) createJob(ctx context.Context, task *longtaskv1.LongTask) (*batchv1.Job, error) {
	if err := r.checkResolvedTask(ctx, task); err != nil {
		return nil, err
	}
	if err := r.createWorkerAccess(ctx, task); err != nil {
		return nil, err
	}
	job := constructJob(task, r.Options)
	if err := ctrl.SetControllerReference(task, job, r.Scheme()); err != nil {
		return nil, fmt.Errorf("setting the Job's owner: %w", err)
	}
	err := r.Create(ctx, job, client.FieldOwner(longtaskv1.ControllerFieldOwner))
	if apierrors.IsAlreadyExists(err) {
		// Either the cache has not seen our own Job yet, or the name is taken by a Job the cache leaves
		// out because it is not a LongTask's: ask the API server which.
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return nil, fmt.Errorf("getting the existing Job: %w", err)
		}
		return checkJob(task, job)
	}
	if err != nil {
		return nil, fmt.Errorf("creating Job: %w", err)
	}
	ctrl.LoggerFrom(ctx).V(2).Info("Created Job", "job", klog.KObj(job))
	r.Metrics.jobCreated(task.Namespace)
	r.Recorder.Eventf(task, job, corev1.EventTypeNormal, ReasonJobCreated, "CreateJob", "Created Job %s", job.Name)
	return job, nil
}

// taskPods lists the task's pods: for the exit code and termination message of a failed task, and to
// find a pod its kubelet will not start. A task's pods are the ones its Job controls. The label only
// narrows the list: anyone who may create pods in the namespace can give a pod the label, and with it a
// termination message of their choosing, and an earlier Job with the task's name leaves pods with it too.
func (r *LongTaskReconciler) taskPods(ctx context.Context, task *longtaskv1.LongTask, job *batchv1.Job) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := r.APIReader.List(ctx, pods, client.InNamespace(task.Namespace),
		client.MatchingLabels{longtaskv1.LabelTaskName: task.Name}); err != nil {
		return nil, fmt.Errorf("listing the task's pods: %w", err)
	}
	return slices.DeleteFunc(pods.Items, func(pod corev1.Pod) bool { return !metav1.IsControlledBy(&pod, job) }), nil
}

// updateStatusIfChanged writes the controller's status fields with a merge patch, so that it never
// overwrites progress the worker wrote in the meantime, and then records the Events the change calls for.
// A change that Events announce (the phase, the conditions) or that must be made once (status.resolvedTask)
// is written only over the task as this pass read it, by a resourceVersion precondition: a pass that read a
// stale copy from the cache gets a conflict, and neither writes the change again nor records its Event
// twice. The controller's other fields (the Job's name, start, attempts) are written without it, so the
// worker's frequent progress writes cause no conflicts there.
// Only task's status and resourceVersion take what the API server returns: its spec stays as it is in
// memory, which for a task with a templateRef is the resolved template, not the stored spec.
func (r *LongTaskReconciler) updateStatusIfChanged(ctx context.Context, task *longtaskv1.LongTask, d decision) error {
	if equality.Semantic.DeepEqual(task.Status, d.status) {
		return nil
	}
	old := task.Status
	written := task.DeepCopy()
	written.Status = d.status
	patch := client.MergeFrom(task)
	if mustWriteOnce(old, d.status) {
		patch = client.MergeFromWithOptions(task, client.MergeFromWithOptimisticLock{})
	}
	if err := r.Status().Patch(ctx, written, patch, client.FieldOwner(longtaskv1.ControllerFieldOwner)); err != nil {
		return fmt.Errorf("updating status: %w", err)
	}
	task.Status, task.ResourceVersion = written.Status, written.ResourceVersion
	r.recordChange(task, old, d)
	return nil
}

// mustWriteOnce reports whether the change from old to status must be written once: a new phase or
// conditions, which recordChange announces, or the task's resolved template.
func mustWriteOnce(old, status longtaskv1.LongTaskStatus) bool {
	return old.Phase != status.Phase || !equality.Semantic.DeepEqual(old.Conditions, status.Conditions) ||
		!equality.Semantic.DeepEqual(old.ResolvedTask, status.ResolvedTask)
}

// recordChange records an Event when the task became blocked at a step, began to stop because it was
// cancelled, or changed phase: once per change, not on every pass that finds the task the same.
func (r *LongTaskReconciler) recordChange(task *longtaskv1.LongTask, old longtaskv1.LongTaskStatus, d decision) {
	was := meta.FindStatusCondition(old.Conditions, longtaskv1.ConditionRunning)
	is := meta.FindStatusCondition(task.Status.Conditions, longtaskv1.ConditionRunning)
	if is != nil && (was == nil || was.Reason != is.Reason || was.Message != is.Message) {
		switch {
		case d.blocked != "":
			r.Recorder.Eventf(task, nil, corev1.EventTypeWarning, is.Reason, d.blocked, "%s", is.Message)
		case d.cancelling:
			r.Recorder.Eventf(task, nil, corev1.EventTypeNormal, ReasonCancelling, "Cancel", "Stopping the task's pod")
		}
	}
	if task.Status.Phase == old.Phase {
		return
	}
	eventType := corev1.EventTypeNormal
	var reason, note string
	switch task.Status.Phase {
	case longtaskv1.PhaseRunning:
		reason, note = ReasonRunning, "The task started running"
	case longtaskv1.PhaseSucceeded:
		reason, note = ReasonCompleted, "The task completed"
	case longtaskv1.PhaseFailed:
		eventType, reason, note = corev1.EventTypeWarning, string(task.Status.Failure.Reason), task.Status.Failure.Message
	case longtaskv1.PhaseCancelled:
		reason, note = ReasonCancelled, "The task was cancelled"
	default:
		return
	}
	r.Recorder.Eventf(task, nil, eventType, reason, string(task.Status.Phase), "%s", note)
}

// conflictRetry is how often a task whose Job name, or worker's access name, is taken looks again.
const conflictRetry = 30 * time.Second

// nameTakenError says that the name of an object the task needs, its Job or its worker's ServiceAccount,
// Role or RoleBinding, is taken by an object of that kind that is not the task's.
type nameTakenError struct {
	// reason is the reason of the task's condition and Event: ReasonJobConflict or
	// ReasonWorkerAccessConflict.
	reason string
	// kind and name are the object's.
	kind, name string
}

func (e *nameTakenError) Error() string {
	return fmt.Sprintf("%s %s already exists and does not belong to this LongTask: delete it or give the task another name", e.kind, e.name)
}

// CacheOptions limits the manager's cache to the Jobs that belong to LongTasks, so that the cluster's other
// Jobs cost the manager no memory, and keeps no object's managedFields, which the controller never reads
// and which are a large part of each LongTask and Job (several writers each own fields). Of a Job it keeps
// neither the pod template: the controller writes the template once, when it creates the Job, and then
// reads only the Job's status, suspension and owner. With namespaces, the manager watches (and so
// reconciles) only the tasks, Jobs and templates in those; without, it watches every namespace.
func CacheOptions(namespaces ...string) cache.Options {
	owned, err := labels.NewRequirement(longtaskv1.LabelTaskName, selection.Exists, nil)
	if err != nil {
		panic(err) // The label key is a constant known to be valid.
	}
	stripManagedFields := cache.TransformStripManagedFields()
	var watched map[string]cache.Config
	for _, ns := range namespaces {
		if watched == nil {
			watched = map[string]cache.Config{}
		}
		watched[ns] = cache.Config{}
	}
	return cache.Options{
		DefaultNamespaces: watched,
		ByObject: map[client.Object]cache.ByObject{
			&batchv1.Job{}: {Label: labels.NewSelector().Add(*owned), Transform: func(obj any) (any, error) {
				if job, ok := obj.(*batchv1.Job); ok {
					job.Spec.Template = corev1.PodTemplateSpec{}
				}
				return stripManagedFields(obj)
			}},
		},
		DefaultTransform: stripManagedFields,
	}
}

func jobFinished(job *batchv1.Job) bool {
	return jobCondition(job, batchv1.JobComplete) || jobCondition(job, batchv1.JobFailed)
}

// SetupWithManager registers the reconciler: it watches LongTasks, the Jobs they own, and the
// LongTaskTemplates that tasks wait for, and reconciles up to MaxConcurrentReconciles tasks at once. It
// registers the LongTask metrics on the options' Registry, where a second reconciler's would be refused.
func (r *LongTaskReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &longtaskv1.LongTask{}, waitingForTemplateIndex, waitingForTemplate); err != nil {
		return fmt.Errorf("indexing the tasks that wait for a template: %w", err)
	}
	if r.Metrics == nil {
		r.Metrics = NewTaskMetrics()
	}
	state := &stateCollector{cache: mgr.GetCache(), budget: r.Budget, elected: mgr.Elected()}
	registry := r.registry
	if registry == nil {
		registry = metrics.Registry
	}
	if err := registerMetrics(registry, r.Metrics, state); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&longtaskv1.LongTask{}).
		Owns(&batchv1.Job{}).
		Watches(&longtaskv1.LongTaskTemplate{}, handler.EnqueueRequestsFromMapFunc(r.tasksWaitingFor)).
		// A second handler on the same watch, for the metrics: it sees each change of a task once.
		Watches(&longtaskv1.LongTask{}, r.Metrics.eventHandler()).
		Named("longtask").
		WithOptions(controller.Options{MaxConcurrentReconciles: r.concurrency}).
		Complete(r)
}
