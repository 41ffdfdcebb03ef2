package cli

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasks"
)

// watchRequest says which tasks to watch.
type watchRequest struct {
	// Namespace is the tasks' namespace; empty for all namespaces.
	Namespace string
	// Names are the tasks to watch, or none for every task the selector matches.
	Names []string
	// Selector is a label selector; empty matches every task.
	Selector string
}

// scope says where the tasks are, for messages: `namespace "x"` or "any namespace".
func (r watchRequest) scope() string {
	if r.Namespace == "" {
		return "any namespace"
	}
	return fmt.Sprintf("namespace %q", r.Namespace)
}

func newWatchCommand(o *options) *cobra.Command {
	var selector string
	var all, allNamespaces bool
	cmd := &cobra.Command{
		Use:   "watch [NAME... | -l SELECTOR | --all]",
		Short: "Show tasks' progress live until they finish",
		Long: "Show each task's progress as a live bar, with its message, rate and ETA, until every task finished;\n" +
			"then its phase, and for a failed task the reason and its last lines. With -l or --all, tasks that\n" +
			"start while the watch runs are shown too. When the output is not a terminal, it prints a line each\n" +
			"time a task moves instead. Exits 0 when every task succeeded, 1 when one failed or was cancelled.",
		Example: "  kubectl longtask watch resize\n  kubectl longtask watch -l longtask.dev/template=resize-photos\n  kubectl longtask watch --all -A",
		RunE: func(cmd *cobra.Command, names []string) error {
			chosen := 0
			for _, set := range []bool{len(names) > 0, selector != "", all} {
				if set {
					chosen++
				}
			}
			if chosen != 1 {
				return usage("watch wants task names, -l SELECTOR or --all (one of them)")
			}
			if allNamespaces && len(names) > 0 {
				return usage("-A goes with -l or --all: a task's name is in one namespace")
			}
			if _, err := labels.Parse(selector); err != nil {
				return usage("-l %q is not a label selector: %v", selector, err)
			}
			clients, namespace, err := o.connect()
			if err != nil {
				return err
			}
			if allNamespaces {
				namespace = ""
			}
			return o.watch(cmd.Context(), clients, watchRequest{Namespace: namespace, Names: names, Selector: selector})
		},
	}
	cmd.Flags().StringVarP(&selector, "selector", "l", "", "watch the tasks with these labels (key=value,...)")
	cmd.Flags().BoolVar(&all, "all", false, "watch every task in the namespace")
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "with -l or --all: in every namespace")
	return cmd
}

// watch shows the tasks until each has finished, and ends with their outcome.
func (o *options) watch(ctx context.Context, clients *Clients, req watchRequest) error {
	t := newTracker(req, o.env.Clock)
	if o.env.Terminal {
		t.display = newBarDisplay(o.env.Streams.Out, t.view)
	} else {
		t.display = newPlainDisplay(o.env.Streams.Out, t.view)
	}
	err := t.run(ctx, clients.Tasks)
	t.display.close()
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return withCode(ExitInterrupted, fmt.Errorf("interrupted before every task finished"))
	default:
		return withCode(ExitError, err)
	}
	if failed := t.failed(); len(failed) > 0 {
		return withCode(ExitTaskFailed, fmt.Errorf("%d of %d tasks did not succeed: %v", len(failed), len(t.tasks), failed))
	}
	return nil
}

// display shows tasks as they change.
type display interface {
	// show shows the task of a key: as it is now, or, if it finished, for the last time.
	show(key string)
	// close ends the display once no task will change any more.
	close()
}

// tracker follows the tasks a request names through a watch.
type tracker struct {
	req     watchRequest
	clock   clock.PassiveClock
	display display

	// listed are the tasks the first list found: the watch goes on at least until each was seen.
	listed []string

	mu    sync.Mutex
	tasks map[string]*trackedTask
	order []string
}

// trackedTask is the latest state seen of a task.
type trackedTask struct {
	task     *longtaskv1.LongTask
	observed tasks.ObservedRate
	deleted  bool
}

func newTracker(req watchRequest, clock clock.PassiveClock) *tracker {
	return &tracker{req: req, clock: clock, tasks: map[string]*trackedTask{}}
}

// run watches until every task finished. It lists first and then watches from there, and an informer
// starts again from a new list when a watch ends, so no change is missed and nothing is polled.
func (t *tracker) run(ctx context.Context, c client.WithWatch) error {
	_, err := watchtools.UntilWithSync(ctx, t.listWatch(c), &longtaskv1.LongTask{}, t.precondition, t.handle)
	return err
}

func (t *tracker) listWatch(c client.WithWatch) cache.ListerWatcher {
	selector := func(opts metav1.ListOptions) *client.ListOptions {
		opts.LabelSelector = t.req.Selector
		if len(t.req.Names) == 1 {
			opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", t.req.Names[0]).String()
		}
		return &client.ListOptions{Namespace: t.req.Namespace, Raw: &opts}
	}
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			list := &longtaskv1.LongTaskList{}
			return list, c.List(ctx, list, selector(opts))
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, &longtaskv1.LongTaskList{}, selector(opts))
		},
	}
}

// precondition checks, once the first list is in, that there is something to watch.
func (t *tracker) precondition(store cache.Store) (bool, error) {
	for _, name := range t.req.Names {
		if _, found, _ := store.GetByKey(t.req.Namespace + "/" + name); !found {
			return false, fmt.Errorf("longtask %q not found in %s", name, t.req.scope())
		}
	}
	if len(t.req.Names) > 0 {
		// Several names share a list of the whole namespace: only the named tasks are waited for.
		return false, nil
	}
	t.listed = store.ListKeys()
	if len(t.listed) == 0 {
		if t.req.Selector != "" {
			return false, fmt.Errorf("no LongTasks match %q in %s", t.req.Selector, t.req.scope())
		}
		return false, fmt.Errorf("no LongTasks in %s", t.req.scope())
	}
	return false, nil
}

// handle takes in one change and reports whether every task has finished.
func (t *tracker) handle(event watch.Event) (bool, error) {
	task, ok := event.Object.(*longtaskv1.LongTask)
	if !ok {
		return false, nil
	}
	if len(t.req.Names) > 0 && !slices.Contains(t.req.Names, task.Name) {
		return false, nil
	}
	key := task.Namespace + "/" + task.Name
	t.mu.Lock()
	tracked, seen := t.tasks[key]
	if !seen {
		tracked = &trackedTask{}
		t.tasks[key] = tracked
		t.order = append(t.order, key)
	}
	if finished := tracked.deleted || (tracked.task != nil && tracked.task.Status.Phase.Finished()); finished {
		// A finished task was shown for the last time already; a new task of the same name is not this one.
		t.mu.Unlock()
		return t.done(), nil
	}
	tracked.task = task
	tracked.deleted = event.Type == watch.Deleted
	tracked.observed.Observe(task.Status.Progress, t.clock.Now())
	t.mu.Unlock()
	t.display.show(key)
	return t.done(), nil
}

// done reports whether every task to watch was seen and has finished.
func (t *tracker) done() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, name := range t.req.Names {
		if _, seen := t.tasks[t.req.Namespace+"/"+name]; !seen {
			return false
		}
	}
	for _, key := range t.listed {
		if _, seen := t.tasks[key]; !seen {
			return false
		}
	}
	for _, tracked := range t.tasks {
		if !tracked.deleted && !tracked.task.Status.Phase.Finished() {
			return false
		}
	}
	return true
}

// view is what to show of a tracked task now.
func (t *tracker) view(key string) taskView {
	t.mu.Lock()
	defer t.mu.Unlock()
	tracked := t.tasks[key]
	v := newTaskView(tracked.task, t.displayName(tracked.task), &tracked.observed, t.clock.Now())
	v.Deleted = tracked.deleted
	return v
}

// displayName is the task's name, with its namespace when tasks of all namespaces are watched.
func (t *tracker) displayName(task *longtaskv1.LongTask) string {
	if t.req.Namespace == "" {
		return task.Namespace + "/" + task.Name
	}
	return task.Name
}

// failed are the tasks that did not succeed, by name.
func (t *tracker) failed() []string {
	var failed []string
	for _, key := range t.order {
		if v := t.view(key); !v.succeeded() {
			failed = append(failed, v.Name)
		}
	}
	return failed
}
