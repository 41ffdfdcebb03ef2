package ui

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// The defaults of the caps on open event streams (Options.MaxStreams, MaxStreamsPerViewer). A page
// holds one or two streams (a task's panel and log); a browser speaking HTTP/1.1 opens at most six
// connections to the UI, so twenty is a viewer with ten task pages open over HTTP/2.
const (
	DefaultMaxStreams          = 1000
	DefaultMaxStreamsPerViewer = 20
)

const (
	// streamRetryAfter is when a refused stream may be asked for again. A browser's EventSource does not
	// wait for it: the page polls instead (app.js), and a script may.
	streamRetryAfter = 30 * time.Second
	// streamWriteTimeout bounds each write to a stream, which the server's WriteTimeout does not: a
	// viewer whose browser stops reading loses the stream and its place under the caps.
	streamWriteTimeout = 30 * time.Second
)

// streamLimiter counts the open event streams, in all and of each viewer.
type streamLimiter struct {
	maxTotal, maxPerViewer int

	mu    sync.Mutex
	total int
	open  map[string]int
}

func newStreamLimiter(maxTotal, maxPerViewer int) *streamLimiter {
	if maxTotal <= 0 {
		maxTotal = DefaultMaxStreams
	}
	if maxPerViewer <= 0 {
		maxPerViewer = DefaultMaxStreamsPerViewer
	}
	return &streamLimiter{maxTotal: maxTotal, maxPerViewer: maxPerViewer, open: map[string]int{}}
}

// acquire takes a place for a stream of viewer, and returns the function that gives it back; or, when
// there is none, the status to refuse the stream with and why.
func (l *streamLimiter) acquire(viewer string) (release func(), status int, why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[viewer] >= l.maxPerViewer {
		return nil, http.StatusTooManyRequests, fmt.Sprintf("you have %d event streams open, the most this UI allows one viewer "+
			"(--max-streams-per-viewer): close a page, or let this one poll", l.maxPerViewer)
	}
	if l.total >= l.maxTotal {
		return nil, http.StatusServiceUnavailable, fmt.Sprintf("this UI has %d event streams open, the most it allows "+
			"(--max-streams): the page polls instead", l.maxTotal)
	}
	l.open[viewer]++
	l.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.open[viewer]--; l.open[viewer] == 0 {
				delete(l.open, viewer)
			}
		})
	}, 0, ""
}

// eventStream is an open server-sent event stream.
type eventStream struct {
	w       http.ResponseWriter
	flusher http.Flusher
	// ctx ends when the viewer leaves, or may no longer see what the stream shows (watchAccess).
	ctx context.Context
	// close gives the stream's place under the caps back; call it when the stream ends.
	close func()
}

// openStream starts a server-sent event stream for v, or answers why it cannot: streams are turned off,
// or v, or the UI, has as many open as it may. res is what v was allowed to see it for, asked again while
// it is open; nil when the stream shows only what v may list, which it asks on each page.
//
// A stream lives longer than the server's ReadTimeout and WriteTimeout, so it lifts their deadlines for
// its connection and bounds each write instead (writeEvent). It sends its header at once, so that the
// browser knows it is open before the first event.
func (s *Server) openStream(w http.ResponseWriter, r *http.Request, v viewer, res *resource) (*eventStream, bool) {
	if s.opts.NoPush {
		http.Error(w, "event streams are turned off (--push=false): poll instead", http.StatusServiceUnavailable)
		return nil, false
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return nil, false
	}
	release, status, why := s.streams.acquire(v.Name())
	if release == nil {
		w.Header().Set("Retry-After", strconv.Itoa(int(streamRetryAfter.Seconds())))
		http.Error(w, why, status)
		return nil, false
	}
	// Not every ResponseWriter has deadlines (a test's recorder); one without has none to lift.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	ctx, cancel := context.WithCancel(r.Context())
	if s.opts.Auth == AuthToken {
		go s.watchAccess(ctx, cancel, v, res)
	}
	return &eventStream{w: w, flusher: flusher, ctx: ctx, close: func() { cancel(); release() }}, true
}

// send sends one event.
func (e *eventStream) send(event, data string) error { return writeEvent(e.w, e.flusher, event, data) }

// watchAccess ends a stream (end) when its viewer's access does: when their sign-in's cookie ends, and
// when, asked again every review period (the cache's, so that the answer is at most that old), the API
// server no longer accepts their token or lets them see res. Otherwise a viewer whose ServiceAccount was
// deleted, or whose sign-in ended, went on receiving a stream opened before. The browser's EventSource
// then reconnects, with the cookie the page has renewed meanwhile (app.js), or is refused.
func (s *Server) watchAccess(ctx context.Context, end context.CancelFunc, v viewer, res *resource) {
	defer end()
	clock := s.opts.Clock
	var expired <-chan time.Time
	if !v.session.expires.IsZero() {
		timer := clock.NewTimer(v.session.expires.Sub(clock.Now()))
		defer timer.Stop()
		expired = timer.C()
	}
	recheck := clock.NewTimer(s.auth.ttl)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expired:
			return
		case <-recheck.C():
			if !s.stillAllowed(ctx, v, res) {
				return
			}
			recheck.Reset(s.auth.ttl)
		}
	}
}

// stillAllowed asks again whether the API server accepts v's token, as the same user, and lets v see
// res. An API server that cannot answer ends no stream: the last answer, at most a review period old,
// stands, as it does for every request meanwhile.
func (s *Server) stillAllowed(ctx context.Context, v viewer, res *resource) bool {
	user, ok, err := s.auth.review(ctx, v.token)
	if err != nil {
		return true
	}
	if !ok || user.UID != v.user.UID || user.Username != v.user.Username {
		return false
	}
	if res == nil {
		return true
	}
	allowed, err := s.auth.may(ctx, v, *res)
	return err != nil || allowed
}
