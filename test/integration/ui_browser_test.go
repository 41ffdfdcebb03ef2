package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/internal/ui"
)

var (
	browserOnce    sync.Once
	browserContext context.Context
	browserErr     error
)

// browser starts one headless Chromium for all the UI tests and returns a new tab in it.
func browser(t *testing.T) context.Context {
	t.Helper()
	browserOnce.Do(func() { browserContext, browserErr = testutil.StartBrowser() })
	if browserErr != nil {
		t.Fatal(browserErr)
	}
	tab, cancel := chromedp.NewContext(browserContext)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	ctx, cancelTimeout := context.WithTimeout(tab, timeout)
	t.Cleanup(cancelTimeout)
	return ctx
}

// startUI runs the UI server as cmd/ui does with --auth=none, against the test API server as its admin,
// and returns its URL.
func startUI(t *testing.T, push bool) string {
	t.Helper()
	return startUIWith(t, restConfig, ui.AuthNone, push)
}

// startUIWith runs the UI server as cmd/ui does, with config's identity and the given sign-in, and returns
// its URL.
func startUIWith(t *testing.T, config *rest.Config, auth ui.AuthMode, push bool) string {
	t.Helper()
	return startUIWithOptions(t, config, ui.Options{Auth: auth}, push)
}

// startUIWithOptions is startUIWith with more of the server's options; its clients are config's.
func startUIWithOptions(t *testing.T, config *rest.Config, opts ui.Options, push bool) string {
	t.Helper()
	mgr, err := ctrl.NewManager(config, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	opts.Client, opts.Kube, opts.Config = mgr.GetClient(), kube, config
	server, err := ui.NewServer(mgr.GetCache(), opts)
	if err != nil {
		t.Fatal(err)
	}
	server.NoPush = !push
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := ui.AddToManager(ctx, mgr, server, listener); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + listener.Addr().String()
}

// pageValue waits until a JavaScript expression on the page is truthy and returns its value.
// A page that navigates (a form post and its redirect) takes its JavaScript context with it; a poll that
// was running there starts again in the new page.
func pageValue[T any](t *testing.T, ctx context.Context, expression string) T {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v, err := chromedp.Run(ctx, chromedp.Poll[T](expression, chromedp.WithPollingTimeout(time.Until(deadline))))
		if err == nil {
			return v
		}
		if time.Now().After(deadline) || !testutil.NavigatedAway(err) {
			t.Fatalf("waiting for %s: %v", expression, err)
		}
	}
}

// openPage starts the UI and opens path in a new browser tab.
func openPage(t *testing.T, push bool, path string) context.Context {
	t.Helper()
	url := startUI(t, push)
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+path)); err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	return ctx
}

func TestBrowserFollowsProgressLive(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).Obj()
	create(t, task)
	workerReports(t, task, progressPatch(1, 10, "starting"))
	ctx := openPage(t, true, "/tasks/"+ns+"/resize")
	pageValue[bool](t, ctx, `document.getElementById("transport").textContent === "live"`)
	if got := pageValue[float64](t, ctx, `document.getElementById("bar").value`); got != 10 {
		t.Errorf("the bar shows %v%%, want 10%%", got)
	}

	// A message with markup must show as text.
	workerReports(t, task, progressPatch(6, 10, "<b>Resized</b> cat.jpg"))
	pageValue[bool](t, ctx, `document.getElementById("bar").value === 60`)
	g := gomega.NewWithT(t)
	g.Expect(pageValue[string](t, ctx, `document.getElementById("summary").textContent`)).To(gomega.Equal("6/10 (60%)"))
	g.Expect(pageValue[string](t, ctx, `document.getElementById("message").textContent`)).To(gomega.Equal("<b>Resized</b> cat.jpg"))
	g.Expect(pageValue[bool](t, ctx, `document.querySelector("#message b") === null`)).To(gomega.BeTrue(), "markup in a message became HTML")
	g.Expect(pageValue[string](t, ctx, `document.getElementById("transport").textContent`)).To(gomega.Equal("live"), "updates must be pushed")
}

func TestBrowserFallsBackToPolling(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).Obj()
	create(t, task)
	workerReports(t, task, progressPatch(2, 10, ""))
	ctx := openPage(t, false, "/tasks/"+ns+"/resize") // event streams refused, as behind a proxy that breaks them
	pageValue[bool](t, ctx, `document.getElementById("transport").textContent === "polling"`)
	workerReports(t, task, progressPatch(9, 10, "almost"))
	pageValue[bool](t, ctx, `document.getElementById("bar").value === 90`)
	if got := pageValue[string](t, ctx, `document.getElementById("message").textContent`); got != "almost" {
		t.Errorf("message %q, want almost", got)
	}
}

// A page whose event streams the UI refuses, as it does past its caps, polls for its panel and its log.
func TestBrowserPollsWhenTheUIRefusesStreams(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).Obj()
	create(t, task)
	workerReports(t, task, progressPatch(2, 10, ""))
	// With --auth=none everyone is one viewer, and this stream takes its one place.
	url := startUIWithOptions(t, restConfig, ui.Options{Auth: ui.AuthNone, MaxStreamsPerViewer: 1}, true)
	req, _ := http.NewRequest(http.MethodGet, url+"/api/tasks/"+ns+"/resize/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("opening the stream that takes the place: %s", resp.Status)
	}

	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/tasks/"+ns+"/resize")); err != nil {
		t.Fatal(err)
	}
	pageValue[bool](t, ctx, `document.getElementById("transport").textContent === "polling"`)
	pageValue[bool](t, ctx, `document.getElementById("log-state").textContent === "polling"`)
	workerReports(t, task, progressPatch(9, 10, "almost"))
	pageValue[bool](t, ctx, `document.getElementById("bar").value === 90`)
}

func TestBrowserShowsTheResult(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).Obj()
	create(t, task)
	job := waitForJob(t, task)
	workerReports(t, task, `{"status":{"result":"<script>window.pwned = true</script>{\"thumbnails\": 25}"}}`)
	setJobStatus(t, testutil.FromJob(job).Started(time.Now()).Succeeded(time.Now()).Obj())
	eventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseSucceeded))
	})
	ctx := openPage(t, true, "/tasks/"+ns+"/resize")
	g := gomega.NewWithT(t)
	g.Expect(pageValue[bool](t, ctx, `document.getElementById("result-section") !== null`)).To(gomega.BeTrue())
	g.Expect(pageValue[string](t, ctx, `document.getElementById("result").textContent`)).To(gomega.Equal(`<script>window.pwned = true</script>{"thumbnails": 25}`))
	g.Expect(pageValue[bool](t, ctx, `window.pwned === undefined`)).To(gomega.BeTrue(), "a script in a result ran in the browser")
	g.Expect(pageValue[float64](t, ctx, `document.getElementById("bar").value`)).To(gomega.Equal(100.0))
	g.Expect(pageValue[bool](t, ctx, `document.getElementById("cancel-form") === null`)).To(gomega.BeTrue(), "a finished task cannot be cancelled")
}

func TestBrowserShowsTheError(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).Timeout(60).Obj()
	create(t, task)
	job := waitForJob(t, task)
	setJobStatus(t, testutil.FromJob(job).Started(time.Now()).Failed(time.Now(), "DeadlineExceeded", "Job was active longer than specified deadline", 1).Obj())
	ctx := openPage(t, true, "/tasks/"+ns+"/resize")
	pageValue[bool](t, ctx, `document.getElementById("failure-section") !== null`)
	g := gomega.NewWithT(t)
	g.Expect(pageValue[string](t, ctx, `document.getElementById("phase").textContent`)).To(gomega.Equal("Failed"))
	g.Expect(pageValue[string](t, ctx, `document.getElementById("failure-reason").textContent`)).To(gomega.Equal("DeadlineExceeded"))
	g.Expect(pageValue[string](t, ctx, `document.getElementById("failure-message").textContent`)).To(gomega.Equal("Job was active longer than specified deadline"))
}

func TestBrowserCancelsATask(t *testing.T) {
	ns := newNamespace(t)
	task := testutil.MakeLongTask("resize", ns).Obj()
	create(t, task)
	workerReports(t, task, progressPatch(3, 10, ""))
	ctx := openPage(t, true, "/tasks/"+ns+"/resize")
	pageValue[bool](t, ctx, `document.getElementById("transport").textContent === "live"`)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("cancel"))); err != nil {
		t.Fatal(err)
	}
	gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
		got := &longtaskv1.LongTask{}
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(task), got)).To(gomega.Succeed())
		g.Expect(got.Spec.Cancel).To(gomega.BeTrue())
	}, timeout, interval).Should(gomega.Succeed(), "clicking Cancel did not cancel the task")
	pageValue[bool](t, ctx, `document.getElementById("cancel-form") === null`)
}

func TestBrowserListsTasks(t *testing.T) {
	// Pushed by the list's event stream, or fetched every 2 s when streams are off: the list follows the
	// tasks either way.
	for _, push := range []bool{true, false} {
		t.Run(fmt.Sprintf("push=%v", push), func(t *testing.T) {
			ns := newNamespace(t)
			first := testutil.MakeLongTask("first", ns).Obj()
			create(t, first)
			workerReports(t, first, progressPatch(5, 10, "halfway"))
			ctx := openPage(t, push, "/?namespace="+ns)
			pageValue[bool](t, ctx, `[...document.querySelectorAll("#tasks a")].some(a => a.textContent === "first")`)
			// A task created after the page loaded shows up, and a report moves its row's bar.
			create(t, testutil.MakeLongTask("second", ns).Obj())
			pageValue[bool](t, ctx, `[...document.querySelectorAll("#tasks a")].some(a => a.textContent === "second")`)
			workerReports(t, first, progressPatch(7, 10, "further"))
			row := `[...document.querySelectorAll("#tasks tr")].find(r => r.textContent.includes("first"))`
			pageValue[bool](t, ctx, row+`.querySelector(".summary").textContent === "7/10 (70%)"`)
		})
	}
}
