// Command manager runs the LongTask controller.
package main

import (
	"flag"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/controllers"
)

func main() {
	var (
		metricsAddr, metricsCertDir, probeAddr, pprofAddr, workerImage string
		leaderElect, metricsSecure                                     bool
		writeBudget                                                    float64
		concurrency                                                    int
		watchNamespaces                                                []string
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", ":8443", "Address the metrics endpoint binds to; 0 turns it off.")
	flag.BoolVar(&metricsSecure, "metrics-secure", true,
		"Serve metrics over HTTPS, only to callers whose token may get /metrics (the longtask-metrics-reader ClusterRole); false serves plain HTTP to anyone.")
	flag.StringVar(&metricsCertDir, "metrics-cert-dir", "",
		"Directory with tls.crt and tls.key for the metrics endpoint (from cert-manager, say), reloaded when they change; without them it uses a self-signed certificate.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "Address the health probes bind to.")
	flag.StringVar(&pprofAddr, "pprof-bind-address", "", "Address net/http/pprof's profiles are served on (for make bench); empty turns it off.")
	flag.BoolVar(&leaderElect, "leader-elect", false, "Elect a leader, so that only one of several managers is active.")
	flag.StringVar(&workerImage, "worker-image", "ghcr.io/longtask-dev/longtask-worker:latest",
		"Image that holds longtask-worker; it runs tasks that name no image of their own.")
	flag.Float64Var(&writeBudget, "progress-write-budget", 100,
		"Progress writes per second that all running tasks together may make to the API server; 0 for no limit. "+
			"Each task writes at most once per spec.progressInterval, or less often when many tasks share the budget.")
	flag.IntVar(&concurrency, "max-concurrent-reconciles", 10,
		"How many tasks the controller reconciles at once. Starting a task takes a few API writes, so this bounds "+
			"how fast a burst of new tasks gets its Jobs.")
	flag.Func("watch-namespaces", "Comma-separated namespaces whose tasks the manager runs; empty (the default) for all.",
		func(s string) error {
			for _, ns := range strings.Split(s, ",") {
				if ns = strings.TrimSpace(ns); ns != "" {
					watchNamespaces = append(watchNamespaces, ns)
				}
			}
			return nil
		})
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, longtaskv1.AddToScheme} {
		if err := add(scheme); err != nil {
			log.Error(err, "Unable to build the scheme")
			os.Exit(1)
		}
	}

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controllers.CacheOptions(watchNamespaces...),
		Metrics:                controllers.MetricsServerOptions(metricsAddr, metricsSecure, metricsCertDir),
		HealthProbeBindAddress: probeAddr,
		PprofBindAddress:       pprofAddr,
		LeaderElection:         leaderElect,
		LeaderElectionID:       "longtask-manager.longtask.dev",
	})
	if err != nil {
		log.Error(err, "Unable to create the manager")
		os.Exit(1)
	}
	if err := controllers.NewLongTaskReconciler(mgr, controllers.JobOptions{WorkerImage: workerImage}, writeBudget).SetupWithManager(mgr, concurrency); err != nil {
		log.Error(err, "Unable to set up the controller")
		os.Exit(1)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up the health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up the ready check")
		os.Exit(1)
	}

	log.Info("Starting the manager", "workerImage", workerImage, "progressWriteBudget", writeBudget, "maxConcurrentReconciles", concurrency,
		"watchNamespaces", watchNamespaces, "metrics", metricsAddr, "metricsSecure", metricsSecure)
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
