package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/internal/ui"
)

// screenshotDir keeps a picture of each page the browser tests look at (README: "Screenshots").
var screenshotDir = filepath.Join("..", "..", "bin", "screenshots")

// screenshot saves the whole page as bin/screenshots/TEST-NAME.png.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("taking a screenshot: %v", err)
	}
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
	pageValue[bool](t, ctx, `location.pathname === "/signin"`)
	screenshot(t, ctx, "signin")
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Submit(chromedp.ID("token"))); err != nil {
		t.Fatal(err)
	}
	pageValue[bool](t, ctx, `location.pathname === "/" && document.getElementById("viewer") !== null`)
	return ctx
}

// click clicks an element that navigates, and waits for the next page's path to match pathRegexp.
func click(t *testing.T, ctx context.Context, selector, pathRegexp string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(selector))); err != nil {
		t.Fatalf("clicking %s: %v", selector, err)
	}
	pageValue[bool](t, ctx, `new RegExp(`+jsString(pathRegexp)+`).test(location.pathname) && document.readyState === "complete"`)
}

func jsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func TestBrowserStartsATaskFromATemplateAndRunsItAgain(t *testing.T) {
	ns := newNamespace(t)
	create(t, resizeTemplateForUI(ns))
	token := personToken(t, ns, "alice", viewTasks, startTasks, readLogs, readJobs)
	base := startUIWith(t, uiConfig, ui.AuthToken, true)
	ctx := signIn(t, base, token)

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/templates")); err != nil {
		t.Fatal(err)
	}
	pageValue[bool](t, ctx, `[...document.querySelectorAll(".templates a")].some(a => a.textContent === "resize-photos")`)
	screenshot(t, ctx, "templates")
	click(t, ctx, `.templates a`, `^/templates/`+ns+`/resize-photos$`)
	g := gomega.NewWithT(t)
	g.Expect(pageValue[string](t, ctx, `document.getElementById("param-count").value`)).To(gomega.Equal("20"), "the form starts from the default")
	g.Expect(pageValue[string](t, ctx, `document.getElementById("param-size").tagName`)).To(gomega.Equal("SELECT"), "an enum is a choice")
	g.Expect(pageValue[string](t, ctx, `document.body.textContent`)).To(gomega.ContainSubstring("How many photos"))
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.ID("param-count"), "8"),
		chromedp.SetValue(chromedp.ID("param-size"), "large"),
		chromedp.SetValue(chromedp.ID("param-album"), "Holidays")); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "form")
	click(t, ctx, "#start", `^/tasks/`+ns+`/resize-photos-[a-z0-9]{5}$`)
	name := pageValue[string](t, ctx, `document.body.dataset.name`)

	task := &longtaskv1.LongTask{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, task)).To(gomega.Succeed())
	job := waitForJob(t, task)
	// The worker reports; the bar moves.
	workerReports(t, task, progressPatch(2, 8, "Resized cat.jpg"))
	pageValue[bool](t, ctx, `document.getElementById("bar") && document.getElementById("bar").value === 25`)
	g.Expect(pageValue[string](t, ctx, `document.getElementById("transport").textContent`)).To(gomega.Equal("live"))
	screenshot(t, ctx, "running")
	workerReports(t, task, progressPatch(8, 8, "done"))
	workerReports(t, task, `{"status":{"result":"{\"thumbnails\": 8}"}}`)
	setJobStatus(t, testutil.FromJob(job).Started(time.Now()).Succeeded(time.Now()).Obj())
	pageValue[bool](t, ctx, `document.getElementById("result") !== null`)
	g.Expect(pageValue[string](t, ctx, `document.getElementById("result").textContent`)).To(gomega.Equal(`{"thumbnails": 8}`))
	g.Expect(pageValue[string](t, ctx, `document.getElementById("phase").textContent`)).To(gomega.Equal("Succeeded"))
	screenshot(t, ctx, "succeeded")

	// Run again starts a new task with the same template and values.
	click(t, ctx, "#again", `^/tasks/`+ns+`/resize-photos-[a-z0-9]{5}$`)
	again := pageValue[string](t, ctx, `document.body.dataset.name !== `+jsString(name)+` && document.body.dataset.name`)
	second := &longtaskv1.LongTask{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: again}, second)).To(gomega.Succeed())
	g.Expect(second.Spec.Parameters).To(gomega.ConsistOf(task.Spec.Parameters))
	g.Expect(second.Spec.TemplateRef).To(gomega.Equal(task.Spec.TemplateRef))
}

func TestBrowserRefusesABadValueAndKeepsTheForm(t *testing.T) {
	ns := newNamespace(t)
	create(t, resizeTemplateForUI(ns))
	base := startUIWith(t, uiConfig, ui.AuthToken, true)
	ctx := signIn(t, base, personToken(t, ns, "alice", viewTasks, startTasks))
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
	g := gomega.NewWithT(t)
	g.Expect(pageValue[string](t, ctx, `document.querySelector(".field.invalid .error")?.textContent`)).To(
		gomega.And(gomega.ContainSubstring("spec.parameters[count]"), gomega.ContainSubstring("must match [0-9]{1,3}")))
	g.Expect(pageValue[string](t, ctx, `document.getElementById("param-count").value`)).To(gomega.Equal("lots"))
	g.Expect(pageValue[string](t, ctx, `document.getElementById("param-album").value`)).To(gomega.Equal("Summer"))
	screenshot(t, ctx, "refused")
	tasks := &longtaskv1.LongTaskList{}
	g.Expect(k8sClient.List(context.Background(), tasks, client.InNamespace(ns))).To(gomega.Succeed())
	g.Expect(tasks.Items).To(gomega.BeEmpty(), "a refused form must start no task")
}

func TestBrowserShowsAVisitorWithoutATokenNothing(t *testing.T) {
	ns := newNamespace(t)
	create(t, testutil.MakeLongTask("secret-plans", ns).Obj())
	base := startUIWith(t, uiConfig, ui.AuthToken, true)
	ctx := browser(t)
	for _, path := range []string{"/", "/tasks/" + ns + "/secret-plans", "/api/tasks"} {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+path)); err != nil {
			t.Fatal(err)
		}
		text := pageValue[string](t, ctx, `document.readyState === "complete" && document.body.innerText`)
		if path != "/api/tasks" {
			gomega.NewWithT(t).Expect(pageValue[string](t, ctx, `location.pathname`)).To(gomega.Equal("/signin"))
		}
		if strings.Contains(text, "secret-plans") && !strings.Contains(path, "secret-plans") {
			t.Errorf("%s showed a visitor without a token the task: %q", path, text)
		}
	}
	screenshot(t, ctx, "signin")
}

func TestBrowserKeepsWhatTasksReportInert(t *testing.T) {
	const payload = `<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>`
	ns := newNamespace(t)
	create(t, resizeTemplateForUI(ns))
	base := startUIWith(t, uiConfig, ui.AuthToken, true)
	ctx := signIn(t, base, personToken(t, ns, "alice", viewTasks, startTasks))
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/templates/"+ns+"/resize-photos"), chromedp.SetValue(chromedp.ID("param-album"), payload)); err != nil {
		t.Fatal(err)
	}
	click(t, ctx, "#start", `^/tasks/`+ns+`/resize-photos-`)
	name := pageValue[string](t, ctx, `document.body.dataset.name`)
	task := &longtaskv1.LongTask{}
	g := gomega.NewWithT(t)
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, task)).To(gomega.Succeed())
	job := waitForJob(t, task)
	workerReports(t, task, progressPatch(1, 2, payload))
	pageValue[bool](t, ctx, `document.getElementById("message").textContent === `+jsString(payload))
	workerReports(t, task, `{"status":{"result":`+jsString(payload)+`}}`)
	setJobStatus(t, testutil.FromJob(job).Started(time.Now()).Succeeded(time.Now()).Obj())
	pageValue[bool](t, ctx, `document.getElementById("result") !== null`)
	screenshot(t, ctx, "inert")
	for _, check := range []string{
		`document.getElementById("result").textContent === ` + jsString(payload),
		`[...document.querySelectorAll(".parameters dd")].some(dd => dd.textContent === ` + jsString(payload) + `)`,
		`document.querySelectorAll("main img, main script").length === 0`,
		`window.pwned === undefined`,
	} {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](check))
		g.Expect(err).NotTo(gomega.HaveOccurred())
		g.Expect(ok).To(gomega.BeTrue(), check)
	}
}
