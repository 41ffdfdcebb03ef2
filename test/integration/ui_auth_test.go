package integration

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/internal/ui"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

// The rights a person using the UI may have in a namespace.
var (
	viewTasks  = rbacv1.PolicyRule{APIGroups: []string{longtaskv1.GroupVersion.Group}, Resources: []string{"longtasks", "longtasktemplates"}, Verbs: []string{"get", "list", "watch"}}
	startTasks = rbacv1.PolicyRule{APIGroups: []string{longtaskv1.GroupVersion.Group}, Resources: []string{"longtasks"}, Verbs: []string{"create", "patch"}}
	readLogs   = rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods", "pods/log", "events"}, Verbs: []string{"get", "list"}}
	// readJobs tells a task's pods from others with its label: they are its Job's.
	readJobs = rbacv1.PolicyRule{APIGroups: []string{"batch"}, Resources: []string{"jobs"}, Verbs: []string{"get"}}
)

// resizeTemplateForUI is a template with a checked parameter, an enum and a free-text one.
func resizeTemplateForUI(ns string) *longtaskv1.LongTaskTemplate {
	return &longtaskv1.LongTaskTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "resize-photos", Namespace: ns},
		Spec: longtaskv1.LongTaskTemplateSpec{
			Description: "Resizes the photos of an album.",
			Parameters: []longtaskv1.Parameter{
				{Name: "count", Description: "How many photos", Default: ptr.To("20"), Pattern: "[0-9]{1,3}"},
				{Name: "size", Description: "The thumbnails' size", Default: ptr.To("small"), Enum: []string{"small", "large"}},
				{Name: "album", Description: "The album's title"},
			},
			Task: longtaskv1.TaskSpec{
				Command: []string{"resize", "--count=$(params.count)", "--size=$(params.size)"},
				Env:     []corev1.EnvVar{{Name: "ALBUM", Value: "$(params.album)"}},
			},
		},
	}
}

// request sends a request to the UI, with a bearer token when one is given, and returns the status, the
// body and the Location it was sent on to.
func request(t *testing.T, method, target, token string, form url.Values, header map[string]string) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header.Get("Location")
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// postForm posts a form as the viewer's browser would from the page: with the CSRF cookie and token the
// page gave it.
func postForm(t *testing.T, page, action, token string, form url.Values) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, page, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(b)
	if m == nil || len(resp.Cookies()) == 0 {
		t.Fatalf("%s gave no CSRF cookie and token (status %d)", page, resp.StatusCode)
	}
	form.Set("csrf", string(m[1]))
	cookie := resp.Cookies()[0]
	return request(t, http.MethodPost, action, token, form, map[string]string{"Cookie": cookie.Name + "=" + cookie.Value})
}

func TestUIShowsAVisitorWithoutATokenNothing(t *testing.T) {
	t.Parallel()
	ns := fw.Namespace(t)
	fw.Create(t, testutil.MakeLongTask("secret-plans", ns).Obj())
	base := fw.StartUI(t, fw.UIConfig, ui.Options{Auth: ui.AuthToken})

	for _, tc := range []struct {
		path, token string
		header      map[string]string
		want        int
	}{
		{path: "/", want: http.StatusSeeOther},
		{path: "/tasks/" + ns + "/secret-plans", want: http.StatusSeeOther},
		{path: "/templates", want: http.StatusSeeOther},
		{path: "/api/tasks", want: http.StatusUnauthorized},
		{path: "/api/tasks/" + ns + "/secret-plans", want: http.StatusUnauthorized},
		{path: "/api/tasks/events", want: http.StatusUnauthorized},
		{path: "/?namespace=" + ns, header: map[string]string{"Accept": "text/event-stream"}, want: http.StatusUnauthorized},
		{path: "/tasks/" + ns + "/secret-plans/log", header: map[string]string{"Accept": "text/event-stream"}, want: http.StatusUnauthorized},
		{path: "/api/tasks", token: "not-a-token", want: http.StatusUnauthorized},
	} {
		code, body, location := request(t, http.MethodGet, base+tc.path, tc.token, nil, tc.header)
		if code != tc.want {
			t.Errorf("GET %s: %d, want %d", tc.path, code, tc.want)
		}
		if code == http.StatusSeeOther && !strings.HasPrefix(location, "/signin") {
			t.Errorf("GET %s sent the visitor to %q, want the sign-in page", tc.path, location)
		}
		if strings.Contains(body, "secret-plans") {
			t.Errorf("GET %s showed a visitor without a token the task's name:\n%s", tc.path, body)
		}
	}
}

func TestUIShowsEachViewerWhatTheirRBACAllows(t *testing.T) {
	t.Parallel()
	mine, theirs := fw.Namespace(t), fw.Namespace(t)
	fw.Create(t, testutil.MakeLongTask("mine", mine).Obj())
	fw.Create(t, testutil.MakeLongTask("theirs", theirs).Obj())
	token := fw.Token(t, mine, "alice", viewTasks)
	base := fw.StartUI(t, fw.UIConfig, ui.Options{Auth: ui.AuthToken})

	framework.Eventually(t, func(g gomega.Gomega) {
		code, body, _ := request(t, http.MethodGet, base+"/api/tasks", token, nil, nil)
		g.Expect(code).To(gomega.Equal(http.StatusOK))
		g.Expect(body).To(gomega.ContainSubstring(`"name":"mine"`))
		g.Expect(body).NotTo(gomega.ContainSubstring("theirs"))
	})
	g := gomega.NewWithT(t)

	code, body, _ := request(t, http.MethodGet, base+"/tasks/"+theirs+"/theirs", token, nil, nil)
	g.Expect(code).To(gomega.Equal(http.StatusForbidden))
	g.Expect(body).To(gomega.ContainSubstring("may not get longtasks in namespace " + theirs))
	g.Expect(body).NotTo(gomega.ContainSubstring(`"theirs"`))
}

func TestUIStartsATaskFromATemplateAsTheViewer(t *testing.T) {
	t.Parallel()
	ns := fw.Namespace(t)
	fw.Create(t, resizeTemplateForUI(ns))
	alice := fw.Token(t, ns, "alice", viewTasks, startTasks)
	bob := fw.Token(t, ns, "bob", viewTasks) // may look, may not start
	base := fw.StartUI(t, fw.UIConfig, ui.Options{Auth: ui.AuthToken})
	form := base + "/templates/" + ns + "/resize-photos"
	framework.Eventually(t, func(g gomega.Gomega) {
		code, _, _ := request(t, http.MethodGet, form, alice, nil, nil)
		g.Expect(code).To(gomega.Equal(http.StatusOK))
	})
	g := gomega.NewWithT(t)

	// A value the template refuses: the form comes back with it, and says which parameter and why.
	code, body, _ := postForm(t, form, form, alice, url.Values{"param.count": {"lots"}, "param.size": {"large"}})
	g.Expect(code).To(gomega.Equal(http.StatusUnprocessableEntity))
	g.Expect(body).To(gomega.ContainSubstring("spec.parameters[count]"))
	g.Expect(body).To(gomega.ContainSubstring(`value="lots"`), "the form must keep what was typed")
	g.Expect(body).To(gomega.MatchRegexp(`<option selected>large</option>`))

	// Someone whose RBAC does not let them create tasks is refused by the API server, and sees why.
	code, body, _ = postForm(t, form, form, bob, url.Values{"param.count": {"5"}})
	g.Expect(code).To(gomega.Equal(http.StatusForbidden))
	g.Expect(body).To(gomega.ContainSubstring(`cannot create resource &#34;longtasks&#34;`))
	g.Expect(body).To(gomega.ContainSubstring(`value="5"`))

	// Good values start the task and show its page. The UI's own account cannot create tasks, so the task
	// was created with alice's token.
	code, _, location := postForm(t, form, form, alice, url.Values{"param.count": {"5"}, "param.size": {"large"}, "param.album": {"Holidays"}})
	g.Expect(code).To(gomega.Equal(http.StatusSeeOther))
	g.Expect(location).To(gomega.MatchRegexp(`^/tasks/` + ns + `/resize-photos-[a-z0-9]{5}$`))
	task := &longtaskv1.LongTask{}
	g.Expect(fw.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: strings.TrimPrefix(location, "/tasks/"+ns+"/")}, task)).To(gomega.Succeed())
	g.Expect(task.Labels).To(gomega.HaveKeyWithValue(longtaskv1.LabelTemplate, "resize-photos"))
	g.Expect(task.Spec.TemplateRef).To(gomega.Equal(&longtaskv1.TemplateRef{Name: "resize-photos"}))
	g.Expect(task.Spec.Parameters).To(gomega.ConsistOf(
		longtaskv1.ParameterValue{Name: "count", Value: "5"},
		longtaskv1.ParameterValue{Name: "size", Value: "large"},
		longtaskv1.ParameterValue{Name: "album", Value: "Holidays"}))

	// A form without the page's CSRF token starts nothing.
	code, _, _ = request(t, http.MethodPost, form, alice, url.Values{"param.count": {"6"}}, nil)
	g.Expect(code).To(gomega.Equal(http.StatusForbidden))
}
