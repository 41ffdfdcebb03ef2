package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// manyTasks makes n tasks, task-000 the oldest, alternating between namespaces a and b, every third one
// Failed and the others Running.
func manyTasks(n int) []client.Object {
	start := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var objs []client.Object
	for i := range n {
		phase := longtaskv1.PhaseRunning
		if i%3 == 0 {
			phase = longtaskv1.PhaseFailed
		}
		task := testutil.MakeLongTask(fmt.Sprintf("task-%03d", i), []string{"a", "b"}[i%2]).Phase(phase).Progress(int64(i), 1000, "working").Obj()
		task.CreationTimestamp = metav1.NewTime(start.Add(time.Duration(i) * time.Second))
		objs = append(objs, task)
	}
	return objs
}

func listNames(t *testing.T, url string) ([]string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tasks []taskView
	if err := json.NewDecoder(resp.Body).Decode(&tasks); err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	names := []string{}
	for _, task := range tasks {
		names = append(names, task.Name)
	}
	return names, resp.Header.Get("X-Total-Count")
}

func TestListIsFilteredAndPaged(t *testing.T) {
	_, _, ts := newTestServer(t, true, manyTasks(120)...)
	names := func(from, to, step int) []string {
		var out []string
		for i := from; i != to; i += step {
			out = append(out, fmt.Sprintf("task-%03d", i))
		}
		return out
	}
	cases := map[string]struct {
		query     string
		want      []string
		wantTotal string
	}{
		"the first page, newest first":    {query: "", want: names(119, 69, -1), wantTotal: "120"},
		"the last page":                   {query: "?page=3", want: names(19, -1, -1), wantTotal: "120"},
		"a page past the end is the last": {query: "?page=9", want: names(19, -1, -1), wantTotal: "120"},
		"by name":                         {query: "?name=task-11", want: names(119, 109, -1), wantTotal: "10"},
		"by namespace and phase": {
			query: "?namespace=a&phase=Failed&name=task-0",
			// Even, and a multiple of three, below 100.
			want:      []string{"task-096", "task-090", "task-084", "task-078", "task-072", "task-066", "task-060", "task-054", "task-048", "task-042", "task-036", "task-030", "task-024", "task-018", "task-012", "task-006", "task-000"},
			wantTotal: "17",
		},
		"an unknown phase is no filter": {query: "?phase=Bogus&name=task-11", want: names(119, 109, -1), wantTotal: "10"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, total := listNames(t, ts.URL+"/api/tasks"+tc.query)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("tasks listed (-want,+got):\n%s", diff)
			}
			if total != tc.wantTotal {
				t.Errorf("X-Total-Count %q, want %q", total, tc.wantTotal)
			}
		})
	}
}

// Tasks created in the same second, as a burst creates them, keep one order from page to page: by
// namespace, then name.
func TestListOrdersTasksCreatedTogether(t *testing.T) {
	created := metav1.NewTime(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	var objs []client.Object
	for _, key := range []string{"b/x", "a/z", "b/a", "a/b", "ab/a"} {
		namespace, name, _ := strings.Cut(key, "/")
		task := testutil.MakeLongTask(name, namespace).Obj()
		task.CreationTimestamp = created
		objs = append(objs, task)
	}
	_, _, ts := newTestServer(t, true, objs...)
	resp, err := http.Get(ts.URL + "/api/tasks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tasks []taskView
	if err := json.NewDecoder(resp.Body).Decode(&tasks); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, task := range tasks {
		got = append(got, task.Namespace+"/"+task.Name)
	}
	if diff := cmp.Diff([]string{"a/b", "a/z", "ab/a", "b/a", "b/x"}, got); diff != "" {
		t.Errorf("order of tasks created together (-want,+got):\n%s", diff)
	}
}

// TestListPageLinksToItsNeighbours checks the page without JavaScript: the filters are kept in the form
// and in the links to the other pages.
func TestListPageLinksToItsNeighbours(t *testing.T) {
	_, _, ts := newTestServer(t, true, manyTasks(200)...)
	_, body := get(t, ts.URL+"/?phase=Running&page=2")
	for _, want := range []string{
		`<a rel="prev" href="/?phase=Running">Newer</a>`,
		`<a rel="next" href="/?page=3&amp;phase=Running">Older</a>`,
		`51–100 of 133`,
		`<option selected>Running</option>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page has no %s", want)
		}
	}
	if strings.Contains(body, "task-000") {
		t.Errorf("a Failed task is listed under the Running filter")
	}
	_, body = get(t, ts.URL+"/?name=nothing-like-it")
	if !strings.Contains(body, "No task matches.") {
		t.Errorf("an empty filtered list does not say that nothing matches")
	}
}

// TestListPageStaysSmall: however many tasks there are, a page of the list is one page of them.
func TestListPageStaysSmall(t *testing.T) {
	_, _, ts := newTestServer(t, true, manyTasks(1000)...)
	for _, path := range []string{"/", "/api/tasks"} {
		_, body := get(t, ts.URL+path)
		if len(body) > 100_000 {
			t.Errorf("%s is %d bytes with 1,000 tasks, want under 100 KB", path, len(body))
		}
		if n := strings.Count(body, "task-"); n < pageSize || n > 2*pageSize {
			t.Errorf("%s names %d tasks, want one page of %d", path, n, pageSize)
		}
	}
}

// TestListStreamSendsThePageWhenATaskChanges: an open list is kept current by its stream, one page with
// its filters, sent when a change to a task changes the page.
func TestListStreamSendsThePageWhenATaskChanges(t *testing.T) {
	s, c, ts := newTestServer(t, true, manyTasks(60)...)
	next, _ := openStream[listEvent](t, ts.URL+"/api/tasks/events?phase=Failed")
	if e := next(); e.Total != 20 || len(e.Tasks) != 20 || e.Tasks[0].Name != "task-057" {
		t.Fatalf("first event: %d of %d tasks, the first %q; want the 20 Failed ones, newest first", len(e.Tasks), e.Total, e.Tasks[0].Name)
	}

	// task-059 fails: it joins the filtered page.
	key := types.NamespacedName{Namespace: "b", Name: "task-059"}
	task := &longtaskv1.LongTask{}
	if err := c.Get(context.Background(), key, task); err != nil {
		t.Fatal(err)
	}
	task.Status.Phase = longtaskv1.PhaseFailed
	if err := c.Status().Update(context.Background(), task); err != nil {
		t.Fatal(err)
	}
	s.Notify(key)
	if e := next(); e.Total != 21 || e.Tasks[0].Name != "task-059" || e.Tasks[0].Phase != "Failed" {
		t.Errorf("after task-059 failed: %d tasks, the first %q (%s); want 21 with task-059 first", e.Total, e.Tasks[0].Name, e.Tasks[0].Phase)
	}
}

func TestListFiltersByTemplate(t *testing.T) {
	_, _, ts := newTestServer(t, true,
		testutil.MakeLongTask("resize-photos-abcde", "photos").TemplateRef("resize-photos").Obj(),
		testutil.MakeLongTask("copy-parts-fghij", "photos").TemplateRef("copy-parts").Obj(),
		testutil.MakeLongTask("by-hand", "photos").Obj())
	names, _ := listNames(t, ts.URL+"/api/tasks?template=resize-photos")
	if strings.Join(names, ",") != "resize-photos-abcde" {
		t.Errorf("template=resize-photos lists %v, want only the task started from it", names)
	}
}
