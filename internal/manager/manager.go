// Package manager builds the LongTask manager: controller-runtime's manager with the cache, metrics
// endpoint, probes and leader election the LongTask controller runs with, and the controller in it.
// cmd/manager, the integration tests and, through the binary, make bench all start it with New.
package manager

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/controllers"
)

// LeaderElectionID names the Lease that managers with LeaderElection take turns holding.
const LeaderElectionID = "longtask-manager.longtask.dev"

// Options configure a manager: what cmd/manager's flags set, and what only tests change.
type Options struct {
	// WorkerImage holds longtask-worker; it runs tasks that name no image of their own.
	WorkerImage string
	// ProgressWriteBudget is how many progress writes per second all running tasks together may make; 0
	// for no limit.
	ProgressWriteBudget float64
	// MaxConcurrentReconciles is how many tasks are reconciled at once.
	MaxConcurrentReconciles int
	// WatchNamespaces are the namespaces whose tasks the manager runs; all when empty.
	WatchNamespaces []string

	// MetricsBindAddress is where the metrics are served; empty or "0" serves none.
	MetricsBindAddress string
	// MetricsSecure and MetricsCertDir: see controllers.MetricsServerOptions.
	MetricsSecure  bool
	MetricsCertDir string
	// HealthProbeBindAddress serves /healthz and /readyz; empty or "0" serves none.
	HealthProbeBindAddress string
	// PprofBindAddress serves net/http/pprof's profiles; empty serves none.
	PprofBindAddress string

	// LeaderElection makes the manager act only while it holds the Lease LeaderElectionID, in
	// LeaderElectionNamespace (the namespace it runs in, when empty and in a pod).
	LeaderElection          bool
	LeaderElectionNamespace string

	// Clock tells the controller and its progress write budget the time; the real clock when nil.
	Clock clock.PassiveClock
	// Registry is where the LongTask metrics are registered; controller-runtime's, which the metrics
	// endpoint serves, when nil. Two managers in one process need a registry each.
	Registry prometheus.Registerer
}

// New returns a manager that talks to the API server of restConfig, with the LongTask controller set up
// in it; Start runs it.
func New(restConfig *rest.Config, opts Options) (ctrl.Manager, error) {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, longtaskv1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("building the scheme: %w", err)
		}
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                  scheme,
		Cache:                   controllers.CacheOptions(opts.WatchNamespaces...),
		Metrics:                 controllers.MetricsServerOptions(off(opts.MetricsBindAddress), opts.MetricsSecure, opts.MetricsCertDir),
		HealthProbeBindAddress:  off(opts.HealthProbeBindAddress),
		PprofBindAddress:        opts.PprofBindAddress,
		LeaderElection:          opts.LeaderElection,
		LeaderElectionID:        LeaderElectionID,
		LeaderElectionNamespace: opts.LeaderElectionNamespace,
		// Controller names must be unique because controller-runtime labels its metrics with them; the
		// managers that share a process (the integration tests') share those metrics knowingly.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	reconciler := controllers.NewLongTaskReconciler(mgr, controllers.ReconcilerOptions{
		Job:                     controllers.JobOptions{WorkerImage: opts.WorkerImage},
		ProgressWriteBudget:     opts.ProgressWriteBudget,
		MaxConcurrentReconciles: opts.MaxConcurrentReconciles,
		Clock:                   opts.Clock,
		Registry:                opts.Registry,
	})
	if err := reconciler.SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the controller: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("setting up the health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, fmt.Errorf("setting up the ready check: %w", err)
	}
	return mgr, nil
}

// off is address, or "0" (controller-runtime's "serve nothing") when it is empty.
func off(address string) string {
	if address == "" {
		return "0"
	}
	return address
}
