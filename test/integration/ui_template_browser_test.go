package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/internal/ui"
)

// screenshot saves the whole page as bin/screenshots/TEST-NAME.png: a picture of each page the browser
// tests look at (README: "Screenshots").
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	// A page still loading has no size yet, and Chromium refuses to take its picture.
	expectPage[string](t, ctx, `document.readyState`, gomega.Equal("complete"))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("taking a screenshot: %v", err)
	}
	screenshotDir := fw.Path("bin", "screenshots")
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := strings.ReplaceAll(t.Name(), "/", "_") + "-" + name + ".png"
	if err := os.WriteFile(filepath.Join(screenshotDir, file), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// signIn opens the UI in a new tab and signs in with token on its sign-in page, as a person would.
func signIn(t *testing.T, base, token string) context.Context {
	t.Helper()
	ctx := browser(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	expectPage[string](t, ctx, `location.pathname`, gomega.Equal("/signin"))
	screenshot(t, ctx, "signin")
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Submit(chromedp.ID("token"))); err != nil {
		t.Fatal(err)
	}
	expectPage[string](t, ctx, `location.pathname`, gomega.Equal("/"))
	expectPage[string](t, ctx, `document.getElementById("viewer")?.textContent ?? ""`, gomega.Not(gomega.BeEmpty()), "signed in, the list names the viewer")
	return ctx
}

// click clicks an element that navigates, and waits for the next page's path to match pathRegexp. The
// element's own click() submits its form with it as the submitter, as a person's click does; a mouse
// click at the element's coordinates, taken right after a full-page screenshot resized the page and
// before it laid itself out again, was lost once under load (the form stayed, with no error on it).
func click(t *testing.T, ctx context.Context, selector, pathRegexp string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		fmt.Sprintf(`(el => { el.click(); return true })(document.querySelector(%q))`, selector))); err != nil {
		t.Fatalf("clicking %s: %v", selector, err)
	}
	expectPage[loadedPage](t, ctx, `({path: location.pathname, state: document.readyState,
		alerts: [...document.querySelectorAll("[role=alert]")].map(e => e.textContent)})`,
		gomega.And(gomega.HaveField("Path", gomega.MatchRegexp(pathRegexp)), gomega.HaveField("State", gomega.Equal("complete"))))
}

// loadedPage is where the browser is, and whether the page there is loaded; its alerts, the errors a
// form shows, say why a post did not go where the test expected.
type loadedPage struct {
	Path   string   `json:"path"`
	State  string   `json:"state"`
	Alerts []string `json:"alerts"`
}

func TestBrowserStartsATaskFromATemplateAndRunsItAgain(t *testing.T) {
	ns := fw.ManagedNamespace(t, manager.Options{})
	fw.Create(t, resizeTemplateForUI(ns))
	token := fw.Token(t, ns, "alice", viewTasks, startTasks, readLogs, readJobs)
	base := fw.StartUI(t, fw.UIConfig, ui.Options{Auth: ui.AuthToken})
	ctx := signIn(t, base, token)

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/templates")); err != nil {
		t.Fatal(err)
	}
	expectPage[[]string](t, ctx, `[...document.querySelectorAll(".templates a")].map(a => a.textContent)`, gomega.ContainElement("resize-photos"))
	screenshot(t, ctx, "templates")
	click(t, ctx, `.templates a`, `^/templates/`+ns+`/resize-photos$`)
	expectPage[string](t, ctx, `document.getElementById("param-count").value`, gomega.Equal("20"), "the form starts from the default")
	expectPage[string](t, ctx, `document.getElementById("param-size").tagName`, gomega.Equal("SELECT"), "an enum is a choice")
	expectPage[string](t, ctx, `document.body.textContent`, gomega.ContainSubstring("How many photos"))
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("param-count"), "8"),
		chromedp.SetValue(chromedp.ID("param-size"), "large"),
		chromedp.SetValue(chromedp.ID("param-album"), "Holidays")); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "form")
	click(t, ctx, "#start", `^/tasks/`+ns+`/resize-photos-[a-z0-9]{5}$`)
	name := expectPage[string](t, ctx, `document.body.dataset.name`, gomega.Not(gomega.BeEmpty()))

	task := &longtaskv1.LongTask{}
	g := gomega.NewWithT(t)
	g.Expect(fw.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, task)).To(gomega.Succeed())
	job := fw.WaitForJob(t, task)
	// The worker reports; the bar moves.
	worker := fw.Worker(t, task)
	worker.Reports("::progress 2/8 Resized cat.jpg")
	expectPage[float64](t, ctx, `document.getElementById("bar")?.value`, gomega.Equal(25.0))
	expectPage[string](t, ctx, `document.getElementById("transport").textContent`, gomega.Equal("live"))
	screenshot(t, ctx, "running")
	worker.Reports("::progress 8/8 done", `::result {"thumbnails": 8}`)
	fw.SetJobStatus(t, testutil.FromJob(job).Started(time.Now()).Succeeded(time.Now()).Obj())
	expectPage[string](t, ctx, `document.getElementById("result")?.textContent`, gomega.Equal(`{"thumbnails": 8}`))
	expectPage[string](t, ctx, `document.getElementById("phase").textContent`, gomega.Equal("Succeeded"))
	screenshot(t, ctx, "succeeded")

	// Run again starts a new task with the same template and values.
	click(t, ctx, "#again", `^/tasks/`+ns+`/resize-photos-[a-z0-9]{5}$`)
	again := expectPage[string](t, ctx, `document.body.dataset.name`, gomega.And(gomega.Not(gomega.BeEmpty()), gomega.Not(gomega.Equal(name))))
	second := &longtaskv1.LongTask{}
	g.Expect(fw.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: again}, second)).To(gomega.Succeed())
	g.Expect(second.Spec.Parameters).To(gomega.ConsistOf(task.Spec.Parameters))
	g.Expect(second.Spec.TemplateRef).To(gomega.Equal(task.Spec.TemplateRef))
}

func TestBrowserRefusesABadValueAndKeepsTheForm(t *testing.T) {
	ns := fw.Namespace(t)
	fw.Create(t, resizeTemplateForUI(ns))
	base := fw.StartUI(t, fw.UIConfig, ui.Options{Auth: ui.AuthToken})
	ctx := signIn(t, base, fw.Token(t, ns, "alice", viewTasks, startTasks))
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/templates/"+ns+"/resize-photos")); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.ID("param-count"), "lots"), chromedp.SetValue(chromedp.ID("param-album"), "Summer")); err != nil {
		t.Fatal(err)
	}
	// The refused form comes back at the same address: wait for its error, not for a new path.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("start"))); err != nil {
		t.Fatal(err)
	}
	expectPage[string](t, ctx, `document.querySelector(".field.invalid .error")?.textContent ?? "(no error shown)"`,
		gomega.And(gomega.ContainSubstring("spec.parameters[count]"), gomega.ContainSubstring("must match [0-9]{1,3}")))
	expectPage[string](t, ctx, `document.getElementById("param-count").value`, gomega.Equal("lots"))
	expectPage[string](t, ctx, `document.getElementById("param-album").value`, gomega.Equal("Summer"))
	screenshot(t, ctx, "refused")
	g := gomega.NewWithT(t)
	tasks := &longtaskv1.LongTaskList{}
	g.Expect(fw.Client.List(context.Background(), tasks, client.InNamespace(ns))).To(gomega.Succeed())
	g.Expect(tasks.Items).To(gomega.BeEmpty(), "a refused form must start no task")
}

func TestBrowserShowsAVisitorWithoutATokenNothing(t *testing.T) {
	ns := fw.Namespace(t)
	fw.Create(t, testutil.MakeLongTask("secret-plans", ns).Obj())
	base := fw.StartUI(t, fw.UIConfig, ui.Options{Auth: ui.AuthToken})
	ctx := browser(t)
	for _, path := range []string{"/", "/tasks/" + ns + "/secret-plans", "/api/tasks"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+path)); err != nil {
			t.Fatal(err)
		}
		text := expectPage[string](t, ctx, `document.readyState === "complete" ? document.body.innerText : ""`, gomega.Not(gomega.BeEmpty()))
		if path != "/api/tasks" {
			expectPage[string](t, ctx, `location.pathname`, gomega.Equal("/signin"))
		}
		if strings.Contains(text, "secret-plans") && !strings.Contains(path, "secret-plans") {
			t.Errorf("%s showed a visitor without a token the task: %q", path, text)
		}
	}
	screenshot(t, ctx, "signin")
}

func TestBrowserKeepsWhatTasksReportInert(t *testing.T) {
	const payload = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>`
	ns := fw.ManagedNamespace(t, manager.Options{})
	fw.Create(t, resizeTemplateForUI(ns))
	base := fw.StartUI(t, fw.UIConfig, ui.Options{Auth: ui.AuthToken})
	ctx := signIn(t, base, fw.Token(t, ns, "alice", viewTasks, startTasks))
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/templates/"+ns+"/resize-photos"), chromedp.SetValue(chromedp.ID("param-album"), payload)); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, "#start", `^/tasks/`+ns+`/resize-photos-`)
	name := expectPage[string](t, ctx, `document.body.dataset.name`, gomega.Not(gomega.BeEmpty()))
	task := &longtaskv1.LongTask{}
	g := gomega.NewWithT(t)
	g.Expect(fw.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, task)).To(gomega.Succeed())
	job := fw.WaitForJob(t, task)
	worker := fw.Worker(t, task)
	worker.Reports("::progress 1/2 " + payload)
	expectPage[string](t, ctx, `document.getElementById("message").textContent`, gomega.Equal(payload))
	worker.Reports("::result " + payload)
	fw.SetJobStatus(t, testutil.FromJob(job).Started(time.Now()).Succeeded(time.Now()).Obj())
	expectPage[string](t, ctx, `document.getElementById("result")?.textContent`, gomega.Equal(payload))
	screenshot(t, ctx, "inert")
	expectPage[[]string](t, ctx, `[...document.querySelectorAll(".parameters dd")].map(dd => dd.textContent)`, gomega.ContainElement(payload))
	expectPage[[]string](t, ctx, `[...document.querySelectorAll("main img, main script")].map(e => e.outerHTML)`, gomega.BeEmpty())
	expectPage[string](t, ctx, `typeof window.pwned`, gomega.Equal("undefined"))
}
