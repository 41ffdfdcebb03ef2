package controllers

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// The manager's own metrics, beside controller-runtime's (reconciles, work queue, API client). docs/metrics.md
// describes each; config/grafana/longtask-dashboard.json charts them.
//
// Every series about tasks carries the task's namespace: a cluster runs tasks for several teams, and "whose
// tasks wait" is the first question. That costs about 80 series per namespace that has tasks (mostly the
// histograms' buckets), which is within what Prometheus takes for the namespaces of one cluster. Reasons are
// cut to a fixed set, so no task can add series by what it prints.

// Buckets for long tasks. Prometheus' default buckets stop at 10s, where long tasks begin: every task would
// land in +Inf. These go from seconds to hours (a day for durations), about doubling, on boundaries people
// ask about ("more than 5 minutes", "over an hour"), so that histogram_quantile is off by at most the width
// of one bucket.
var (
	// createToRunningBuckets: a task waits for its Job, then for a node, an image pull, maybe Kueue.
	createToRunningBuckets = []float64{1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600}
	// durationBuckets: long tasks run from seconds to many hours.
	durationBuckets = []float64{10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400}
)

// otherReason stands for any failure reason not in longtaskv1.FailureReasons: one the Job controller may
// add, or one a task's program wrote into its termination message, which the controller does not take.
const otherReason = "Other"

// TaskMetrics are the counters and histograms the controller moves as tasks change.
//
// They are observed in an event handler on the controller's watch of LongTasks, not where the controller
// writes status: the watch delivers each change the API server made once, in order, so a transition is
// counted once even when a reconcile that read a stale cache writes it a second time. The handler runs only
// in the elected manager (controller-runtime starts a controller's watches after it wins the election).
// After a restart or a change of leader, the new manager's watch starts from the tasks as they are: a task
// that finished while no manager ran is observed when the new manager writes its final phase, which it
// does on its first pass; a transition the old manager wrote just before it stopped, and whose watch event
// it never saw, is counted by neither (like the counts it had not yet been scraped for).
type TaskMetrics struct {
	jobsCreated     *prometheus.CounterVec
	failures        *prometheus.CounterVec
	progressUpdates *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	createToRunning *prometheus.HistogramVec

	mu sync.Mutex
	// ran holds the unfinished tasks whose create→running was observed, so that a task that goes back to
	// Pending (a Kueue preemption suspends its Job) and runs again is not observed twice. A task leaves it
	// when it finishes or is deleted.
	ran map[types.UID]struct{}
}

// NewTaskMetrics returns the metrics, not yet registered.
func NewTaskMetrics() *TaskMetrics {
	return &TaskMetrics{
		jobsCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "longtask_jobs_created_total",
			Help: "Jobs the controller created for LongTasks.",
		}, []string{"namespace"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "longtask_task_failures_total",
			Help: "LongTasks that failed, by status.failure.reason (" + otherReason + " for a reason outside the documented set).",
		}, []string{"namespace", "reason"}),
		progressUpdates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "longtask_progress_updates_observed_total",
			Help: "Changes of a LongTask's status.progress that the manager saw through its watch: the workers' progress writes.",
		}, []string{"namespace"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "longtask_task_duration_seconds",
			Help:    "How long finished LongTasks ran, from status.startTime (the Job's start) to status.completionTime, by final phase.",
			Buckets: durationBuckets,
		}, []string{"namespace", "outcome"}),
		createToRunning: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "longtask_task_create_to_running_seconds",
			Help:    "How long LongTasks waited from their creation until they were first Running (Job, scheduling, image pull, admission).",
			Buckets: createToRunningBuckets,
		}, []string{"namespace"}),
		ran: map[types.UID]struct{}{},
	}
}

// Collectors are the metrics, for a registry.
func (m *TaskMetrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.jobsCreated, m.failures, m.progressUpdates, m.duration, m.createToRunning}
}

// jobCreated counts a Job the controller created. A reconciler without metrics (in unit tests) counts
// nothing.
func (m *TaskMetrics) jobCreated(namespace string) {
	if m != nil {
		m.jobsCreated.WithLabelValues(namespace).Inc()
	}
}

// observe takes in one change of a task, as the watch delivered it.
func (m *TaskMetrics) observe(old, task *longtaskv1.LongTask) {
	oldStatus, status := &old.Status, &task.Status
	// Only the worker writes progress without a phase change; the controller changes progress only as it
	// finishes a task (success fills the bar), which is not a progress write.
	if oldStatus.Phase == status.Phase && !equality.Semantic.DeepEqual(oldStatus.Progress, status.Progress) {
		m.progressUpdates.WithLabelValues(task.Namespace).Inc()
	}
	if status.Phase == longtaskv1.PhaseRunning && oldStatus.Phase != longtaskv1.PhaseRunning && m.firstRun(task.UID) {
		m.createToRunning.WithLabelValues(task.Namespace).Observe(seconds(task.CreationTimestamp.Time, runningSince(task)))
	}
	if status.Phase.Finished() && !oldStatus.Phase.Finished() {
		if status.StartTime != nil && status.CompletionTime != nil {
			m.duration.WithLabelValues(task.Namespace, string(status.Phase)).Observe(seconds(status.StartTime.Time, status.CompletionTime.Time))
		}
		if status.Phase == longtaskv1.PhaseFailed {
			m.failures.WithLabelValues(task.Namespace, failureReason(status)).Inc()
		}
		m.forget(task.UID)
	}
}

// firstRun reports whether the task's create→running is still to be observed, and marks it observed.
func (m *TaskMetrics) firstRun(uid types.UID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.ran[uid]; ok {
		return false
	}
	m.ran[uid] = struct{}{}
	return true
}

func (m *TaskMetrics) forget(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.ran, uid)
}

// eventHandler observes the changes of LongTasks the watch delivers, and queues nothing.
func (m *TaskMetrics) eventHandler() handler.EventHandler {
	return handler.Funcs{
		UpdateFunc: func(_ context.Context, e event.UpdateEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			old, okOld := e.ObjectOld.(*longtaskv1.LongTask)
			task, ok := e.ObjectNew.(*longtaskv1.LongTask)
			if okOld && ok {
				m.observe(old, task)
			}
		},
		DeleteFunc: func(_ context.Context, e event.DeleteEvent, _ workqueue.TypedRateLimitingInterface[reconcile.Request]) {
			m.forget(e.Object.GetUID())
		},
	}
}

// runningSince is when the task last became Running, as its Running condition says.
func runningSince(task *longtaskv1.LongTask) time.Time {
	if c := meta.FindStatusCondition(task.Status.Conditions, longtaskv1.ConditionRunning); c != nil && !c.LastTransitionTime.IsZero() {
		return c.LastTransitionTime.Time
	}
	return time.Now()
}

// seconds is the time from start to end, never negative (the times come from different clocks).
func seconds(start, end time.Time) float64 {
	return max(end.Sub(start).Seconds(), 0)
}

func failureReason(status *longtaskv1.LongTaskStatus) string {
	if status.Failure == nil || !status.Failure.Reason.Known() {
		return otherReason
	}
	return string(status.Failure.Reason)
}

// collectTimeout bounds the cache reads of one scrape.
const collectTimeout = 10 * time.Second

var (
	tasksDesc = prometheus.NewDesc("longtask_tasks",
		"LongTasks in the manager's cache, by namespace and status.phase (a task not yet reconciled counts as Pending).",
		[]string{"namespace", "phase"}, nil)
	budgetIntervalDesc = prometheus.NewDesc("longtask_progress_write_budget_interval_seconds",
		"The progress write interval the write budget imposes on every unfinished task; 0 when the budget lets each "+
			"task keep its own spec.progressInterval (default 1s). A task's status.effectiveProgressInterval is the "+
			"larger of the two.",
		nil, nil)
	budgetDesc = prometheus.NewDesc("longtask_progress_write_budget_writes_per_second",
		"The manager's --progress-write-budget: progress writes per second that all tasks together may make; 0 for no limit.",
		nil, nil)
)

// stateCollector reports, at each scrape, the tasks by phase and the write budget, from the manager's cache.
// Counted when scraped, rather than kept up to date as tasks change, the numbers are true to the world: they
// need no bookkeeping of deletions, and are right from the first scrape after a restart.
type stateCollector struct {
	// cache is the manager's cache: counting the tasks costs no API call.
	cache  client.Reader
	budget *WriteBudget
	// elected is closed once this manager is the leader. Only the leader reports, so that the sum over
	// several replicas is the number of tasks.
	elected <-chan struct{}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- tasksDesc
	ch <- budgetIntervalDesc
	ch <- budgetDesc
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	select {
	case <-c.elected:
	default:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	tasks := &longtaskv1.LongTaskList{}
	// The count only reads phases, so the cache's objects need not be copied.
	if err := c.cache.List(ctx, tasks, client.UnsafeDisableDeepCopy); err != nil {
		ctrl.Log.WithName("metrics").Error(err, "Counting the tasks by phase; leaving longtask_tasks out of this scrape")
	} else {
		counts := map[string]map[longtaskv1.Phase]int{}
		for i := range tasks.Items {
			task := &tasks.Items[i]
			if counts[task.Namespace] == nil {
				counts[task.Namespace] = map[longtaskv1.Phase]int{}
			}
			counts[task.Namespace][task.Status.Phase.OrPending()]++
		}
		// Every phase of a namespace that has tasks, zeros included, so that a phase emptying shows as 0.
		for namespace, byPhase := range counts {
			for _, phase := range longtaskv1.Phases() {
				ch <- prometheus.MustNewConstMetric(tasksDesc, prometheus.GaugeValue, float64(byPhase[phase]), namespace, string(phase))
			}
		}
	}
	ch <- prometheus.MustNewConstMetric(budgetDesc, prometheus.GaugeValue, c.budget.WritesPerSecond())
	ch <- prometheus.MustNewConstMetric(budgetIntervalDesc, prometheus.GaugeValue, c.budget.Interval(ctx).Seconds())
}

// registerMetrics registers the task metrics and the state collector on registry.
func registerMetrics(registry prometheus.Registerer, m *TaskMetrics, state *stateCollector) error {
	for _, c := range append(m.Collectors(), state) {
		if err := registry.Register(c); err != nil {
			return fmt.Errorf("registering the LongTask metrics: %w", err)
		}
	}
	return nil
}

// MetricsServerOptions serves the manager's metrics on bindAddress ("0" turns them off). Secure, it serves
// HTTPS (with the certificate and key tls.crt and tls.key in certDir, watched for renewal, or a
// self-signed certificate when certDir has none) and lets in only callers whose bearer token the API server
// authenticates (TokenReview) and authorizes to get the non-resource URL /metrics (SubjectAccessReview), as
// kubebuilder's scaffold does; the longtask-metrics-reader ClusterRole grants that. Otherwise it serves
// plain HTTP to anyone, for a manager run on a laptop or by make bench.
func MetricsServerOptions(bindAddress string, secure bool, certDir string) metricsserver.Options {
	opts := metricsserver.Options{BindAddress: bindAddress, SecureServing: secure, CertDir: certDir}
	if secure {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
		// HTTP/1.1 only: HTTP/2's stream reset and rapid reset attacks (CVE-2023-44487) cost a server more
		// than a scrape gains from it.
		opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
	}
	return opts
}
