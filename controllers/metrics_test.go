package controllers

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/event"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// taskLife plays one task through the statuses the controller computes as its Job moves on, handing each
// change to the metrics as the watch would.
type taskLife struct {
	metrics *TaskMetrics
	task    *longtaskv1.LongTask
}

func newTaskLife(task *longtaskv1.LongTask) *taskLife {
	return &taskLife{metrics: NewTaskMetrics(), task: task}
}

// change applies a change to the task and lets the metrics see it.
func (l *taskLife) change(apply func(task *longtaskv1.LongTask)) {
	old := l.task.DeepCopy()
	apply(l.task)
	l.metrics.observe(old, l.task)
}

// jobIs recomputes the task's status from its Job (nil: none) and the Job's pods, as a reconcile does.
func (l *taskLife) jobIs(job *batchv1.Job, now time.Time, pods ...corev1.Pod) {
	l.change(func(task *longtaskv1.LongTask) {
		task.Status = computeStatus(task, observed{job: job, pods: pods, now: now}).status
	})
}

// workerReports writes progress as the worker does.
func (l *taskLife) workerReports(current, total int64) {
	l.change(func(task *longtaskv1.LongTask) {
		task.Status.Progress = &longtaskv1.Progress{Current: current, Total: total, Summary: longtaskv1.Summary(current, total)}
	})
}

// histogram returns the count and sum of one histogram series.
func histogram(t *testing.T, vec *prometheus.HistogramVec, labels ...string) (uint64, float64) {
	t.Helper()
	m := &dto.Metric{}
	if err := vec.WithLabelValues(labels...).(prometheus.Metric).Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
}

// value returns a counter's value.
func value(t *testing.T, counter prometheus.Counter) float64 {
	t.Helper()
	m := &dto.Metric{}
	if err := counter.Write(m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// seriesCount is how many series a collector has.
func seriesCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	n := 0
	for range ch {
		n++
	}
	return n
}

// exposition is what a scrape of the collector alone returns, in Prometheus' text format.
func exposition(t *testing.T, c prometheus.Collector) string {
	t.Helper()
	registry := prometheus.NewPedanticRegistry()
	registry.MustRegister(c)
	families, err := registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for _, family := range families {
		if _, err := expfmt.MetricFamilyToText(&out, family); err != nil {
			t.Fatal(err)
		}
	}
	return out.String()
}

func TestMetricsOfATaskThatSucceeds(t *testing.T) {
	created := time.Now().Add(-3 * time.Hour)
	task := testutil.MakeLongTask("resize", "photos").Obj()
	task.CreationTimestamp = metav1.NewTime(created)
	life := newTaskLife(task)
	job := testutil.MakeJob("resize", "photos").Obj()
	started := time.Now().Add(-2 * time.Hour)

	life.jobIs(nil, created)
	life.jobIs(job, created)
	life.jobIs(testutil.FromJob(job).Started(started).Ready().Obj(), time.Now())
	life.workerReports(1, 25)
	life.workerReports(1, 25) // a report that changes nothing is no change
	life.workerReports(2, 25)
	life.jobIs(testutil.FromJob(job).Started(started).Succeeded(started.Add(90*time.Minute)).Obj(), time.Now())
	life.jobIs(testutil.FromJob(job).Started(started).Succeeded(started.Add(90*time.Minute)).Obj(), time.Now())

	m := life.metrics
	if count, sum := histogram(t, m.createToRunning, "photos"); count != 1 || sum < 3*3600-60 || sum > 3*3600+60 {
		t.Errorf("create→running: %d observations summing to %gs, want one of about 3h (created 3h ago, Running now)", count, sum)
	}
	if got := value(t, m.progressUpdates.WithLabelValues("photos")); got != 2 {
		t.Errorf("progress updates observed: %g, want 2 (the worker's two changes; success filling the bar is not one)", got)
	}
	if count, sum := histogram(t, m.duration, "photos", "Succeeded"); count != 1 || sum != 90*60 {
		t.Errorf("duration of succeeded tasks: %d observations summing to %gs, want one of 5400s (the Job's start to its completion)", count, sum)
	}
	if got := seriesCount(m.failures); got != 0 {
		t.Errorf("%d failure series for a task that succeeded, want none", got)
	}
}

func TestMetricsCountFailuresByReason(t *testing.T) {
	started := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	madeUp := testutil.TerminatedPod("resize-a", "photos", "resize", 1, "Error", `{"reason":"PrintedByTheTask","message":"no"}`, started)
	cases := map[string]struct {
		failedJob  *batchv1.Job
		pods       []corev1.Pod
		wantReason string
	}{
		"the Job's deadline": {
			failedJob:  testutil.MakeJob("resize", "photos").Started(started).Failed(started.Add(time.Hour), batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline", 1).Obj(),
			wantReason: "DeadlineExceeded",
		},
		"a non-zero exit": {
			failedJob:  testutil.MakeJob("resize", "photos").Started(started).Failed(started.Add(time.Hour), batchv1.JobReasonBackoffLimitExceeded, "", 1).Obj(),
			pods:       []corev1.Pod{*testutil.TerminatedPod("resize-a", "photos", "resize", 1, "Error", "", started.Add(time.Hour))},
			wantReason: string(longtaskv1.FailureReasonTaskFailed),
		},
		"a pod lost before it said how it ended": {
			failedJob:  testutil.MakeJob("resize", "photos").Started(started).Failed(started.Add(time.Hour), batchv1.JobReasonBackoffLimitExceeded, "", 1).Obj(),
			wantReason: string(longtaskv1.FailureReasonPodLost),
		},
		"a reason the worker never writes, printed by the task into its termination message": {
			failedJob:  testutil.MakeJob("resize", "photos").Started(started).Failed(started.Add(time.Hour), batchv1.JobReasonBackoffLimitExceeded, "", 1).Obj(),
			pods:       []corev1.Pod{*madeUp},
			wantReason: string(longtaskv1.FailureReasonTaskFailed),
		},
		"a Job's reason outside the documented set": {
			failedJob:  testutil.MakeJob("resize", "photos").Started(started).Failed(started.Add(time.Hour), "ANewJobReason", "", 1).Obj(),
			wantReason: otherReason,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			life := newTaskLife(testutil.MakeLongTask("resize", "photos").Obj())
			life.jobIs(testutil.MakeJob("resize", "photos").Started(started).Ready().Obj(), started)
			life.jobIs(tc.failedJob, started.Add(time.Hour), tc.pods...)
			life.jobIs(tc.failedJob, started.Add(2*time.Hour), tc.pods...)

			m := life.metrics
			if got := value(t, m.failures.WithLabelValues("photos", tc.wantReason)); got != 1 {
				t.Errorf("failures{reason=%q} %g, want 1", tc.wantReason, got)
			}
			if got := seriesCount(m.failures); got != 1 {
				t.Errorf("%d failure series, want 1", got)
			}
			if count, sum := histogram(t, m.duration, "photos", "Failed"); count != 1 || sum != 3600 {
				t.Errorf("duration of failed tasks: %d observations summing to %gs, want one of 3600s", count, sum)
			}
		})
	}
}

// A task whose Job is suspended while it runs (Kueue preempts it) waits again and runs again: it was created
// once, so create→running is observed once.
func TestMetricsObserveCreateToRunningOnce(t *testing.T) {
	now := time.Now()
	life := newTaskLife(testutil.MakeLongTask("resize", "photos").Obj())
	job := testutil.MakeJob("resize", "photos").Obj()
	life.jobIs(job, now)
	life.jobIs(testutil.FromJob(job).Started(now).Ready().Obj(), now)
	life.jobIs(testutil.FromJob(job).Suspend().Started(now).Stopped().Obj(), now)
	life.jobIs(testutil.FromJob(job).Started(now).Ready().Obj(), now)
	if life.task.Status.Phase != longtaskv1.PhaseRunning {
		t.Fatalf("the task is %s, want Running again", life.task.Status.Phase)
	}
	if count, _ := histogram(t, life.metrics.createToRunning, "photos"); count != 1 {
		t.Errorf("create→running observed %d times, want once", count)
	}
	if len(life.metrics.ran) != 1 {
		t.Errorf("%d running tasks remembered, want 1", len(life.metrics.ran))
	}
	life.jobIs(testutil.FromJob(job).Started(now).Succeeded(now).Obj(), now)
	if len(life.metrics.ran) != 0 {
		t.Errorf("%d tasks remembered after the only one finished, want none: memory would grow with every task", len(life.metrics.ran))
	}
}

// A task cancelled before it started never ran: it has no duration.
func TestMetricsOfATaskCancelledBeforeItStarted(t *testing.T) {
	life := newTaskLife(testutil.MakeLongTask("resize", "photos").Cancel().Obj())
	life.jobIs(nil, time.Now())
	if life.task.Status.Phase != longtaskv1.PhaseCancelled {
		t.Fatalf("the task is %s, want Cancelled", life.task.Status.Phase)
	}
	if got := seriesCount(life.metrics.duration) + seriesCount(life.metrics.createToRunning); got != 0 {
		t.Errorf("%d duration or create→running series for a task that never ran, want none", got)
	}
}

func TestReconcileCountsTheJobsItCreates(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	task := testutil.MakeLongTask("resize", "photos").Obj()
	r, _, _ := newTestReconciler(t, now, task)
	r.Metrics = NewTaskMetrics()
	reconcileTask(t, r, task)
	reconcileTask(t, r, task) // the Job exists: nothing to create
	if got := value(t, r.Metrics.jobsCreated.WithLabelValues("photos")); got != 1 {
		t.Errorf("Jobs created: %g, want 1", got)
	}
}

func fakeReader(t *testing.T, objs ...client.Object) client.Reader {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
}

func TestStateCollectorCountsTasksByPhaseAndShowsTheBudget(t *testing.T) {
	reader := fakeReader(t,
		testutil.MakeLongTask("new", "photos").Obj(), // not reconciled yet: no phase
		testutil.MakeLongTask("a", "photos").Phase(longtaskv1.PhaseRunning).Obj(),
		testutil.MakeLongTask("b", "photos").Phase(longtaskv1.PhaseRunning).Obj(),
		testutil.MakeLongTask("c", "photos").Phase(longtaskv1.PhaseSucceeded).Obj(),
		testutil.MakeLongTask("d", "videos").Phase(longtaskv1.PhaseFailed).Obj(),
	)
	elected := make(chan struct{})
	collector := &stateCollector{cache: reader, budget: NewWriteBudget(reader, 1, clock.RealClock{}), elected: elected}

	if got := seriesCount(collector); got != 0 {
		t.Errorf("a manager that is not the leader reports %d series, want none (the leader reports them)", got)
	}
	close(elected)
	// 3 unfinished tasks sharing 1 write a second: each writes every 3s, rounded up to 4s.
	want := `# HELP longtask_progress_write_budget_interval_seconds The progress write interval the write budget imposes on every unfinished task; 0 when the budget lets each task keep its own spec.progressInterval (default 1s). A task's status.effectiveProgressInterval is the larger of the two.
# TYPE longtask_progress_write_budget_interval_seconds gauge
longtask_progress_write_budget_interval_seconds 4
# HELP longtask_progress_write_budget_writes_per_second The manager's --progress-write-budget: progress writes per second that all tasks together may make; 0 for no limit.
# TYPE longtask_progress_write_budget_writes_per_second gauge
longtask_progress_write_budget_writes_per_second 1
# HELP longtask_tasks LongTasks in the manager's cache, by namespace and status.phase (a task not yet reconciled counts as Pending).
# TYPE longtask_tasks gauge
longtask_tasks{namespace="photos",phase="Cancelled"} 0
longtask_tasks{namespace="photos",phase="Failed"} 0
longtask_tasks{namespace="photos",phase="Pending"} 1
longtask_tasks{namespace="photos",phase="Running"} 2
longtask_tasks{namespace="photos",phase="Succeeded"} 1
longtask_tasks{namespace="videos",phase="Cancelled"} 0
longtask_tasks{namespace="videos",phase="Failed"} 1
longtask_tasks{namespace="videos",phase="Pending"} 0
longtask_tasks{namespace="videos",phase="Running"} 0
longtask_tasks{namespace="videos",phase="Succeeded"} 0
`
	if diff := cmp.Diff(want, exposition(t, collector)); diff != "" {
		t.Errorf("the scrape (-want,+got):\n%s", diff)
	}
}

// Two reconcilers in one process, as two managers in one test, register the LongTask metrics each on the
// registry it was given, and each counts only what it did.
func TestReconcilersRegisterTheirMetricsOnTheirOwnRegistries(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mapper := apimeta.NewDefaultRESTMapper(nil)
	for _, kind := range []string{"LongTask", "LongTaskTemplate"} {
		mapper.Add(longtaskv1.GroupVersion.WithKind(kind), apimeta.RESTScopeNamespace)
	}
	mapper.Add(batchv1.SchemeGroupVersion.WithKind("Job"), apimeta.RESTScopeNamespace)
	var reconcilers []*LongTaskReconciler
	var registries []*prometheus.Registry
	for range 2 {
		// A manager that is never started: setting up needs no API server.
		mgr, err := ctrl.NewManager(&rest.Config{Host: "https://127.0.0.1:1"}, ctrl.Options{
			Scheme:                 scheme,
			MapperProvider:         func(*rest.Config, *http.Client) (apimeta.RESTMapper, error) { return mapper, nil },
			Metrics:                metricsserver.Options{BindAddress: "0"},
			HealthProbeBindAddress: "0",
			Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
		})
		if err != nil {
			t.Fatal(err)
		}
		registry := prometheus.NewPedanticRegistry()
		r := NewLongTaskReconciler(mgr, ReconcilerOptions{MaxConcurrentReconciles: 1, Registry: registry})
		if err := r.SetupWithManager(mgr); err != nil {
			t.Fatalf("setting up reconciler %d: %v", len(reconcilers)+1, err)
		}
		reconcilers, registries = append(reconcilers, r), append(registries, registry)
	}

	reconcilers[0].Metrics.jobCreated("photos")

	for i, want := range []float64{1, 0} {
		families, err := registries[i].Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := 0.0
		for _, family := range families {
			if family.GetName() == "longtask_jobs_created_total" {
				for _, m := range family.GetMetric() {
					got += m.GetCounter().GetValue()
				}
			}
		}
		if got != want {
			t.Errorf("reconciler %d's registry counts %g Jobs created, want %g", i+1, got, want)
		}
	}
}

// metricNames are the names of the metrics the LongTask controller registers, histograms with their
// _bucket, _sum and _count series.
func metricNames(t *testing.T) map[string]bool {
	t.Helper()
	reader := fakeReader(t)
	collectors := append(NewTaskMetrics().Collectors(), &stateCollector{cache: reader, budget: NewWriteBudget(reader, 0, clock.RealClock{})})
	names := map[string]bool{}
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for _, c := range collectors {
		descs := make(chan *prometheus.Desc, 10)
		c.Describe(descs)
		close(descs)
		for d := range descs {
			name := fqName.FindStringSubmatch(d.String())[1]
			for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
				names[name+suffix] = true
			}
		}
	}
	return names
}

// The dashboard charts only metrics the manager has: a renamed metric breaks this test, not a panel in
// someone's Grafana. (The integration test checks the controller-runtime metrics it charts against a scrape.)
func TestDashboardChartsLongTaskMetrics(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "config", "grafana", "longtask-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name, Type string
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title      string `json:"title"`
			Type       string `json:"type"`
			Datasource struct {
				UID string `json:"uid"`
			} `json:"datasource"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatalf("the dashboard is not valid JSON: %v", err)
	}
	if dashboard.Title == "" || dashboard.UID == "" {
		t.Errorf("the dashboard has no title or uid")
	}
	hasDatasource := false
	for _, v := range dashboard.Templating.List {
		hasDatasource = hasDatasource || (v.Name == "DS_PROMETHEUS" && v.Type == "datasource")
	}
	if !hasDatasource {
		t.Error("the dashboard has no datasource variable DS_PROMETHEUS, so importing it cannot pick the Prometheus")
	}

	ours := metricNames(t)
	charted := map[string]bool{}
	name := regexp.MustCompile(`\blongtask_[a-z_]+`)
	for _, panel := range dashboard.Panels {
		if panel.Type == "row" {
			continue
		}
		if panel.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("panel %q queries datasource %q, want ${DS_PROMETHEUS}", panel.Title, panel.Datasource.UID)
		}
		if len(panel.Targets) == 0 {
			t.Errorf("panel %q has no query", panel.Title)
		}
		for _, target := range panel.Targets {
			for _, metric := range name.FindAllString(target.Expr, -1) {
				charted[strings.TrimSuffix(metric, "_")] = true
				if !ours[metric] {
					t.Errorf("panel %q charts %s, which the manager does not have", panel.Title, metric)
				}
			}
		}
	}
	for metric := range ours {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(metric, "_bucket"), "_sum"), "_count")
		if metric == base && !charted[metric] && !charted[metric+"_bucket"] && !charted[metric+"_count"] {
			t.Errorf("the dashboard charts nothing of %s", metric)
		}
	}
}

// The reconciler's metrics reach an event handler that never queues work: the controller's own watch does.
func TestMetricsEventHandlerObservesUpdatesAndForgetsDeletedTasks(t *testing.T) {
	m := NewTaskMetrics()
	h := m.eventHandler()
	old := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhasePending).Obj()
	running := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Obj()
	h.Update(context.Background(), updateEvent(old, running), nil)
	if count, _ := histogram(t, m.createToRunning, "photos"); count != 1 {
		t.Errorf("create→running observed %d times after the task became Running, want 1", count)
	}
	h.Delete(context.Background(), deleteEvent(running), nil)
	if len(m.ran) != 0 {
		t.Errorf("a deleted task is still remembered: %v", m.ran)
	}
	// A task of the same name created again is a new task, with a new UID.
	again := running.DeepCopy()
	again.UID = types.UID("another")
	h.Update(context.Background(), updateEvent(old, again), nil)
	if count, _ := histogram(t, m.createToRunning, "photos"); count != 2 {
		t.Errorf("create→running observed %d times after a second task ran, want 2", count)
	}
}

func updateEvent(old, task *longtaskv1.LongTask) event.UpdateEvent {
	return event.UpdateEvent{ObjectOld: old, ObjectNew: task}
}

func deleteEvent(task *longtaskv1.LongTask) event.DeleteEvent { return event.DeleteEvent{Object: task} }

// docs/metrics.md names the reasons longtask_task_failures_total counts, and only those: it said Exited,
// which no task fails with, and four of the Job controller's that no LongTask's Job gives.
func TestMetricsDocsNameTheFailureReasons(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `longtask_task_failures_total` .*$").Find(data)
	if row == nil {
		t.Fatal("docs/metrics.md has no row for longtask_task_failures_total")
	}
	// The cells: name, type, labels, what it counts, when.
	counts := strings.Split(string(row), "|")[4]
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([A-Z][A-Za-z]+)`").FindAllStringSubmatch(counts, -1) {
		named[m[1]] = true
	}
	want := map[string]bool{otherReason: true}
	for _, reason := range longtaskv1.FailureReasons() {
		want[string(reason)] = true
	}
	if diff := cmp.Diff(want, named); diff != "" {
		t.Errorf("reasons docs/metrics.md names (-want,+got):\n%s", diff)
	}
}
