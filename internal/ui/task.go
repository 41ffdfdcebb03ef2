package ui

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasks"
)

// actAs returns clients that act as the viewer: with AuthToken they carry the viewer's token and none of
// the UI's own credentials, so that the API server's RBAC and audit log see the person.
func (s *Server) actAs(v viewer) (client.Client, kubernetes.Interface, error) {
	if s.opts.Auth != AuthToken {
		return s.opts.Client, s.opts.Kube, nil
	}
	config := rest.AnonymousClientConfig(s.opts.Config)
	config.BearerToken = v.token
	c, err := client.New(config, client.Options{Scheme: s.opts.Client.Scheme(), Mapper: s.opts.Client.RESTMapper()})
	if err != nil {
		return nil, nil, err
	}
	kube, err := kubernetes.NewForConfig(config)
	return c, kube, err
}

// taskPage is the task's page. Its panel (progress, result, error, history) is the same fragment its
// stream sends; asked for with part=panel it is only that fragment, for pages that poll.
func (s *Server) taskPage(w http.ResponseWriter, r *http.Request, v viewer) {
	key, ok := s.key(w, r)
	if !ok || !s.allow(w, r, v, longtasks("get", key.Namespace)) {
		return
	}
	if wantsStream(r) {
		s.streamPanel(w, r, v, key)
		return
	}
	task, err := s.get(r.Context(), key)
	if err != nil {
		http.Error(w, fmt.Sprintf("LongTask %s: %v", key, err), statusOf(err))
		return
	}
	panel := s.panel(r.Context(), v, task)
	if r.URL.Query().Get("part") == "panel" {
		s.render(w, http.StatusOK, "task-panel", s.newPage(w, r, v, task.Name, panel))
		return
	}
	// The newest attempt's pod, which the panel already read, is the one whose output the page shows.
	newest := ""
	if n := len(panel.Attempts); n > 0 {
		newest = panel.Attempts[n-1].Pod
	}
	log := s.tail(r.Context(), v, key.Namespace, newest)
	panel.Log = &log
	p := s.newPage(w, r, v, task.Name, panel)
	if !task.Finished {
		p.Refresh = 3
	}
	s.render(w, http.StatusOK, "task.html", p)
}

func (s *Server) taskJSON(w http.ResponseWriter, r *http.Request, v viewer) {
	key, ok := s.key(w, r)
	if !ok || !s.allow(w, r, v, longtasks("get", key.Namespace)) {
		return
	}
	task, err := s.get(r.Context(), key)
	if err != nil {
		http.Error(w, fmt.Sprintf("LongTask %s: %v", key, err), statusOf(err))
		return
	}
	writeJSON(w, task)
}

func (s *Server) get(ctx context.Context, key types.NamespacedName) (taskView, error) {
	task := &longtaskv1.LongTask{}
	if err := s.opts.Reader.Get(ctx, key, task); err != nil {
		return taskView{}, err
	}
	return newTaskView(task, time.Now()), nil
}

// taskPanel is what the task's panel shows: the task, and what the API server says happened to it.
type taskPanel struct {
	Task taskView
	// Attempts are the task's pods, oldest first; Events are the task's Events, oldest first.
	Attempts []attemptView
	Events   []eventView
	// HistoryNote says why the attempts or the events are not shown, when they are not.
	HistoryNote string
	// Log is the task's output as the page first shows it; the panel's updates leave it out.
	Log *logView
}

type attemptView struct {
	Pod, Phase, Started, Ended, Outcome string
}

type eventView struct {
	Type, Reason, Message, Age string
}

// panel gathers what the task's panel shows. The attempts and the events are read as the viewer: one who
// may not list pods or events sees the task without them, and why.
func (s *Server) panel(ctx context.Context, v viewer, task taskView) taskPanel {
	p := taskPanel{Task: task}
	_, kube, err := s.actAs(v)
	if err != nil {
		p.HistoryNote = err.Error()
		return p
	}
	var notes []string
	if pods, err := tasks.Pods(ctx, kube, task.object); err != nil {
		notes = append(notes, "attempts: "+err.Error())
	} else {
		p.Attempts = attemptsOf(pods)
	}
	selector := fields.Set{"involvedObject.kind": "LongTask", "involvedObject.name": task.Name}.AsSelector().String()
	events, err := kube.CoreV1().Events(task.Namespace).List(ctx, metav1.ListOptions{FieldSelector: selector})
	if err != nil {
		notes = append(notes, "events: "+err.Error())
	} else {
		p.Events = eventsOf(events.Items, time.Now())
	}
	p.HistoryNote = strings.Join(notes, "; ")
	return p
}

// attemptsOf shows the task's pods, oldest first, as its attempts.
func attemptsOf(pods []corev1.Pod) []attemptView {
	attempts := make([]attemptView, 0, len(pods))
	for _, pod := range pods {
		a := attemptView{Pod: pod.Name, Phase: string(pod.Status.Phase)}
		if pod.Status.StartTime != nil {
			a.Started = pod.Status.StartTime.Format(time.DateTime)
		}
		for _, c := range pod.Status.ContainerStatuses {
			if c.Name != longtaskv1.TaskContainerName || c.State.Terminated == nil {
				continue
			}
			t := c.State.Terminated
			a.Ended = t.FinishedAt.Format(time.DateTime)
			a.Outcome = fmt.Sprintf("exit code %d", t.ExitCode)
			if t.Reason != "" {
				a.Outcome += " (" + t.Reason + ")"
			}
		}
		attempts = append(attempts, a)
	}
	return attempts
}

func eventsOf(events []corev1.Event, now time.Time) []eventView {
	when := func(e corev1.Event) time.Time {
		switch {
		case !e.LastTimestamp.IsZero():
			return e.LastTimestamp.Time
		case !e.EventTime.IsZero():
			return e.EventTime.Time
		}
		return e.CreationTimestamp.Time
	}
	slices.SortFunc(events, func(a, b corev1.Event) int { return when(a).Compare(when(b)) })
	views := make([]eventView, 0, len(events))
	for _, e := range events {
		views = append(views, eventView{Type: e.Type, Reason: e.Reason, Message: e.Message, Age: age(now.Sub(when(e)))})
	}
	return views
}

// streamPanel streams the task's panel as server-sent events: at once, then after each change, until the
// task finishes or the viewer leaves. The history is read again only when the phase or the attempt
// changed, not on every progress report.
func (s *Server) streamPanel(w http.ResponseWriter, r *http.Request, v viewer, key types.NamespacedName) {
	csrf := s.auth.csrfToken(w, r, v)
	var history taskPanel
	var seen string
	s.stream(w, r, v, key, "panel", func(task taskView) (string, error) {
		if state := task.Phase + "/" + fmt.Sprint(task.Attempts); state != seen {
			history, seen = s.panel(r.Context(), v, task), state
		}
		history.Task = task
		p := page{CSRF: csrf, CanAct: !s.opts.ReadOnly, View: history}
		return s.fragment("task-panel", p)
	})
}

// cancel cancels the task as the viewer, unless it finished (tasks.Cancel), and shows it.
func (s *Server) cancel(w http.ResponseWriter, r *http.Request, v viewer) {
	if s.opts.ReadOnly {
		http.Error(w, "this UI is read-only", http.StatusForbidden)
		return
	}
	key, ok := s.key(w, r)
	if !ok {
		return
	}
	c, _, err := s.actAs(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if _, _, err := tasks.Cancel(r.Context(), c, key, longtaskv1.UIFieldOwner); err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	http.Redirect(w, r, taskPath(key.Namespace, key.Name), http.StatusSeeOther)
}

func taskPath(namespace, name string) string {
	return "/tasks/" + url.PathEscape(namespace) + "/" + url.PathEscape(name)
}
