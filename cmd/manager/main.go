// Command manager runs the LongTask controller.
package main

import (
	"flag"
	"os"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/longtask-dev/longtask/internal/manager"
)

func main() {
	var opts manager.Options
	flag.StringVar(&opts.MetricsBindAddress, "metrics-bind-address", ":8443", "Address the metrics endpoint binds to; 0 turns it off.")
	flag.BoolVar(&opts.MetricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS, only to callers whose token may get /metrics (the longtask-metrics-reader ClusterRole); false serves plain HTTP to anyone.")
	flag.StringVar(&opts.MetricsCertDir, "metrics-cert-dir", "",
		"Directory with tls.crt and tls.key for the metrics endpoint (from cert-manager, say), reloaded when they change; without them it uses a self-signed certificate.")
	flag.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", ":8081", "Address the health probes bind to.")
	flag.StringVar(&opts.PprofBindAddress, "pprof-bind-address", "", "Address net/http/pprof's profiles are served on (for make bench); empty turns it off.")
	flag.BoolVar(&opts.LeaderElection, "leader-elect", false, "Elect a leader, so that only one of several managers is active.")
	flag.StringVar(&opts.WorkerImage, "worker-image", "ghcr.io/longtask-dev/longtask-worker:latest",
		"Image that holds longtask-worker; it runs tasks that name no image of their own.")
	flag.Float64Var(&opts.ProgressWriteBudget, "progress-write-budget", 100,
		"Progress writes per second that all running tasks together may make to the API server; 0 for no limit. "+
			"Each task writes at most once per spec.progressInterval, or less often when many tasks share the budget.")
	flag.IntVar(&opts.MaxConcurrentReconciles, "max-concurrent-reconciles", 10,
		"How many tasks the controller reconciles at once. Starting a task takes a few API writes, so this bounds "+
			"how fast a burst of new tasks gets its Jobs.")
	flag.Func("watch-namespaces", "Comma-separated namespaces whose tasks the manager runs; empty (the default) for all.",
		func(s string) error {
			for _, ns := range strings.Split(s, ",") {
				if ns = strings.TrimSpace(ns); ns != "" {
					opts.WatchNamespaces = append(opts.WatchNamespaces, ns)
				}
			}
			return nil
		})
	logOpts := zap.Options{}
	logOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&logOpts)))
	log := ctrl.Log.WithName("setup")

	mgr, err := manager.New(ctrl.GetConfigOrDie(), opts)
	if err != nil {
		log.Error(err, "Unable to set up the manager")
		os.Exit(1)
	}
	log.Info("Starting the manager", "workerImage", opts.WorkerImage, "progressWriteBudget", opts.ProgressWriteBudget,
		"maxConcurrentReconciles", opts.MaxConcurrentReconciles, "watchNamespaces", opts.WatchNamespaces,
		"metrics", opts.MetricsBindAddress, "metricsSecure", opts.MetricsSecure)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "The manager stopped")
		os.Exit(1)
	}
}

// The controller's RBAC beyond what its markers in controllers/ say: leader election, and checking the tokens
// of those who scrape its metrics (--metrics-secure).
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch;delete,namespace=longtask-system
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch,namespace=longtask-system
