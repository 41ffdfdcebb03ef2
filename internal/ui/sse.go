package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// broker tells the event streams of a task when it changed, and the list's streams when any task did.
// Each subscriber has a channel of one: changes that come faster than a stream sends collapse into one,
// and the stream sends what it shows as it is then.
type broker struct {
	mu   sync.Mutex
	subs map[types.NamespacedName]map[chan struct{}]struct{}
	// all are the subscribers to every task's changes.
	all map[chan struct{}]struct{}
}

func newBroker() *broker {
	return &broker{subs: map[types.NamespacedName]map[chan struct{}]struct{}{}, all: map[chan struct{}]struct{}{}}
}

// subscribeAll subscribes to the changes of every task.
func (b *broker) subscribeAll() (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.all[ch] = struct{}{}
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.all, ch)
	}
}

func (b *broker) subscribe(key types.NamespacedName) (chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[key] == nil {
		b.subs[key] = map[chan struct{}]struct{}{}
	}
	b.subs[key][ch] = struct{}{}
	return ch, func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs[key], ch)
		if len(b.subs[key]) == 0 {
			delete(b.subs, key)
		}
	}
}

func (b *broker) publish(key types.NamespacedName) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, subs := range []map[chan struct{}]struct{}{b.subs[key], b.all} {
		for ch := range subs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// wantsStream says whether the request is an EventSource's, which asks for text/event-stream: a page's
// URL then streams the page's live part.
func wantsStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// lineBreaks are the ends of a line in an event stream: a browser ends a field at any of them.
var lineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n")

// writeEvent sends one server-sent event; data may span lines. Each line of data is a data field of its
// own, whichever break ended it: a \r left in a field would end it, and what follows, a task's output,
// would be read as fields of the stream (event: end).
func writeEvent(w http.ResponseWriter, flusher http.Flusher, event, data string) error {
	var b strings.Builder
	b.WriteString("event: " + event + "\n")
	for _, line := range strings.Split(lineBreaks.Replace(data), "\n") {
		b.WriteString("data: " + line + "\n")
	}
	b.WriteString("\n")
	return writeStream(w, flusher, b.String())
}

// writeStream writes to an event stream and sends it on, within streamWriteTimeout.
func writeStream(w http.ResponseWriter, flusher http.Flusher, text string) error {
	// Not every ResponseWriter has deadlines (a test's recorder); one without cannot be stalled.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := io.WriteString(w, text); err != nil {
		return err
	}
	flusher.Flush()
	return nil
}

// events streams a task as JSON server-sent events, for scripts: the task at once, then after each change,
// until it finishes or the viewer leaves.
func (s *Server) events(w http.ResponseWriter, r *http.Request, v viewer) {
	key, ok := s.key(w, r)
	if !ok || !s.allow(w, r, v, longtasks("get", key.Namespace)) {
		return
	}
	s.stream(w, r, v, key, "task", func(task taskView) (string, error) {
		data, err := json.Marshal(task)
		return string(data), err
	})
}

// stream sends the task as event, rendered by render: at once, then after each change, until the task
// finishes, the viewer leaves, or may no longer see it.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, v viewer, key types.NamespacedName, event string, render func(taskView) (string, error)) {
	changed, unsubscribe := s.broker.subscribe(key)
	defer unsubscribe()
	task, err := s.get(r.Context(), key)
	if err != nil {
		http.Error(w, fmt.Sprintf("LongTask %s: %v", key, err), statusOf(err))
		return
	}
	res := longtasks("get", key.Namespace)
	stream, ok := s.openStream(w, r, v, &res)
	if !ok {
		return
	}
	defer stream.close()
	keepAlive := time.NewTicker(s.opts.KeepAlive)
	defer keepAlive.Stop()
	for {
		data, err := render(task)
		if err != nil || stream.send(event, data) != nil {
			return
		}
		if task.Finished {
			return
		}
		if !waitForChange(stream, keepAlive, changed) {
			return
		}
		if task, err = s.get(stream.ctx, key); err != nil {
			_ = stream.send("gone", "{}")
			return
		}
	}
}

// listStreamInterval is the shortest time between two pages a list's stream sends: with thousands of
// tasks reporting, a page is worked out at most this often per open list, whatever the rate of changes.
const listStreamInterval = 500 * time.Millisecond

// listEvent is one page of the list, as its JSON stream sends it.
type listEvent struct {
	Tasks []taskView `json:"tasks"`
	Total int        `json:"total"`
}

// listEvents streams a page of the list (the same query as the list page's) as JSON server-sent events,
// for scripts.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, v viewer) {
	s.streamList(w, r, v, "list", func(page listPage) (string, error) {
		data, err := json.Marshal(listEvent{Tasks: page.Tasks, Total: page.Total})
		return string(data), err
	})
}

// streamList sends a page of the list, rendered by render: at once, then again after a change to any task
// changed it, until the viewer leaves.
func (s *Server) streamList(w http.ResponseWriter, r *http.Request, v viewer, event string, render func(listPage) (string, error)) {
	query := parseListQuery(r.URL.Query())
	changed, unsubscribe := s.broker.subscribeAll()
	defer unsubscribe()
	// Each page shows only the namespaces the viewer may list, asked again for each.
	stream, ok := s.openStream(w, r, v, nil)
	if !ok {
		return
	}
	defer stream.close()
	keepAlive := time.NewTicker(s.opts.KeepAlive)
	defer keepAlive.Stop()
	var last string
	for {
		page, err := s.list(stream.ctx, v, query)
		if err != nil {
			return
		}
		data, err := render(page)
		if err != nil {
			return
		}
		if data != last {
			if stream.send(event, data) != nil {
				return
			}
			last = data
		}
		select {
		case <-stream.ctx.Done():
			return
		case <-time.After(listStreamInterval):
		}
		if !waitForChange(stream, keepAlive, changed) {
			return
		}
	}
}

// waitForChange waits for a change, keeping the stream open meanwhile with a comment at each tick of
// keepAlive; false when the stream ended.
func waitForChange(stream *eventStream, keepAlive *time.Ticker, changed <-chan struct{}) bool {
	for {
		select {
		case <-stream.ctx.Done():
			return false
		case <-keepAlive.C:
			if writeStream(stream.w, stream.flusher, ": keep-alive\n\n") != nil {
				return false
			}
		case <-changed:
			return true
		}
	}
}
