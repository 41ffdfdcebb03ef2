package ui

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

func newTestServer(t *testing.T, readOnly bool, objects ...client.Object) (*Server, client.Client, *httptest.Server) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objects...).WithStatusSubresource(&longtaskv1.LongTask{}).Build()
	s, err := NewServer(Options{ReadOnly: readOnly, Reader: c, Client: c, Kube: kubefake.NewClientset(), KeepAlive: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, c, ts
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	scanner := bufio.NewScanner(resp.Body)
	for scanner.Scan() {
		b.WriteString(scanner.Text() + "\n")
	}
	return resp.StatusCode, b.String()
}

func TestPagesEscapeWhatTasksReport(t *testing.T) {
	task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseSucceeded).Progress(3, 3, `<img src=x onerror=alert(1)>`).Obj()
	task.Status.Result = `</pre><script>alert("pwned")</script>`
	_, _, ts := newTestServer(t, false, task)

	for _, path := range []string{"/", "/tasks/photos/resize"} {
		code, body := get(t, ts.URL+path)
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, code)
		}
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") {
			t.Errorf("GET %s put what the task reported into the page as HTML:\n%s", path, body)
		}
	}
	_, body := get(t, ts.URL+"/tasks/photos/resize")
	if !strings.Contains(body, "&lt;/pre&gt;&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;") {
		t.Errorf("the result is not shown as text:\n%s", body)
	}
}

func TestPagesForbidInlineScripts(t *testing.T) {
	_, _, ts := newTestServer(t, false)
	resp, err := http.Get(ts.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy %q, want scripts limited to the UI's own", csp)
	}
}

func TestTaskJSON(t *testing.T) {
	task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Progress(12, 25, "Resized cat.jpg").Obj()
	_, _, ts := newTestServer(t, false, task, testutil.MakeLongTask("count", "photos").Phase(longtaskv1.PhaseRunning).Progress(7, 0, "").Obj())

	code, body := get(t, ts.URL+"/api/tasks/photos/resize")
	if code != http.StatusOK {
		t.Fatalf("status %d: %s", code, body)
	}
	var got taskView
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Percent != 48 || got.Summary != "12/25 (48%)" || got.Message != "Resized cat.jpg" || got.Indeterminate {
		t.Errorf("task JSON %+v, want 12/25 (48%%) with its message", got)
	}

	_, body = get(t, ts.URL+"/api/tasks")
	var list []taskView
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("%d tasks listed, want 2", len(list))
	}
	for _, v := range list {
		if v.Name == "count" && !v.Indeterminate {
			t.Errorf("a task without a total must show an indeterminate bar: %+v", v)
		}
	}

	if code, _ := get(t, ts.URL+"/api/tasks/photos/missing"); code != http.StatusNotFound {
		t.Errorf("a missing task answered %d, want 404", code)
	}
}

func TestCancel(t *testing.T) {
	cases := map[string]struct {
		readOnly   bool
		origin     string
		site       string
		noToken    bool
		wrongToken bool
		wantStatus int
		wantCancel bool
	}{
		"from the UI's own page":               {origin: "SAME", wantStatus: http.StatusSeeOther, wantCancel: true},
		"without an Origin (no browser)":       {wantStatus: http.StatusSeeOther, wantCancel: true},
		"without the CSRF token":               {origin: "SAME", noToken: true, wantStatus: http.StatusForbidden},
		"with another browser's CSRF token":    {origin: "SAME", wrongToken: true, wantStatus: http.StatusForbidden},
		"from another site":                    {origin: "https://evil.example", wantStatus: http.StatusForbidden},
		"from another site, by Fetch Metadata": {site: "cross-site", wantStatus: http.StatusForbidden},
		"when the UI is read-only":             {readOnly: true, origin: "SAME", wantStatus: http.StatusForbidden},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, c, ts := newTestServer(t, tc.readOnly, testutil.MakeLongTask("resize", "photos").Obj())
			cookie, token := csrfFor(t, ts.URL+"/tasks/photos/resize")
			if tc.wrongToken {
				_, token = csrfFor(t, ts.URL+"/tasks/photos/resize")
			}
			form := url.Values{}
			if !tc.noToken {
				form.Set("csrf", token)
			}
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/tasks/photos/resize/cancel", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.AddCookie(cookie)
			if tc.origin == "SAME" {
				req.Header.Set("Origin", ts.URL)
			} else if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.site != "" {
				req.Header.Set("Sec-Fetch-Site", tc.site)
			}
			resp, err := noRedirects.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.wantStatus)
			}
			task := &longtaskv1.LongTask{}
			if err := c.Get(context.Background(), types.NamespacedName{Namespace: "photos", Name: "resize"}, task); err != nil {
				t.Fatal(err)
			}
			if task.Spec.Cancel != tc.wantCancel {
				t.Errorf("spec.cancel = %v, want %v", task.Spec.Cancel, tc.wantCancel)
			}
		})
	}
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// csrfInput is the hidden field that carries a page's CSRF token.
var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrfFor opens a page as a new browser would and returns the CSRF cookie it sets and the token its forms
// carry, if it has any.
func csrfFor(t *testing.T, page string) (*http.Cookie, string) {
	t.Helper()
	resp, err := http.Get(page)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == csrfCookie {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("%s set no CSRF cookie", page)
	}
	m := csrfInput.FindSubmatch(body)
	if m == nil {
		return cookie, "" // a read-only page has no forms
	}
	return cookie, string(m[1])
}

func TestEventsPushEachChangeUntilTheTaskFinishes(t *testing.T) {
	task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Progress(1, 4, "").Obj()
	s, c, ts := newTestServer(t, false, task)

	next, ended := openStream[taskView](t, ts.URL+"/api/tasks/photos/resize/events")
	if v := next(); v.Summary != "1/4 (25%)" {
		t.Errorf("first event %q, want the task as it is", v.Summary)
	}

	key := types.NamespacedName{Namespace: "photos", Name: "resize"}
	update := func(change func(*longtaskv1.LongTask)) {
		current := &longtaskv1.LongTask{}
		if err := c.Get(context.Background(), key, current); err != nil {
			t.Fatal(err)
		}
		change(current)
		if err := c.Status().Update(context.Background(), current); err != nil {
			t.Fatal(err)
		}
		s.Notify(key)
	}
	update(func(lt *longtaskv1.LongTask) {
		lt.Status.Progress.Current, lt.Status.Progress.Summary = 3, "3/4 (75%)"
	})
	if v := next(); v.Summary != "3/4 (75%)" {
		t.Errorf("event after a change %q, want 3/4 (75%%)", v.Summary)
	}
	update(func(lt *longtaskv1.LongTask) { lt.Status.Phase, lt.Status.Result = longtaskv1.PhaseSucceeded, "done" })
	if v := next(); !v.Finished || v.Result != "done" {
		t.Errorf("final event %+v, want the finished task with its result", v)
	}
	if !ended() {
		t.Error("the stream went on after the task finished")
	}
}

// openStream opens a server-sent event stream and returns next, which waits up to 10 s for its next event
// decoded as T, and ended, which says whether the server ended the stream after the events read so far.
func openStream[T any](t *testing.T, url string) (next func() T, ended func() bool) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q, want text/event-stream", ct)
	}
	events := make(chan T, 10)
	go func() {
		defer close(events)
		scanner := bufio.NewScanner(resp.Body)
		scanner.Buffer(make([]byte, 1<<20), 1<<20)
		for scanner.Scan() {
			if data, ok := strings.CutPrefix(scanner.Text(), "data: "); ok {
				var v T
				if json.Unmarshal([]byte(data), &v) == nil {
					events <- v
				}
			}
		}
	}()
	next = func() T {
		t.Helper()
		select {
		case v, ok := <-events:
			if !ok {
				t.Fatal("the stream ended early")
			}
			return v
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
		var zero T
		return zero
	}
	ended = func() bool {
		select {
		case _, ok := <-events:
			return !ok
		case <-time.After(10 * time.Second):
			return false
		}
	}
	return next, ended
}

// TestRunningTaskPageReloadsWithoutJavaScript: a browser without JavaScript follows a running task by
// reloading its page, and stops once the task finished.
func TestRunningTaskPageReloadsWithoutJavaScript(t *testing.T) {
	_, _, ts := newTestServer(t, false,
		testutil.MakeLongTask("running", "photos").Phase(longtaskv1.PhaseRunning).Obj(),
		testutil.MakeLongTask("done", "photos").Phase(longtaskv1.PhaseSucceeded).Obj())
	const refresh = `<noscript><meta http-equiv="refresh" content="3"></noscript>`
	if _, body := get(t, ts.URL+"/tasks/photos/running"); !strings.Contains(body, refresh) {
		t.Errorf("a running task's page does not reload itself without JavaScript:\n%s", body)
	}
	if _, body := get(t, ts.URL+"/tasks/photos/done"); strings.Contains(body, "http-equiv") {
		t.Errorf("a finished task's page still reloads itself:\n%s", body)
	}
}
