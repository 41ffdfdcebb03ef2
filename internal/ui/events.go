package ui

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// broker tells the event streams of a task when it changed. Each subscriber has a channel of one: changes
// that come faster than a stream sends collapse into one, and the stream sends the task as it is then.
type broker struct {
	mu   sync.Mutex
	subs map[types.NamespacedName]map[chan struct{}]struct{}
}

func newBroker() *broker {
	return &broker{subs: map[types.NamespacedName]map[chan struct{}]struct{}{}}
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
	for ch := range b.subs[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
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
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
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
	wait:
		for {
			select {
			case <-r.Context().Done():
				return
			case <-keepAlive.C:
				if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
					return
				}
				flusher.Flush()
			case <-changed:
				break wait
			}
		}
		if task, err = s.get(r.Context(), key); err != nil {
			fmt.Fprintf(w, "event: gone\ndata: {}\n\n")
			flusher.Flush()
			return
		}
	}
}
