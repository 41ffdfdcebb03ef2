// Package ui serves LongTask's web UI: a task list, a live progress bar and log for each task (pushed with
// server-sent events, with polling as the fallback), the result or the error of a finished task, and forms
// that start tasks from LongTaskTemplates. Pages are rendered on the server from one set of templates;
// the script only swaps in the fragments the server sends, so every page also works without it.
package ui

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure the UI: New uses them all, NewServer those of the server.
type Options struct {
	// Namespace limits the UI to one namespace; empty for all.
	Namespace string
	// ReadOnly hides the forms that start and cancel tasks, and refuses their requests.
	ReadOnly bool
	// Auth says how the UI knows who is looking; with New, DefaultAuth(BindAddress) when empty, and
	// AuthNone with NewServer.
	Auth AuthMode
	// AllowedHosts are the names, besides localhost, 127.0.0.1 and [::1], that a UI with AuthNone answers
	// to (hosts.go).
	AllowedHosts []string
	// SessionKey seals session cookies and signs CSRF tokens (SessionKey reads it from a Secret); without
	// one the UI makes its own when it starts, and a restart signs every viewer out.
	SessionKey []byte
	// ReviewTTL is how long answers of TokenReview and SubjectAccessReview are kept, and how often an open
	// event stream asks again; reviewTTL when zero.
	ReviewTTL time.Duration
	// MaxStreams caps the event streams open at once, and MaxStreamsPerViewer those of one viewer (with
	// AuthNone everyone is one viewer); past them a stream is refused and the page polls. Zero for the
	// defaults, DefaultMaxStreams and DefaultMaxStreamsPerViewer.
	MaxStreams, MaxStreamsPerViewer int
	// NoPush refuses event streams, for proxies that break them: pages then poll.
	NoPush bool
	// KeepAlive is how often an idle event stream gets a comment, so that proxies keep it open; 15 s when
	// zero.
	KeepAlive time.Duration
	// Clock tells the time of sign-ins and of their end; the real clock when nil.
	Clock clock.Clock

	// The UI's clients, which New makes from its config and NewServer needs. Reader reads LongTasks and
	// LongTaskTemplates, from the cache whose changes are given to Notify. Client and Kube are the UI's
	// own access to the API server: with AuthNone the UI starts and cancels tasks and reads logs and
	// events with them; with AuthToken it only asks TokenReview and SubjectAccessReview with Kube, and
	// acts with each viewer's own token. Config is copied without its credentials to act with a viewer's
	// token; needed with AuthToken.
	Reader client.Reader
	Client client.Client
	Kube   kubernetes.Interface
	Config *rest.Config

	// Only New's: where the UI is served (BindAddress, with TLS when TLSCertFile and TLSKeyFile are given;
	// a port of 0 picks a free one, which App.URL tells), where its health probe is (empty for none), and
	// the Secret it reads SessionKey from, [NAMESPACE/]NAME, in $POD_NAMESPACE when no namespace is given.
	BindAddress, HealthProbeBindAddress string
	TLSCertFile, TLSKeyFile             string
	SessionSecret                       string
}

// defaultKeepAlive is Options.KeepAlive's default.
const defaultKeepAlive = 15 * time.Second

// Server serves the UI from a cached view of the LongTasks and LongTaskTemplates.
type Server struct {
	opts      Options
	auth      *auth
	broker    *broker
	streams   *streamLimiter
	templates *template.Template
}

// NewServer returns a UI server; call Notify whenever a LongTask changes.
func NewServer(opts Options) (*Server, error) {
	if opts.Auth == "" {
		opts.Auth = AuthNone
	}
	if opts.Auth == AuthToken && opts.Config == nil {
		return nil, errors.New("--auth=token needs the API server's address to act with viewers' tokens")
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = defaultKeepAlive
	}
	a, err := newAuth(opts.Auth, opts.Kube, opts.SessionKey, opts.Clock)
	if err != nil {
		return nil, err
	}
	templates, err := template.New("").Funcs(template.FuncMap{"pathEscape": url.PathEscape}).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	if opts.ReviewTTL > 0 {
		a.ttl = opts.ReviewTTL
	}
	return &Server{opts: opts, auth: a, broker: newBroker(),
		streams: newStreamLimiter(opts.MaxStreams, opts.MaxStreamsPerViewer), templates: templates}, nil
}

// Notify tells the event streams of a task that it changed.
func (s *Server) Notify(key types.NamespacedName) { s.broker.publish(key) }

// Handler routes the UI's pages, its forms, its JSON API and its event streams.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /signin", s.signInPage)
	mux.HandleFunc("POST /signin", s.signIn)
	mux.HandleFunc("POST /signout", s.signOut)
	mux.Handle("GET /api/session", s.viewing(s.keepSignedIn))

	mux.Handle("GET /{$}", s.viewing(s.listPage))
	mux.Handle("GET /templates", s.viewing(s.templatesPage))
	mux.Handle("GET /templates/{namespace}/{name}", s.viewing(s.templatePage))
	mux.Handle("POST /templates/{namespace}/{name}", s.viewing(s.start))
	mux.Handle("GET /tasks/{namespace}/{name}", s.viewing(s.taskPage))
	mux.Handle("GET /tasks/{namespace}/{name}/log", s.viewing(s.log))
	mux.Handle("POST /tasks/{namespace}/{name}/cancel", s.viewing(s.cancel))
	mux.Handle("GET /api/tasks", s.viewing(s.listJSON))
	mux.Handle("GET /api/tasks/events", s.viewing(s.listEvents))
	mux.Handle("GET /api/tasks/{namespace}/{name}", s.viewing(s.taskJSON))
	mux.Handle("GET /api/tasks/{namespace}/{name}/events", s.viewing(s.events))
	if s.opts.Auth == AuthNone {
		return securityHeaders(onlyOwnHosts(s.opts.AllowedHosts, mux))
	}
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

// viewing runs h for a signed-in viewer. Anyone else is sent to the sign-in page, or, for the API, the
// event streams and the forms, refused with 401: none of them shows a nobody anything.
func (s *Server) viewing(h func(http.ResponseWriter, *http.Request, viewer)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok, err := s.auth.viewerOf(r)
		if err != nil {
			reviewFailed(w, err)
			return
		}
		if !ok {
			if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") && !wantsStream(r) && r.URL.Query().Get("part") == "" {
				// No body: it would only repeat the address the visitor asked for.
				w.Header().Set("Location", "/signin?next="+url.QueryEscape(r.URL.RequestURI()))
				w.WriteHeader(http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first: send a Kubernetes bearer token in Authorization, or sign in at /signin", http.StatusUnauthorized)
			return
		}
		v = s.auth.renewSession(w, v)
		if r.Method == http.MethodPost {
			if err := s.checkPost(r, v); err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
				return
			}
		}
		h(w, r, v)
	})
}

// reviewUnavailable is what a visitor is told when the API server could not say whose their token is.
const reviewUnavailable = "The UI cannot check sign-ins with the API server right now: try again in a moment."

// reviewFailed answers 503 to a request whose token TokenReview could not check, and logs why. The
// visitor is anonymous until the token is accepted, and the API server's error may tell of the cluster.
func reviewFailed(w http.ResponseWriter, err error) {
	ctrl.Log.WithName("ui").Error(err, "Checking a token failed")
	http.Error(w, reviewUnavailable, http.StatusServiceUnavailable)
}

// checkPost refuses a form post from another site, or without the page's CSRF token.
func (s *Server) checkPost(r *http.Request, v viewer) error {
	if !sameOrigin(r) {
		return errors.New("cross-site request refused")
	}
	return s.auth.checkCSRF(r, v)
}

// sameOrigin refuses cross-site form posts. Browsers say where a request comes from in Sec-Fetch-Site,
// older ones in Origin.
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

// allow answers 403, saying what is missing, unless the viewer may do what res says.
func (s *Server) allow(w http.ResponseWriter, r *http.Request, v viewer, res resource) bool {
	allowed, err := s.auth.may(r.Context(), v, res)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return false
	}
	if !allowed {
		http.Error(w, fmt.Sprintf("%s may not %s", v.Name(), res), http.StatusForbidden)
	}
	return allowed
}

// longtasks is res on LongTasks in a namespace.
func longtasks(verb, namespace string) resource {
	return resource{verb: verb, group: longtaskv1.GroupVersion.Group, resource: "longtasks", namespace: namespace}
}

// key is the object a request names; objects outside the UI's namespace are not found.
func (s *Server) key(w http.ResponseWriter, r *http.Request) (types.NamespacedName, bool) {
	key := types.NamespacedName{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	if s.opts.Namespace != "" && key.Namespace != s.opts.Namespace {
		http.Error(w, "not found", http.StatusNotFound)
		return key, false
	}
	return key, true
}

// page is what every page shows besides its own view: who is signed in, and the token its forms carry.
type page struct {
	Title string
	// Viewer is the signed-in viewer's name; empty with --auth=none.
	Viewer string
	CSRF   string
	// CanAct says whether the UI starts and cancels tasks (not --read-only).
	CanAct bool
	// Refresh reloads a page that changes, every so many seconds, in a browser without JavaScript.
	Refresh int
	View    any
}

func (s *Server) newPage(w http.ResponseWriter, r *http.Request, v viewer, title string, view any) page {
	p := page{Title: title, CSRF: s.auth.csrfToken(w, r, v), CanAct: !s.opts.ReadOnly, View: view}
	if s.opts.Auth == AuthToken {
		p.Viewer = v.Name()
	}
	return p
}

func (s *Server) render(w http.ResponseWriter, status int, name string, data any) {
	var b bytes.Buffer
	if err := s.templates.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// fragment renders a named part of a page, for the script to swap in.
func (s *Server) fragment(name string, data any) (string, error) {
	var b strings.Builder
	err := s.templates.ExecuteTemplate(&b, name, data)
	return b.String(), err
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
