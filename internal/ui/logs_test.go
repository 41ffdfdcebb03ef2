package ui

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// The log stream of a finished task sends its last pod's output and ends; a pod whose output cannot be
// read (it never started) ends it too, saying so, as `kubectl longtask logs -f` does: it waited for ever.
func TestLogStreamOfAFinishedTaskEnds(t *testing.T) {
	tests := map[string]struct {
		logErr error
		want   string
	}{
		"its output, then the end": {
			want: "event: lines\ndata: no space left\n\nevent: end\ndata: the task failed\n\n",
		},
		"a pod that never started": {
			logErr: errWaitingToStart,
			want:   "event: end\ndata: the task failed; the output of pod resize-1 cannot be read: ",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			task := testutil.MakeLongTask("resize", "photos").Phase(longtaskv1.PhaseFailed).Obj()
			task.UID, task.Status.JobName = "task-uid", "resize"
			job := testutil.MakeJob("resize", "photos").UID("job-uid").OwnedBy(task).Obj()
			pod := testutil.ControlledBy(testutil.TerminatedPod("resize-1", "photos", "resize", 3, "Error", "", time.Now()), job)
			s, _, ts := newTestServer(t, false, task)
			kube := s.opts.Kube.(*kubefake.Clientset)
			for _, o := range []runtime.Object{job, pod} {
				if err := kube.Tracker().Add(o); err != nil {
					t.Fatal(err)
				}
			}
			kube.PrependReactor("get", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
				return action.GetSubresource() == "log", &runtime.Unknown{Raw: []byte("no space left\n")}, tc.logErr
			})

			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/tasks/photos/resize/log", nil)
			req.Header.Set("Accept", "text/event-stream")
			// The deadline only keeps a stream that never ends from hanging the test.
			resp, err := (&http.Client{Timeout: time.Minute}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatalf("the stream did not end: %v; it sent %q", err, body)
			}
			if !strings.HasPrefix(string(body), tc.want) {
				t.Errorf("the stream sent %q, want it to begin %q", body, tc.want)
			}
		})
	}
}

var errWaitingToStart = errors.New(`container "task" in pod "resize-1" is waiting to start: image can't be pulled`)
