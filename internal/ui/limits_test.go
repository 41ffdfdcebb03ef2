package ui

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// reviewer is a fake API server's TokenReview and SubjectAccessReview: it knows the tokens in users (each
// the token of the user of that name), allows whoever denied does not name, fails TokenReview with err
// when set, and counts the TokenReviews it was asked.
type reviewer struct {
	mu           sync.Mutex
	users        map[string]bool
	denied       map[string]bool
	err          error
	tokenReviews int
}

func newReviewer(users ...string) *reviewer {
	rv := &reviewer{users: map[string]bool{}, denied: map[string]bool{}}
	for _, u := range users {
		rv.users[u] = true
	}
	return rv
}

// set changes what the fake API server answers from now on.
func (rv *reviewer) set(change func(*reviewer)) {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	change(rv)
}

func (rv *reviewer) count() int {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.tokenReviews
}

func (rv *reviewer) kube() *kubefake.Clientset {
	kube := kubefake.NewClientset()
	kube.PrependReactor("create", "tokenreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		rv.mu.Lock()
		defer rv.mu.Unlock()
		rv.tokenReviews++
		if rv.err != nil {
			return true, nil, rv.err
		}
		review := action.(k8stesting.CreateAction).GetObject().(*authenticationv1.TokenReview)
		if rv.users[review.Spec.Token] {
			review.Status = authenticationv1.TokenReviewStatus{Authenticated: true,
				User: authenticationv1.UserInfo{Username: review.Spec.Token, UID: review.Spec.Token + "-uid"}}
		}
		return true, review, nil
	})
	kube.PrependReactor("create", "subjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
		rv.mu.Lock()
		defer rv.mu.Unlock()
		review := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		review.Status.Allowed = !rv.denied[review.Spec.User]
		return true, review, nil
	})
	return kube
}

// newTokenServer serves a UI with --auth=token whose API server is rv, holding objects.
func newTokenServer(t *testing.T, rv *reviewer, opts Options, objects ...client.Object) (*Server, *httptest.Server) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objects...).WithStatusSubresource(&longtaskv1.LongTask{}).Build()
	opts.Auth, opts.Reader, opts.Client, opts.Kube, opts.Config = AuthToken, c, c, rv.kube(), &rest.Config{Host: "https://api.invalid"}
	opts.KeepAlive = time.Hour
	s, err := NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, ts
}

// stream is an event stream a test opened.
type stream struct {
	body   io.Closer
	events chan sseEvent
}

// openEventStream asks for an event stream with the given headers, as an EventSource would, and returns
// the answer's status and header; the stream is nil when the server refused it.
func openEventStream(t *testing.T, url string, header map[string]string) (int, http.Header, *stream) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, resp.Header, nil
	}
	s := &stream{body: resp.Body, events: make(chan sseEvent, 100)}
	go func() {
		defer close(s.events)
		var raw strings.Builder
		scanner := bufio.NewScanner(resp.Body)
		scanner.Buffer(make([]byte, 1<<20), 1<<20)
		for scanner.Scan() {
			raw.WriteString(scanner.Text() + "\n")
			if scanner.Text() == "" {
				for _, e := range parseSSE(raw.String()) {
					s.events <- e
				}
				raw.Reset()
			}
		}
	}()
	return resp.StatusCode, resp.Header, s
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

// A viewer may hold so many event streams open, and the UI so many in all; past that a stream is refused
// with a status and a Retry-After, and the page polls instead (app.js, on any refused EventSource).
func TestEventStreamsAreCappedPerViewerAndInAll(t *testing.T) {
	rv := newReviewer("alice", "bob", "carol")
	_, ts := newTokenServer(t, rv, Options{MaxStreams: 2, MaxStreamsPerViewer: 1},
		testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Obj())
	url := ts.URL + "/api/tasks/photos/resize/events"

	status, _, alices := openEventStream(t, url, bearer("alice"))
	if alices == nil {
		t.Fatalf("alice's first stream: %d", status)
	}
	for _, tc := range []struct {
		who  string
		want int
	}{
		{who: "alice", want: http.StatusTooManyRequests},
		{who: "bob", want: http.StatusOK},
		{who: "carol", want: http.StatusServiceUnavailable},
	} {
		status, header, _ := openEventStream(t, url, bearer(tc.who))
		if status != tc.want {
			t.Errorf("%s's stream with alice's open and the caps 1 each, 2 in all: %d, want %d", tc.who, status, tc.want)
		}
		if tc.want != http.StatusOK && header.Get("Retry-After") == "" {
			t.Errorf("%s's refused stream has no Retry-After", tc.who)
		}
	}
	// The pages and their polling are not streams, and are not capped.
	if code, _, _ := requestAs(t, ts.URL+"/tasks/photos/resize?part=panel", "alice"); code != http.StatusOK {
		t.Errorf("alice's poll with her stream open: %d, want 200", code)
	}
	// A stream that ends gives its place back.
	_ = alices.body.Close()
	waitFor(t, "alice's place back", func() bool {
		status, _, s := openEventStream(t, url, bearer("alice"))
		if s != nil {
			_ = s.body.Close()
		}
		return status == http.StatusOK
	})
}

// A token the API server refused is refused again from the cache, without asking it, for the cache's
// period: a visitor trying tokens costs the API server one review per token, not one per request.
func TestARefusedTokenIsNotReviewedAgain(t *testing.T) {
	rv := newReviewer("alice")
	_, ts := newTokenServer(t, rv, Options{})
	for range 3 {
		if code, _, _ := requestAs(t, ts.URL+"/api/tasks", "mallory"); code != http.StatusUnauthorized {
			t.Fatalf("GET /api/tasks with a token the API server refuses: %d, want 401", code)
		}
	}
	if got := rv.count(); got != 1 {
		t.Errorf("three requests with one refused token made %d TokenReviews, want 1", got)
	}
}

// What the API server says when TokenReview fails is for the UI's log, not for whoever sent a token:
// before the token is accepted, the visitor is anonymous.
func TestTokenReviewErrorsAreNotShownToVisitors(t *testing.T) {
	rv := newReviewer("alice")
	_, ts := newTokenServer(t, rv, Options{})
	const detail = "etcdserver: request timed out, cluster internal address 10.0.0.3:2379"
	rv.set(func(rv *reviewer) { rv.err = errors.New(detail) })

	code, body, _ := requestAs(t, ts.URL+"/api/tasks", "alice")
	if code != http.StatusServiceUnavailable || strings.Contains(body, "etcdserver") || strings.Contains(body, "10.0.0.3") {
		t.Errorf("GET /api/tasks while TokenReview fails: %d %q; want 503 without the API server's error", code, body)
	}

	csrf, token := csrfFor(t, ts.URL+"/signin")
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/signin", strings.NewReader(url.Values{"csrf": {token}, "token": {"alice"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(csrf)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(string(b), "etcdserver") || strings.Contains(string(b), "10.0.0.3") {
		t.Errorf("the sign-in form, while TokenReview fails, shows the API server's error:\n%s", b)
	}
	if !strings.Contains(string(b), "try again") {
		t.Errorf("the sign-in form, while TokenReview fails, does not say to try again:\n%s", b)
	}
}

// requestAs sends GET url with token as a bearer token, and returns the status, the body and the headers.
func requestAs(t *testing.T, url, token string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// waitFor polls done for up to 10 s.
func waitFor(t *testing.T, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if done() {
			return
		}
	}
	t.Fatalf("waiting for %s: not within 10s", what)
}

// The UI's server bounds how long a client may take to send a request and to take its answer, and how
// long an idle connection stays; an event stream outlives those bounds, which would end it.
func TestEventStreamsOutliveTheServersTimeouts(t *testing.T) {
	task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Progress(1, 4, "").Obj()
	s, c, _ := newTestServer(t, false, task)
	srv := newHTTPServer(s.Handler())
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.WriteTimeout <= 0 || srv.IdleTimeout <= 0 {
		t.Errorf("the UI's server has timeouts: read header %s, read %s, write %s, idle %s; want all",
			srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout)
	}
	// The same server with its timeouts made short, so that the stream lasts longer than them.
	srv.ReadTimeout, srv.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	ts := httptest.NewUnstartedServer(nil)
	ts.Config = srv
	ts.Start()
	t.Cleanup(ts.Close)

	next, _ := openStream[taskView](t, ts.URL+"/api/tasks/photos/resize/events")
	next()
	time.Sleep(500 * time.Millisecond)
	key := client.ObjectKeyFromObject(task)
	current := &longtaskv1.LongTask{}
	if err := c.Get(t.Context(), key, current); err != nil {
		t.Fatal(err)
	}
	current.Status.Progress.Current, current.Status.Progress.Summary = 3, "3/4 (75%)"
	if err := c.Status().Update(t.Context(), current); err != nil {
		t.Fatal(err)
	}
	s.Notify(key)
	if v := next(); v.Summary != "3/4 (75%)" {
		t.Errorf("the event after the server's timeouts %q, want 3/4 (75%%)", v.Summary)
	}
}
