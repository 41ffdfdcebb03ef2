package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/yaml"

	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

// The manager serves its metrics over HTTPS only to a token that may get /metrics, as deployed.
func TestMetricsNeedATokenThatMayReadThem(t *testing.T) {
	t.Parallel()
	ns := fw.Namespace(t)
	address := framework.FreeAddress(t)
	fw.StartManager(t, manager.Options{WatchNamespaces: []string{ns}, MetricsBindAddress: address, MetricsSecure: true})
	url := "https://" + address + "/metrics"
	reader := metricsReaderToken(t, ns)
	// The manager starts serving in the background.
	framework.Eventually(t, func(g gomega.Gomega) {
		status, err := scrape(url, reader)
		g.Expect(err).NotTo(gomega.HaveOccurred())
		g.Expect(status).To(gomega.Equal(http.StatusOK))
	})
	cases := map[string]struct {
		token string
		want  int
	}{
		"no token": {token: "", want: http.StatusUnauthorized},
		"a ServiceAccount without the reader role":  {token: fw.Token(t, ns, "nobody"), want: http.StatusForbidden},
		"a ServiceAccount bound to the reader role": {token: reader, want: http.StatusOK},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got, err := scrape(url, tc.token); err != nil || got != tc.want {
				t.Errorf("scraping /metrics: status %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	t.Run("a token the API server did not issue", func(t *testing.T) {
		// controller-runtime's filter answers 500, not 401: its TokenReview authenticator reports an unknown
		// token as an error. What a user relies on is that it is refused.
		if got, err := scrape(url, "not-a-token"); err != nil || got == http.StatusOK {
			t.Errorf("scraping /metrics with a made-up token: status %d, %v; want a refusal", got, err)
		}
	})
}

// As tasks run, their series move: a user's dashboard follows them. The series are gathered from the
// manager's registry and controller-runtime's, which cmd/manager's endpoint serves together.
func TestMetricsFollowTasksAsTheyRun(t *testing.T) {
	t.Parallel()
	ns := fw.Namespace(t)
	m := fw.StartManager(t, manager.Options{WatchNamespaces: []string{ns}})
	eventuallyMetrics := func(t *testing.T, check func(g gomega.Gomega, series map[string]float64)) {
		t.Helper()
		framework.Eventually(t, func(g gomega.Gomega) {
			families, err := prometheus.Gatherers{m.Registry, metrics.Registry}.Gather()
			g.Expect(err).NotTo(gomega.HaveOccurred())
			check(g, flatten(families))
		})
	}
	// Every series of this test's namespace starts at zero, whatever the other tests do.
	series := func(name string, labels ...string) string {
		return seriesKey(name, append([]string{"namespace", ns}, labels...)...)
	}

	task := testutil.MakeLongTask("resize", ns).Total(25).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)
	eventuallyMetrics(t, func(g gomega.Gomega, m map[string]float64) {
		g.Expect(m[series("longtask_jobs_created_total")]).To(gomega.Equal(1.0))
		g.Expect(m[series("longtask_tasks", "phase", "Pending")]).To(gomega.Equal(1.0))
		g.Expect(m).To(gomega.HaveKeyWithValue(series("longtask_tasks", "phase", "Running"), 0.0))
	})

	start := time.Now()
	fw.SetJobStatus(t, testutil.FromJob(job).Started(start).Ready().Obj())
	eventuallyMetrics(t, func(g gomega.Gomega, m map[string]float64) {
		g.Expect(m[series("longtask_tasks", "phase", "Running")]).To(gomega.Equal(1.0))
		g.Expect(m[series("longtask_tasks", "phase", "Pending")]).To(gomega.Equal(0.0))
		g.Expect(m[series("longtask_task_create_to_running_seconds_count")]).To(gomega.Equal(1.0))
	})

	worker := fw.Worker(t, task)
	worker.Reports("::progress 5/25 Resized ant.jpg")
	worker.Reports("::progress 12/25 Resized cat.jpg")
	eventuallyMetrics(t, func(g gomega.Gomega, m map[string]float64) {
		g.Expect(m[series("longtask_progress_updates_observed_total")]).To(gomega.Equal(2.0))
	})

	fw.SetJobStatus(t, testutil.FromJob(job).Started(start).Succeeded(time.Now()).Obj())
	eventuallyMetrics(t, func(g gomega.Gomega, m map[string]float64) {
		g.Expect(m[series("longtask_tasks", "phase", "Succeeded")]).To(gomega.Equal(1.0))
		g.Expect(m[series("longtask_tasks", "phase", "Running")]).To(gomega.Equal(0.0))
		g.Expect(m[series("longtask_task_duration_seconds_count", "outcome", "Succeeded")]).To(gomega.Equal(1.0))
		// Counted by the same event as the duration: the controller filling the bar is not a progress write.
		g.Expect(m[series("longtask_progress_updates_observed_total")]).To(gomega.Equal(2.0))
		g.Expect(m[series("longtask_task_create_to_running_seconds_count")]).To(gomega.Equal(1.0))
	})

	failing := testutil.MakeLongTask("crash", ns).Timeout(60).Obj()
	fw.Create(t, failing)
	failingJob := fw.WaitForJob(t, failing)
	fw.SetJobStatus(t, testutil.FromJob(failingJob).Started(time.Now()).
		Failed(time.Now(), "DeadlineExceeded", "Job was active longer than specified deadline", 1).Obj())
	var last map[string]float64
	eventuallyMetrics(t, func(g gomega.Gomega, m map[string]float64) {
		g.Expect(m[series("longtask_task_failures_total", "reason", "DeadlineExceeded")]).To(gomega.Equal(1.0))
		g.Expect(m[series("longtask_task_duration_seconds_count", "outcome", "Failed")]).To(gomega.Equal(1.0))
		g.Expect(m[series("longtask_tasks", "phase", "Failed")]).To(gomega.Equal(1.0))
		g.Expect(m[series("longtask_jobs_created_total")]).To(gomega.Equal(2.0))
		last = m
	})

	// Now that every kind of series has moved, each metric the dashboard charts must be among those served:
	// a renamed metric breaks this test rather than a panel in someone's Grafana.
	t.Run("the dashboard charts served metrics", func(t *testing.T) {
		served := map[string]bool{}
		for key := range last {
			name := strings.SplitN(key, "{", 2)[0]
			served[name] = true
			if histogram, ok := strings.CutSuffix(name, "_count"); ok {
				served[histogram+"_bucket"] = true
			}
		}
		for _, metric := range dashboardMetrics(t) {
			if !served[metric] {
				t.Errorf("the dashboard charts %s, which the manager does not serve", metric)
			}
		}
	})
}

// dashboardMetrics are the metrics config/grafana/longtask-dashboard.json queries.
func dashboardMetrics(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(fw.Path("config", "grafana", "longtask-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dashboard struct {
		Panels []struct {
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(data, &dashboard); err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`\b(longtask|controller_runtime|workqueue)_[a-z_]+`)
	seen := map[string]bool{}
	var metrics []string
	for _, panel := range dashboard.Panels {
		for _, target := range panel.Targets {
			for _, metric := range name.FindAllString(target.Expr, -1) {
				if !seen[metric] {
					seen[metric] = true
					metrics = append(metrics, metric)
				}
			}
		}
	}
	if len(metrics) == 0 {
		t.Fatal("the dashboard queries no metric")
	}
	return metrics
}

// metricsReaderToken returns the token of a ServiceAccount bound to the ClusterRole that
// config/rbac/metrics_reader_role.yaml deploys, as a Prometheus would be.
func metricsReaderToken(t *testing.T, namespace string) string {
	t.Helper()
	data, err := os.ReadFile(fw.Path("config", "rbac", "metrics_reader_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(data, role); err != nil {
		t.Fatal(err)
	}
	if err := fw.Client.Create(context.Background(), role); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating the ClusterRole %s: %v", role.Name, err)
	}
	token := fw.Token(t, namespace, "prometheus")
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "metrics-reader-" + namespace},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "prometheus", Namespace: namespace}},
	}
	fw.Create(t, binding)
	t.Cleanup(func() { _ = fw.Client.Delete(context.Background(), binding) })
	return token
}

// scrape gets the metrics at url with a bearer token (none when empty), and returns the status.
func scrape(url, token string) (int, error) {
	// The manager serves a self-signed certificate, as it does when deployed without --metrics-cert-dir.
	httpClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scraping the manager's metrics: %w", err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, fmt.Errorf("reading the scrape: %w", err)
	}
	return resp.StatusCode, nil
}

// flatten maps each series, as seriesKey names it, to its value; a histogram to its _count and _sum.
func flatten(families []*dto.MetricFamily) map[string]float64 {
	series := map[string]float64{}
	for _, family := range families {
		name := family.GetName()
		for _, m := range family.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName(), l.GetValue())
			}
			switch family.GetType() {
			case dto.MetricType_COUNTER:
				series[seriesKey(name, labels...)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				series[seriesKey(name, labels...)] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				series[seriesKey(name+"_count", labels...)] = float64(m.GetHistogram().GetSampleCount())
				series[seriesKey(name+"_sum", labels...)] = m.GetHistogram().GetSampleSum()
			default:
				series[seriesKey(name, labels...)] = m.GetUntyped().GetValue()
			}
		}
	}
	return series
}

// seriesKey names a series as PromQL prints it, labels sorted: name{a="1",b="2"}.
func seriesKey(name string, labelPairs ...string) string {
	var labels []string
	for i := 0; i+1 < len(labelPairs); i += 2 {
		labels = append(labels, fmt.Sprintf("%s=%q", labelPairs[i], labelPairs[i+1]))
	}
	sort.Strings(labels)
	return name + "{" + strings.Join(labels, ",") + "}"
}
