package integration

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/onsi/gomega"
	gomegatypes "github.com/onsi/gomega/types"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/internal/ui"
	"github.com/longtask-dev/longtask/test/integration/framework"
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
	// What a tab does is bounded, so that a browser that hangs fails its test rather than the run. The
	// bound is the test's, several waits long: each wait of expectPage has its own.
	ctx, cancelTimeout := context.WithTimeout(tab, tabTimeout)
	t.Cleanup(cancelTimeout)
	return ctx
}

// tabTimeout bounds all that a test does in its tab.
const tabTimeout = 5 * time.Minute

// The browser tests (TestBrowser*) do not call t.Parallel: two Chromiums, each page following its task
// over an event stream, beside the race detector on two cores missed their 30 s waits now and then
// (a progress message that never showed, a click that went nowhere), where one at a time did not.

// evaluateTimeout bounds one evaluation of expectPage, within its framework.Timeout.
const evaluateTimeout = 5 * time.Second

// expectPage evaluates a JavaScript expression on the page until its value matches, and returns the value.
// A page that navigates (a form post and its redirect) takes its JavaScript context with it; the next
// evaluation is in the new page. A test that fails says what the page last showed, or why it showed
// nothing.
func expectPage[T any](t *testing.T, ctx context.Context, expression string, matcher gomegatypes.GomegaMatcher, explain ...any) T {
	t.Helper()
	var value T
	framework.Eventually(t, func(g gomega.Gomega) {
		evaluateCtx, cancel := context.WithTimeout(ctx, evaluateTimeout)
		defer cancel()
		var err error
		value, err = chromedp.Run(evaluateCtx, chromedp.Evaluate[T](expression))
		g.Expect(err).NotTo(gomega.HaveOccurred(), "evaluating %s", expression)
		g.Expect(value).To(matcher, "the page's %s", expression)
	}, explain...)
	return value
}

// openPage starts the UI as cmd/ui does with --auth=none, against the test API server as its admin, and
// opens path in a new browser tab.
func openPage(t *testing.T, push bool, path string) context.Context {
	t.Helper()
	url := fw.StartUI(t, fw.Config, ui.Options{Auth: ui.AuthNone, NoPush: !push})
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+path)); err != nil {
		t.Fatalf("opening %s: %v", path, err)
	}
	return ctx
}

func TestBrowserFollowsProgressLive(t *testing.T) {
	ns := fw.Namespace(t)
	task := testutil.MakeLongTask("resize", ns).Obj()
	fw.Create(t, task)
	worker := fw.Worker(t, task)
	worker.Reports("::progress 1/10 starting")
	ctx := openPage(t, true, "/tasks/"+ns+"/resize")
	expectPage[string](t, ctx, `document.getElementById("transport").textContent`, gomega.Equal("live"))
	expectPage[float64](t, ctx, `document.getElementById("bar").value`, gomega.Equal(10.0))

	worker.Reports("::progress 6/10 <b>Resized</b> cat.jpg")
	expectPage[float64](t, ctx, `document.getElementById("bar").value`, gomega.Equal(60.0))
	expectPage[string](t, ctx, `document.getElementById("summary").textContent`, gomega.Equal("6/10 (60%)"))
	expectPage[string](t, ctx, `document.getElementById("message").innerHTML`, gomega.Equal("&lt;b&gt;Resized&lt;/b&gt; cat.jpg"),
		"a message with markup must show as text")
	expectPage[string](t, ctx, `document.getElementById("transport").textContent`, gomega.Equal("live"), "updates must be pushed")
}

func TestBrowserFallsBackToPolling(t *testing.T) {
	ns := fw.Namespace(t)
	task := testutil.MakeLongTask("resize", ns).Obj()
	fw.Create(t, task)
	worker := fw.Worker(t, task)
	worker.Reports("::progress 2/10")
	ctx := openPage(t, false, "/tasks/"+ns+"/resize") // event streams refused, as behind a proxy that breaks them
	expectPage[string](t, ctx, `document.getElementById("transport").textContent`, gomega.Equal("polling"))
	worker.Reports("::progress 9/10 almost")
	expectPage[float64](t, ctx, `document.getElementById("bar").value`, gomega.Equal(90.0))
	expectPage[string](t, ctx, `document.getElementById("message").textContent`, gomega.Equal("almost"))
}

// A page whose event streams the UI refuses, as it does past its caps, polls for its panel and its log.
func TestBrowserPollsWhenTheUIRefusesStreams(t *testing.T) {
	ns := fw.Namespace(t)
	task := testutil.MakeLongTask("resize", ns).Obj()
	fw.Create(t, task)
	worker := fw.Worker(t, task)
	worker.Reports("::progress 2/10")
	// With --auth=none everyone is one viewer, and this stream takes its one place.
	url := fw.StartUI(t, fw.Config, ui.Options{Auth: ui.AuthNone, MaxStreamsPerViewer: 1})
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
	expectPage[string](t, ctx, `document.getElementById("transport").textContent`, gomega.Equal("polling"))
	expectPage[string](t, ctx, `document.getElementById("log-state").textContent`, gomega.Equal("polling"))
	worker.Reports("::progress 9/10 almost")
	expectPage[float64](t, ctx, `document.getElementById("bar").value`, gomega.Equal(90.0))
}

func TestBrowserShowsTheResult(t *testing.T) {
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)
	fw.Worker(t, task).Reports(`::result <script>window.pwned = true</script>{"thumbnails": 25}`)
	fw.SetJobStatus(t, testutil.FromJob(job).Started(time.Now()).Succeeded(time.Now()).Obj())
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseSucceeded))
	})
	ctx := openPage(t, true, "/tasks/"+ns+"/resize")
	expectPage[string](t, ctx, `document.getElementById("result")?.textContent`, gomega.Equal(`<script>window.pwned = true</script>{"thumbnails": 25}`))
	expectPage[string](t, ctx, `typeof window.pwned`, gomega.Equal("undefined"), "a script in a result ran in the browser")
	expectPage[float64](t, ctx, `document.getElementById("bar").value`, gomega.Equal(100.0))
	expectPage[int](t, ctx, cancelForms, gomega.BeZero(), "a finished task cannot be cancelled")
}

func TestBrowserShowsTheError(t *testing.T) {
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Timeout(60).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)
	fw.SetJobStatus(t, testutil.FromJob(job).Started(time.Now()).Failed(time.Now(), "DeadlineExceeded", "Job was active longer than specified deadline", 1).Obj())
	ctx := openPage(t, true, "/tasks/"+ns+"/resize")
	expectPage[string](t, ctx, `document.getElementById("phase").textContent`, gomega.Equal("Failed"))
	expectPage[string](t, ctx, `document.getElementById("failure-reason")?.textContent`, gomega.Equal("DeadlineExceeded"))
	expectPage[string](t, ctx, `document.getElementById("failure-message")?.textContent`, gomega.Equal("Job was active longer than specified deadline"))
}

// cancelForms counts the Cancel forms of a task's loaded page; -1 while no page is loaded (a form's post
// and its redirect), where no form would prove nothing.
const cancelForms = `document.readyState === "complete" && document.getElementById("panel") !== null ? document.querySelectorAll("#cancel-form").length : -1`

func TestBrowserCancelsATask(t *testing.T) {
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Obj()
	fw.Create(t, task)
	fw.Worker(t, task).Reports("::progress 3/10")
	ctx := openPage(t, true, "/tasks/"+ns+"/resize")
	expectPage[string](t, ctx, `document.getElementById("transport").textContent`, gomega.Equal("live"))
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("cancel"))); err != nil {
		t.Fatal(err)
	}
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Spec.Cancel).To(gomega.BeTrue(), "clicking Cancel did not cancel the task")
	})
	expectPage[int](t, ctx, cancelForms, gomega.BeZero(), "a cancelled task cannot be cancelled again")
}

func TestBrowserListsTasks(t *testing.T) {
	// Pushed by the list's event stream, or fetched every 2 s when streams are off: the list follows the
	// tasks either way.
	for _, push := range []bool{true, false} {
		t.Run(fmt.Sprintf("push=%v", push), func(t *testing.T) {
			ns := fw.Namespace(t)
			first := testutil.MakeLongTask("first", ns).Obj()
			fw.Create(t, first)
			worker := fw.Worker(t, first)
			worker.Reports("::progress 5/10 halfway")
			ctx := openPage(t, push, "/?namespace="+ns)
			const names = `[...document.querySelectorAll("#tasks a")].map(a => a.textContent)`
			expectPage[[]string](t, ctx, names, gomega.ContainElement("first"))
			// A task created after the page loaded shows up, and a report moves its row's bar.
			fw.Create(t, testutil.MakeLongTask("second", ns).Obj())
			expectPage[[]string](t, ctx, names, gomega.ContainElement("second"))
			worker.Reports("::progress 7/10 further")
			row := `[...document.querySelectorAll("#tasks tr")].find(r => r.textContent.includes("first"))`
			expectPage[string](t, ctx, row+`?.querySelector(".summary").textContent`, gomega.Equal("7/10 (70%)"))
		})
	}
}
