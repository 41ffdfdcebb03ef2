package cli

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// noDisplay shows nothing.
type noDisplay struct{}

func (noDisplay) show(string) {}
func (noDisplay) close()      {}

// A watch ends when every task it waits for finished: the named ones, or with -l or --all every task
// listed at the start and seen since, but not others in the namespace.
func TestTrackerEndsWhenItsTasksFinished(t *testing.T) {
	withPhase := func(name string, phase longtaskv1.Phase) *longtaskv1.LongTask {
		task := testutil.MakeLongTask(name, "ns").Obj()
		task.Status.Phase = phase
		return task
	}
	cases := map[string]struct {
		req    watchRequest
		events []watch.Event
		want   bool
	}{
		"two names, another task still running": {
			req: watchRequest{Namespace: "ns", Names: []string{"a", "b"}},
			events: []watch.Event{
				{Type: watch.Modified, Object: withPhase("a", longtaskv1.PhaseSucceeded)},
				{Type: watch.Modified, Object: withPhase("b", longtaskv1.PhaseFailed)},
			},
			want: true,
		},
		"two names, one still running": {
			req: watchRequest{Namespace: "ns", Names: []string{"a", "b"}},
			events: []watch.Event{
				{Type: watch.Modified, Object: withPhase("a", longtaskv1.PhaseSucceeded)},
				{Type: watch.Modified, Object: withPhase("b", longtaskv1.PhaseRunning)},
			},
			want: false,
		},
		"--all waits for every listed task": {
			req: watchRequest{Namespace: "ns"},
			events: []watch.Event{
				{Type: watch.Modified, Object: withPhase("a", longtaskv1.PhaseSucceeded)},
				{Type: watch.Modified, Object: withPhase("b", longtaskv1.PhaseSucceeded)},
			},
			want: false,
		},
		"--all ends when every listed task finished or was deleted": {
			req: watchRequest{Namespace: "ns"},
			events: []watch.Event{
				{Type: watch.Modified, Object: withPhase("a", longtaskv1.PhaseSucceeded)},
				{Type: watch.Modified, Object: withPhase("b", longtaskv1.PhaseSucceeded)},
				{Type: watch.Deleted, Object: withPhase("other", longtaskv1.PhaseRunning)},
			},
			want: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tracker := newTracker(tc.req, clocktesting.NewFakePassiveClock(time.Now()))
			tracker.display = noDisplay{}
			store := cache.NewStore(cache.MetaNamespaceKeyFunc)
			for _, name := range []string{"a", "b", "other"} {
				if err := store.Add(withPhase(name, longtaskv1.PhaseRunning)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := tracker.precondition(store); err != nil {
				t.Fatal(err)
			}
			done := false
			for _, event := range tc.events {
				var err error
				if done, err = tracker.handle(event); err != nil {
					t.Fatal(err)
				}
			}
			if done != tc.want {
				t.Errorf("done after %d events = %v, want %v", len(tc.events), done, tc.want)
			}
		})
	}
}
