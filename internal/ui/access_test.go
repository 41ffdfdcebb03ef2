package ui

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// streamPaths are the UI's event streams of a running task: its page's panel and log, its JSON, and the
// list's page and JSON.
var streamPaths = []string{
	"/tasks/photos/resize",
	"/tasks/photos/resize/log",
	"/api/tasks/photos/resize/events",
	"/?namespace=photos",
	"/api/tasks/events",
}

// An open event stream asks again, every review period, whether the API server still accepts the
// viewer's token and still lets them see the task, and ends when it does not: a deleted ServiceAccount,
// or a removed RoleBinding, kept receiving a stream opened before.
func TestEventStreamsEndWhenTheViewersAccessEnds(t *testing.T) {
	for name, revoke := range map[string]func(*reviewer){
		"the token is refused":      func(rv *reviewer) { delete(rv.users, "alice") },
		"the viewer may not see it": func(rv *reviewer) { rv.denied["alice"] = true },
	} {
		for _, path := range streamPaths {
			t.Run(name+" "+path, func(t *testing.T) {
				if name == "the viewer may not see it" && (path == "/?namespace=photos" || path == "/api/tasks/events") {
					t.Skip("a list shows only the namespaces the viewer may list, asked again on each page")
				}
				rv := newReviewer("alice")
				_, ts := newTokenServer(t, rv, Options{ReviewTTL: 50 * time.Millisecond},
					testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Obj())
				status, _, s := openEventStream(t, ts.URL+path, bearer("alice"))
				if s == nil {
					t.Fatalf("opening the stream: %d", status)
				}
				if s.ends(300 * time.Millisecond) {
					t.Fatal("the stream ended while the viewer may still see it")
				}
				rv.set(revoke)
				if !s.ends(5 * time.Second) {
					t.Error("the stream went on after the viewer's access ended")
				}
			})
		}
	}
}

// An event stream opened with a session cookie ends when the cookie does: a sign-in that ended, or a
// copied cookie that nobody renews, kept receiving. The page's script renews the browser's cookie on its
// own (app.js), so that its EventSource reconnects with it.
func TestEventStreamsEndWhenTheSessionDoes(t *testing.T) {
	for _, path := range streamPaths {
		t.Run(path, func(t *testing.T) {
			clock := clocktesting.NewFakeClock(time.Now())
			rv := newReviewer("alice")
			s, ts := newTokenServer(t, rv, Options{Clock: clock},
				testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseRunning).Obj())
			session := newSession("alice", clock.Now())
			cookie := map[string]string{"Cookie": sessionCookie + "=" + s.auth.seal(session)}
			status, _, stream := openEventStream(t, ts.URL+path, cookie)
			if stream == nil {
				t.Fatalf("opening the stream: %d", status)
			}
			waitFor(t, "the stream's timers", clock.HasWaiters)
			clock.Step(session.expires.Sub(clock.Now()) - time.Second)
			if stream.ends(300 * time.Millisecond) {
				t.Fatal("the stream ended before the session did")
			}
			clock.Step(time.Second)
			if !stream.ends(5 * time.Second) {
				t.Error("the stream went on after the session ended")
			}
		})
	}
}

// ends says whether the server ends the stream within wait, whatever events come before.
func (s *stream) ends(wait time.Duration) bool {
	deadline := time.After(wait)
	for {
		select {
		case _, ok := <-s.events:
			if !ok {
				return true
			}
		case <-deadline:
			return false
		}
	}
}
