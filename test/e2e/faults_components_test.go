//go:build e2e && faults

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// The operator's own components, killed as the kernel's OOM killer or a crash would: SIGKILL to every
// process of the container, which the kubelet then restarts.

const operatorNamespace = "longtask-system"

// killContainer sends SIGKILL to every process of a pod's container, found on the host by the container
// ID in their cgroup, and returns the container's restart count before the kill.
func killContainer(t *testing.T, pod, container string) int {
	t.Helper()
	status := func(field string) string {
		return kubectl(t, operatorNamespace, "get", "pod", pod, "-o",
			fmt.Sprintf(`jsonpath={.status.containerStatuses[?(@.name=="%s")].%s}`, container, field))
	}
	restarts, _ := strconv.Atoi(status("restartCount"))
	id := status("containerID")
	id = id[strings.Index(id, "://")+3:]
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	killed := 0
	for _, file := range procs {
		data, err := os.ReadFile(file)
		if err != nil || !strings.Contains(string(data), id) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(file)))
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	if killed == 0 {
		t.Fatalf("found no process of container %s (%s) of pod %s", container, id, pod)
	}
	return restarts
}

// waitRestarted waits until the kubelet has restarted the container and the pod is Ready again.
func waitRestarted(t *testing.T, pod, container string, restartsBefore int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) {
		out, err := kubectlCmd(operatorNamespace, "get", "pod", pod, "-o",
			fmt.Sprintf(`jsonpath={.status.containerStatuses[?(@.name=="%s")].restartCount} {.status.conditions[?(@.type=="Ready")].status}`, container)).Output()
		if fields := strings.Fields(string(out)); err == nil && len(fields) == 2 {
			if n, _ := strconv.Atoi(fields[0]); n > restartsBefore && fields[1] == "True" {
				return
			}
		}
		time.Sleep(time.Second)
	}
	t.Fatalf("the kubelet did not restart %s of %s within 3 minutes", container, pod)
}

// podOf is the name of a Deployment's pod; with several, the first.
func podOf(t *testing.T, component string) string {
	t.Helper()
	return kubectl(t, operatorNamespace, "get", "pods", "-l", "app.kubernetes.io/name=longtask-"+component,
		"--field-selector=status.phase=Running", "-o", "jsonpath={.items[0].metadata.name}")
}

func killManagerThrice(t *testing.T, _ string) {
	for range 3 {
		pod := podOf(t, "manager")
		restarts := killContainer(t, pod, "manager")
		waitRestarted(t, pod, "manager", restarts)
		time.Sleep(3 * time.Second)
	}
}

// leaseHolder is the manager replica that holds the leader lease: its pod's name and its run's ID.
func leaseHolder(t *testing.T) string {
	t.Helper()
	return kubectl(t, operatorNamespace, "get", "lease", "longtask-manager.longtask.dev", "-o", "jsonpath={.spec.holderIdentity}")
}

// killLeader runs two manager replicas, kills the leader, and checks that another replica takes the lease.
func killLeader(t *testing.T, _ string) {
	helm := exec.Command(helmBin(), "upgrade", "longtask", filepath.Join(root, "charts", "longtask"), "--namespace", operatorNamespace,
		"--reuse-values", "--set", "manager.replicas=2", "--wait", "--timeout", "3m")
	if out, err := helm.CombinedOutput(); err != nil {
		t.Fatalf("helm upgrade to two manager replicas: %v\n%s", err, out)
	}
	leader := leaseHolder(t)
	pod, _, _ := strings.Cut(leader, "_")
	killed := time.Now()
	restarts := killContainer(t, pod, "manager")
	for leaseHolder(t) == leader {
		if time.Since(killed) > 2*time.Minute {
			t.Fatalf("no replica took the lease from %s within 2 minutes", leader)
		}
		time.Sleep(200 * time.Millisecond)
	}
	next := leaseHolder(t)
	nextPod, _, _ := strings.Cut(next, "_")
	t.Logf("the lease went from %s to %s in %.1f s (the lease lasts 15 s); the new leader is the %s", leader, next,
		time.Since(killed).Seconds(), map[bool]string{true: "killed replica, restarted", false: "other replica"}[nextPod == pod])
	waitRestarted(t, pod, "manager", restarts)
}

// uiFollower is a browser tab signed in to the UI and following a task's page.
type uiFollower struct {
	ctx  context.Context
	task string
}

// killUIWhileFollowed opens the pages of the three longest tasks in a browser, kills the UI while they
// follow them live, and checks, once the tasks have finished, that each page caught up by itself.
func killUIWhileFollowed(t *testing.T, ns string) {
	browser, err := testutil.StartBrowser()
	if err != nil {
		t.Fatal(err)
	}
	token := personToken(t, ns)
	var followers []uiFollower
	for _, task := range []string{"long-12", "long-13", "long-14"} {
		tab, _ := chromedp.NewContext(browser)
		ctx, cancel := context.WithTimeout(tab, 8*time.Minute)
		t.Cleanup(cancel)
		signInUI(t, ctx, token)
		if err := chromedp.Do(ctx, chromedp.Navigate(uiURL+"/tasks/"+ns+"/"+task)); err != nil {
			t.Fatal(err)
		}
		waitInPage(t, ctx, `document.getElementById("transport").textContent === "live"`)
		followers = append(followers, uiFollower{ctx: ctx, task: task})
	}

	pod := podOf(t, "ui")
	restarts := killContainer(t, pod, "ui")
	waitRestarted(t, pod, "ui", restarts)

	// The pages were not reloaded: each catches up by itself with the finished task, its bar full and its
	// result shown.
	for _, f := range followers {
		waitInPage(t, f.ctx, `document.querySelector("[data-finished]") !== null`)
		text := pageText(t, f.ctx)
		if !strings.Contains(text, "Succeeded") || !strings.Contains(text, "long from 0") {
			t.Errorf("the page of %s, not reloaded, shows after the UI restarted:\n%s\nwant it Succeeded with its result", f.task, text)
		}
	}
}

// signInUI signs a browser tab in to the deployed UI with a token.
func signInUI(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(uiURL+"/signin"),
		chromedp.SendKeys(chromedp.ID("token"), token), chromedp.Submit(chromedp.ID("token"))); err != nil {
		t.Fatalf("signing in: %v", err)
	}
	waitInPage(t, ctx, `location.pathname === "/" && document.getElementById("viewer") !== null`)
}

// waitInPage waits until a JavaScript expression is true in the tab. A page that navigates (the sign-in
// form's post and redirect) takes its JavaScript context with it; the poll then starts again in the next.
func waitInPage(t *testing.T, ctx context.Context, expression string) {
	t.Helper()
	for {
		_, err := chromedp.Run(ctx, chromedp.Poll[bool](expression))
		if err == nil {
			return
		}
		if ctx.Err() != nil || !testutil.NavigatedAway(err) {
			t.Fatalf("waiting for %s: %v\npage:\n%s", expression, err, pageText(t, ctx))
		}
	}
}

func pageText(t *testing.T, ctx context.Context) string {
	t.Helper()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return text
}
