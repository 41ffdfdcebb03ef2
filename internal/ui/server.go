// Package ui serves LongTask's web UI: a task list, a live progress bar for each task (pushed with
// server-sent events, with polling as the fallback), and the result or the error of a finished task.
package ui

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Server serves the UI from a cached view of the LongTasks.
type Server struct {
	// Reader reads LongTasks, from the cache whose changes are given to Notify.
	Reader client.Reader
	// Writer cancels tasks; nil makes the UI read-only.
	Writer client.Client
	// Namespace limits the UI to one namespace; empty for all.
	Namespace string
	// KeepAlive is how often an idle event stream gets a comment, so that proxies keep it open.
	KeepAlive time.Duration
	// NoPush refuses event streams, for proxies that break them: pages then poll.
	NoPush bool

	broker    *broker
	templates *template.Template
}

// NewServer returns a UI server; call Notify whenever a LongTask changes.
func NewServer(reader client.Reader, writer client.Client, namespace string) (*Server, error) {
	templates, err := template.New("").Funcs(template.FuncMap{"pathEscape": url.PathEscape}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	return &Server{Reader: reader, Writer: writer, Namespace: namespace, KeepAlive: 15 * time.Second, broker: newBroker(), templates: templates}, nil
}

// Notify tells the event streams of a task that it changed.
func (s *Server) Notify(key types.NamespacedName) { s.broker.publish(key) }

// Handler routes the UI's pages, its JSON API and its event streams.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", s.listPage)
	mux.HandleFunc("GET /tasks/{namespace}/{name}", s.taskPage)
	mux.HandleFunc("POST /tasks/{namespace}/{name}/cancel", s.cancel)
	mux.HandleFunc("GET /api/tasks", s.listJSON)
	mux.HandleFunc("GET /api/tasks/events", s.listEvents)
	mux.HandleFunc("GET /api/tasks/{namespace}/{name}", s.taskJSON)
	mux.HandleFunc("GET /api/tasks/{namespace}/{name}/events", s.events)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	return securityHeaders(mux)
}

// securityHeaders keeps pages to their own scripts and styles, so that nothing a task reports can run in
// a viewer's browser even if it got past the templates' escaping.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func (s *Server) taskPage(w http.ResponseWriter, r *http.Request) {
	task, ok := s.getOrError(w, r)
	if !ok {
		return
	}
	s.render(w, "task.html", map[string]any{"Task": task, "CanCancel": s.Writer != nil})
}

func (s *Server) taskJSON(w http.ResponseWriter, r *http.Request) {
	if task, ok := s.getOrError(w, r); ok {
		writeJSON(w, task)
	}
}

// cancel sets spec.cancel, as `kubectl patch` would. The API server's validation only lets cancel go from
// false to true, so the UI's patch permission can do nothing else to a spec.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	if s.Writer == nil {
		http.Error(w, "this UI is read-only", http.StatusForbidden)
		return
	}
	if !sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	key, ok := s.key(w, r)
	if !ok {
		return
	}
	task := &longtaskv1.LongTask{}
	task.Namespace, task.Name = key.Namespace, key.Name
	patch := client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cancel":true}}`))
	if err := s.Writer.Patch(r.Context(), task, patch, client.FieldOwner("longtask-ui")); err != nil {
		http.Error(w, fmt.Sprintf("cancelling %s: %v", key, err), statusOf(err))
		return
	}
	http.Redirect(w, r, "/tasks/"+url.PathEscape(key.Namespace)+"/"+url.PathEscape(key.Name), http.StatusSeeOther)
}

// sameOrigin refuses cross-site form posts. Browsers say where a request comes from in Sec-Fetch-Site,
// older ones in Origin; a request with neither is not a browser's, and so not a forged one.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" {
		return site == "same-origin"
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

func (s *Server) get(ctx context.Context, key types.NamespacedName) (taskView, error) {
	task := &longtaskv1.LongTask{}
	if err := s.Reader.Get(ctx, key, task); err != nil {
		return taskView{}, err
	}
	return newTaskView(task, time.Now()), nil
}

func (s *Server) getOrError(w http.ResponseWriter, r *http.Request) (taskView, bool) {
	key, ok := s.key(w, r)
	if !ok {
		return taskView{}, false
	}
	task, err := s.get(r.Context(), key)
	if err != nil {
		http.Error(w, fmt.Sprintf("LongTask %s: %v", key, err), statusOf(err))
		return taskView{}, false
	}
	return task, true
}

// key is the task a request names; tasks outside the UI's namespace are not found.
func (s *Server) key(w http.ResponseWriter, r *http.Request) (types.NamespacedName, bool) {
	key := types.NamespacedName{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	if s.Namespace != "" && key.Namespace != s.Namespace {
		http.Error(w, "not found", http.StatusNotFound)
		return key, false
	}
	return key, true
}

func (s *Server) render(w http.ResponseWriter, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.templates.ExecuteTemplate(w, name, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func statusOf(err error) int {
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code != 0 {
		return int(status.Status().Code)
	}
	return http.StatusInternalServerError
}
