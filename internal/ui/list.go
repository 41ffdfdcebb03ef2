package ui

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// pageSize is how many tasks a page of the list shows: with thousands of tasks, a page stays a few tens of
// kilobytes however many there are.
const pageSize = 50

// listQuery is what a list request asks for: filters and a page, from the URL's query, so that a filtered
// page can be linked to and works without JavaScript.
type listQuery struct {
	Namespace string
	Phase     string
	// Template keeps the tasks started from the template of that name.
	Template string
	// Name keeps the tasks whose name contains it.
	Name string
	// Page counts from 1.
	Page int
}

func parseListQuery(values url.Values) listQuery {
	q := listQuery{
		Namespace: strings.TrimSpace(values.Get("namespace")),
		Phase:     values.Get("phase"),
		Template:  strings.TrimSpace(values.Get("template")),
		Name:      strings.TrimSpace(values.Get("name")),
		Page:      1,
	}
	if page, err := strconv.Atoi(values.Get("page")); err == nil && page > 1 {
		q.Page = page
	}
	if !slices.Contains(phases, q.Phase) {
		q.Phase = ""
	}
	return q
}

// phases are the phases the list filters by, in the order a task goes through them.
var phases = func() []string {
	var names []string
	for _, phase := range longtaskv1.Phases() {
		names = append(names, string(phase))
	}
	return names
}()

// values is the query again, for links to other pages of the same list.
func (q listQuery) values(page int) string {
	v := url.Values{}
	for key, value := range map[string]string{"namespace": q.Namespace, "phase": q.Phase, "template": q.Template, "name": q.Name} {
		if value != "" {
			v.Set(key, value)
		}
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if len(v) == 0 {
		return "/"
	}
	return "/?" + v.Encode()
}

// listPage is one page of the list, as the list page and /api/tasks show it.
type listPage struct {
	Tasks []taskView
	// Total counts the tasks that match the filters, on every page; FirstShown and LastShown number the
	// ones on this page among them.
	Total, FirstShown, LastShown int
	Query                        listQuery
	Pages                        int
	// Prev and Next link to the neighbouring pages of the same list, when there are any.
	Prev, Next string
	// Phases are the choices of the phase filter.
	Phases []string
	// UINamespace is the one namespace the UI serves, if it was started with one.
	UINamespace string
	// HasFilter says whether any filter is set, so that an empty page can say why.
	HasFilter bool
}

// list reads the tasks that match q from the cache, newest first, and returns q's page of them. It shows
// only the namespaces whose LongTasks the viewer may list.
func (s *Server) list(ctx context.Context, v viewer, q listQuery) (listPage, error) {
	namespace := s.opts.Namespace
	if namespace == "" {
		namespace = q.Namespace
	} else if q.Namespace != "" && q.Namespace != s.opts.Namespace {
		return listPage{Query: q}, nil // outside the UI's namespace: nothing
	}
	may, err := s.namespacesVisible(ctx, v, namespace)
	if err != nil {
		return listPage{}, err
	}
	tasks := &longtaskv1.LongTaskList{}
	// Read-only, so the cache's objects need not be copied: with thousands of tasks and a refresh every
	// few seconds per open list, the copies would be most of the UI's work.
	opts := []client.ListOption{client.UnsafeDisableDeepCopy}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := s.opts.Reader.List(ctx, tasks, opts...); err != nil {
		return listPage{}, err
	}
	matching := make([]*longtaskv1.LongTask, 0, len(tasks.Items))
	for i := range tasks.Items {
		task := &tasks.Items[i]
		phase := string(task.Status.Phase.OrPending())
		template := ""
		if task.Spec.TemplateRef != nil {
			template = task.Spec.TemplateRef.Name
		}
		if (q.Phase == "" || phase == q.Phase) && (q.Template == "" || template == q.Template) &&
			strings.Contains(task.Name, q.Name) && may(task.Namespace) {
			matching = append(matching, task)
		}
	}
	slices.SortFunc(matching, func(a, b *longtaskv1.LongTask) int {
		if c := b.CreationTimestamp.Compare(a.CreationTimestamp.Time); c != 0 {
			return c
		}
		// Tasks created in the same second (a burst of thousands is) go by namespace and name; comparing
		// the parts, not joined strings, keeps the sort from allocating.
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})

	page := listPage{Total: len(matching), Query: q, Phases: phases, UINamespace: s.opts.Namespace,
		Pages:     max(1, (len(matching)+pageSize-1)/pageSize),
		HasFilter: q.Namespace != "" || q.Phase != "" || q.Template != "" || q.Name != ""}
	q.Page = min(q.Page, page.Pages)
	page.Query.Page = q.Page
	from, to := (q.Page-1)*pageSize, min(q.Page*pageSize, len(matching))
	now := time.Now()
	page.Tasks = make([]taskView, 0, to-from)
	for _, task := range matching[from:to] {
		page.Tasks = append(page.Tasks, newTaskView(task, now))
	}
	page.FirstShown, page.LastShown = from+1, to
	if q.Page > 1 {
		page.Prev = q.values(q.Page - 1)
	}
	if q.Page < page.Pages {
		page.Next = q.values(q.Page + 1)
	}
	return page, nil
}

// namespacesVisible returns whether the viewer may list the LongTasks of a namespace. One who may list
// them in all namespaces is asked once; anyone else, once per namespace (and the answers are kept).
func (s *Server) namespacesVisible(ctx context.Context, v viewer, namespace string) (func(string) bool, error) {
	all, err := s.auth.may(ctx, v, longtasks("list", namespace))
	if err != nil || all {
		return func(string) bool { return true }, err
	}
	if namespace != "" {
		return func(string) bool { return false }, nil
	}
	answers := map[string]bool{}
	return func(ns string) bool {
		allowed, asked := answers[ns]
		if !asked {
			may, err := s.auth.may(ctx, v, longtasks("list", ns))
			allowed = err == nil && may
			answers[ns] = allowed
		}
		return allowed
	}, nil
}

// listPage is the list of tasks. An EventSource gets a stream of its rows instead, and part=rows gets the
// rows once, for a page that polls: the page and its updates are rendered by the same template.
func (s *Server) listPage(w http.ResponseWriter, r *http.Request, v viewer) {
	if wantsStream(r) {
		s.streamList(w, r, v, "rows", func(page listPage) (string, error) { return s.fragment("list-rows", page) })
		return
	}
	page, err := s.list(r.Context(), v, parseListQuery(r.URL.Query()))
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	if r.URL.Query().Get("part") == "rows" {
		s.render(w, http.StatusOK, "list-rows", page)
		return
	}
	s.render(w, http.StatusOK, "list.html", s.newPage(w, r, v, "Tasks", page))
}

// listJSON serves a page of the list as an array of tasks; X-Total-Count says how many match on all pages.
func (s *Server) listJSON(w http.ResponseWriter, r *http.Request, v viewer) {
	page, err := s.list(r.Context(), v, parseListQuery(r.URL.Query()))
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	w.Header().Set("X-Total-Count", strconv.Itoa(page.Total))
	writeJSON(w, page.Tasks)
}
