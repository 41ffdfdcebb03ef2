package ui

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// A task started from a template is named after it as `kubectl longtask run` names it: a template
// "resize.photos" starts tasks resize-photos-xxxxx from either, a name that is also a valid hostname for
// its pods.
func TestStartNamesTheTaskAsThePluginDoes(t *testing.T) {
	template := testutil.MakeTemplate("resize.photos", "photos").Command("resize").Obj()
	_, c, ts := newTestServer(t, false, template)
	page := ts.URL + "/templates/photos/resize.photos"
	cookie, token := csrfFor(t, page)
	if status := submit(t, page, cookie, token); status != http.StatusSeeOther {
		t.Fatalf("starting a task answered %d, want %d", status, http.StatusSeeOther)
	}
	started := &longtaskv1.LongTaskList{}
	if err := c.List(context.Background(), started); err != nil {
		t.Fatal(err)
	}
	if len(started.Items) != 1 {
		t.Fatalf("%d tasks started, want 1", len(started.Items))
	}
	if task := started.Items[0]; task.GenerateName != "resize-photos-" || !strings.HasPrefix(task.Name, "resize-photos-") {
		t.Errorf("the task from template resize.photos is named %q (generateName %q), want resize-photos-xxxxx as the plugin names it",
			task.Name, task.GenerateName)
	}
}

// submit posts a form with the CSRF token and cookie of the page it was on (csrfFor) to action, and
// returns the answer's status, without following a redirect.
func submit(t *testing.T, action string, cookie *http.Cookie, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, action, strings.NewReader(url.Values{"csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(cookie)
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
