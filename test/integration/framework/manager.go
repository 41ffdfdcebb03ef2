package framework

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/longtask-dev/longtask/internal/localcluster"
	"github.com/longtask-dev/longtask/internal/manager"
	"github.com/longtask-dev/longtask/internal/ui"
)

// Manager is a manager a test started.
type Manager struct {
	ctrl.Manager
	// Registry holds its LongTask metrics (controller-runtime's own are in its global registry).
	Registry *prometheus.Registry
	// Stop stops it and waits until it stopped; the end of the test does that too.
	Stop func()
}

// StartManager starts a manager as cmd/manager does, with the manager's own RBAC (ManagerConfig), and
// stops it when the test ends. opts must name the namespaces it watches: the tests share the API server,
// and a manager of each test's own keeps them from acting on each other's tasks. Where opts leave them
// empty, it puts WorkerImage in Jobs, reconciles 4 tasks at once and registers its metrics on a registry of
// its own.
func (f *Framework) StartManager(t *testing.T, opts manager.Options) *Manager {
	t.Helper()
	return f.StartManagerAs(t, f.ManagerConfig, opts)
}

// StartManagerAs is StartManager with config's identity.
func (f *Framework) StartManagerAs(t *testing.T, config *rest.Config, opts manager.Options) *Manager {
	t.Helper()
	if len(opts.WatchNamespaces) == 0 {
		t.Fatal("a test's manager must watch only the test's namespaces")
	}
	if opts.WorkerImage == "" {
		opts.WorkerImage = WorkerImage
	}
	if opts.MaxConcurrentReconciles == 0 {
		opts.MaxConcurrentReconciles = 4
	}
	registry := prometheus.NewRegistry()
	if opts.Registry == nil {
		opts.Registry = registry
	}
	mgr, err := manager.New(config, opts)
	if err != nil {
		t.Fatalf("starting a manager: %v", err)
	}
	m := &Manager{Manager: mgr, Registry: registry}
	m.Stop = f.run(t, "the manager", mgr.Start)
	if !mgr.GetCache().WaitForCacheSync(context.Background()) {
		t.Fatal("the manager's cache did not sync")
	}
	return m
}

// StartUI starts the UI as cmd/ui does, with config's identity and opts, on a free port of loopback unless
// opts say where, and returns its URL; it stops when the test ends.
func (f *Framework) StartUI(t *testing.T, config *rest.Config, opts ui.Options) string {
	t.Helper()
	if opts.BindAddress == "" {
		opts.BindAddress = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	app, err := ui.New(ctx, config, opts)
	cancel() // New's context only bounds New itself.
	if err != nil {
		t.Fatalf("starting the UI: %v", err)
	}
	f.run(t, "the UI", app.Start)
	return app.URL()
}

// run runs start until the test ends, or until the stop it returns is called, and fails the test if it
// ends with an error before.
func (f *Framework) run(t *testing.T, what string, start func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- start(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		// A leader that is stopped gives up its Lease, which controller-runtime reports as lost.
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) && err.Error() != "leader election lost" {
			t.Errorf("%s stopped: %v", what, err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// FreeAddress is an address on loopback with a port nothing listens on, for a server the test starts.
func FreeAddress(t *testing.T) string {
	t.Helper()
	ports, err := localcluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", ports[0])
}
