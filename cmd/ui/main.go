// Command ui serves LongTask's web UI: the task list, a live progress bar for each task, and results.
package main

import (
	"flag"
	"net"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/ui"
)

// The UI reads LongTasks and cancels them. Its patch permission can only cancel: the API server's
// validation refuses any other change to a spec.
// +kubebuilder:rbac:groups=longtask.dev,resources=longtasks,verbs=get;list;watch;patch

func main() {
	var address, probeAddress, namespace string
	var readOnly, push bool
	flag.StringVar(&address, "bind-address", ":8090", "Address the UI is served on.")
	flag.StringVar(&probeAddress, "health-probe-bind-address", ":8091", "Address the health probes bind to.")
	flag.StringVar(&namespace, "namespace", "", "Show only the tasks of this namespace; all namespaces when empty.")
	flag.BoolVar(&readOnly, "read-only", false, "Hide the cancel button and refuse cancel requests.")
	flag.BoolVar(&push, "push", true, "Push progress to pages with server-sent events; false for proxies that break them (pages poll).")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		log.Error(err, "Unable to build the scheme")
		os.Exit(1)
	}
	// The UI never reads managedFields, a large part of each LongTask (the controller and the worker
	// each own fields): not keeping them is much of the UI's memory with thousands of tasks.
	cacheOptions := cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
	if namespace != "" {
		cacheOptions.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cacheOptions,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: probeAddress,
	})
	if err != nil {
		log.Error(err, "Unable to create the manager")
		os.Exit(1)
	}
	var writer client.Client
	if !readOnly {
		writer = mgr.GetClient()
	}
	ctx := ctrl.SetupSignalHandler()
	server, err := ui.NewServer(mgr.GetCache(), writer, namespace)
	var listener net.Listener
	if err == nil {
		server.NoPush = !push
		listener, err = net.Listen("tcp", address)
	}
	if err == nil {
		err = ui.AddToManager(ctx, mgr, server, listener)
	}
	if err == nil {
		err = mgr.AddHealthzCheck("healthz", healthz.Ping)
	}
	if err != nil {
		log.Error(err, "Unable to set up the UI")
		os.Exit(1)
	}
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "The UI stopped")
		os.Exit(1)
	}
}
