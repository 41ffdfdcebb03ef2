package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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

// streamHeaders starts a server-sent event stream.
func streamHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
}

// events streams a task as server-sent events: the task at once, then after each change, until it
// finishes or the viewer leaves.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	if s.NoPush {
		http.Error(w, "event streams are turned off (--push=false): poll /api/tasks instead", http.StatusServiceUnavailable)
		return
	}
	key, ok := s.key(w, r)
	if !ok {
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	changed, unsubscribe := s.broker.subscribe(key)
	defer unsubscribe()
	task, err := s.get(r.Context(), key)
	if err != nil {
		http.Error(w, fmt.Sprintf("LongTask %s: %v", key, err), statusOf(err))
		return
	}
	streamHeaders(w)
	keepAlive := time.NewTicker(s.KeepAlive)
	defer keepAlive.Stop()
	for {
		data, err := json.Marshal(task)
		if err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "event: task\ndata: %s\n\n", data); err != nil {
			return
		}
		flusher.Flush()
		if task.Finished {
			return
		}
		if !waitForChange(r.Context(), w, flusher, keepAlive, changed) {
			return
		}
		if task, err = s.get(r.Context(), key); err != nil {
			fmt.Fprintf(w, "event: gone\ndata: {}\n\n")
			flusher.Flush()
			return
		}
	}
}

// listStreamInterval is the shortest time between two pages a list's stream sends: with thousands of
// tasks reporting, a page is worked out at most this often per open list, whatever the rate of changes.
const listStreamInterval = 500 * time.Millisecond

// listEvent is one page of the list, as its stream sends it.
type listEvent struct {
	Tasks []taskView `json:"tasks"`
	Total int        `json:"total"`
}

// listEvents streams a page of the list (the same query as the list page's) as server-sent events: the
// page at once, then again after a change to any task changed it, until the viewer leaves.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	if s.NoPush {
		http.Error(w, "event streams are turned off (--push=false): poll /api/tasks instead", http.StatusServiceUnavailable)
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming is not supported here", http.StatusInternalServerError)
		return
	}
	query := parseListQuery(r.URL.Query())
	changed, unsubscribe := s.broker.subscribeAll()
	defer unsubscribe()
	streamHeaders(w)
	keepAlive := time.NewTicker(s.KeepAlive)
	defer keepAlive.Stop()
	var last []byte
	for {
		page, err := s.list(r.Context(), query)
		if err != nil {
			return
		}
		data, err := json.Marshal(listEvent{Tasks: page.Tasks, Total: page.Total})
		if err != nil {
			return
		}
		if !bytes.Equal(data, last) {
			if _, err := fmt.Fprintf(w, "event: list\ndata: %s\n\n", data); err != nil {
				return
			}
			flusher.Flush()
			last = data
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(listStreamInterval):
		}
		if !waitForChange(r.Context(), w, flusher, keepAlive, changed) {
			return
		}
	}
}

// waitForChange waits for a change, keeping the stream open meanwhile with a comment at each tick of
// keepAlive; false when the viewer left.
func waitForChange(ctx context.Context, w http.ResponseWriter, flusher http.Flusher, keepAlive *time.Ticker, changed <-chan struct{}) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-keepAlive.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return false
			}
			flusher.Flush()
		case <-changed:
			return true
		}
	}
}
