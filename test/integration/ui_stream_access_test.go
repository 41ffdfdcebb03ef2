package integration

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/internal/ui"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

// openStreamAs opens an event stream of the UI with token, as an EventSource would, and returns a channel
// closed when the UI ends it.
func openStreamAs(t *testing.T, url, token string) <-chan struct{} {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_, _ = io.Copy(io.Discard, resp.Body)
	}()
	return ended
}

// A task's event stream and its log stream, open as a viewer, end once the API server no longer accepts
// the viewer's token or lets them see the task: the UI asks again every review period (here 1 s rather
// than 30 s). Before, they checked the viewer once, when they opened, and the event stream went on. (The
// log stream here has no pod to follow and looks for one every second, with the viewer's token, which the
// API server then refuses; one following a pod's output is asked nothing more, and only the check ends
// it: the unit test TestEventStreamsEndWhenTheViewersAccessEnds shows that.)
func TestUIStreamsEndWhenTheViewersAccessEnds(t *testing.T) {
	t.Parallel()
	for name, revoke := range map[string]func(ns string) client.Object{
		"the RoleBinding is deleted": func(ns string) client.Object {
			return &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: ns}}
		},
		"the ServiceAccount is deleted": func(ns string) client.Object {
			return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "alice", Namespace: ns}}
		},
	} {
		t.Run(name, func(t *testing.T) {
			ns := fw.Namespace(t)
			fw.Create(t, testutil.MakeLongTask("resize", ns).Phase(longtaskv1.PhaseRunning).Obj())
			token := fw.Token(t, ns, "alice", viewTasks, readLogs, readJobs)
			base := fw.StartUI(t, fw.UIConfig, ui.Options{Auth: ui.AuthToken, ReviewTTL: time.Second})
			waitForTask(t, base, ns, token)

			streams := map[string]<-chan struct{}{
				"events": openStreamAs(t, base+"/api/tasks/"+ns+"/resize/events", token),
				"log":    openStreamAs(t, base+"/tasks/"+ns+"/resize/log", token),
			}
			// Open for longer than a review period while the viewer may see the task.
			time.Sleep(3 * time.Second)
			for what, ended := range streams {
				select {
				case <-ended:
					t.Fatalf("the %s stream ended while its viewer may see the task", what)
				default:
				}
			}
			if err := fw.Client.Delete(context.Background(), revoke(ns)); err != nil {
				t.Fatal(err)
			}
			for what, ended := range streams {
				select {
				case <-ended:
				case <-time.After(framework.Timeout):
					t.Errorf("the %s stream went on %s after %s", what, framework.Timeout, name)
				}
			}
		})
	}
}

// waitForTask waits until the UI's cache has the task and the viewer may see it.
func waitForTask(t *testing.T, base, ns, token string) {
	t.Helper()
	framework.Eventually(t, func(g gomega.Gomega) {
		code, _, _ := request(t, http.MethodGet, base+"/api/tasks/"+ns+"/resize", token, nil, nil)
		g.Expect(code).To(gomega.Equal(http.StatusOK), "the task's JSON")
	})
}
