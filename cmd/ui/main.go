// Command ui serves LongTask's web UI: the task list, a live progress bar and log for each task, results,
// and forms that start tasks from templates.
package main

import (
	"flag"
	"os"
	"strings"
	"unicode"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/longtask-dev/longtask/internal/ui"
)

// With --auth=token (the default off loopback) the UI reads LongTasks and templates into its cache, and
// asks the API server who a token is and what its owner may do; it starts and cancels tasks, and reads
// logs and events, with the viewer's own token. With --auth=none it does those with its own account,
// which needs the rights in config/dev/ui-acts.yaml.
// +kubebuilder:rbac:groups=longtask.dev,resources=longtasks;longtasktemplates,verbs=get;list;watch
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// The session key's Secret (--session-secret), in the UI's own namespace: it reads that one only. The
// install creates it (the chart, make deploy), so the UI needs no create, which cannot be limited to a name.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get,resourceNames=longtask-ui-session,namespace=longtask-system

func main() {
	var opts ui.Options
	var push bool
	flag.StringVar(&opts.BindAddress, "bind-address", ":8090", "Address the UI is served on.")
	flag.StringVar(&opts.HealthProbeBindAddress, "health-probe-bind-address", ":8091", "Address the health probes bind to.")
	flag.StringVar(&opts.Namespace, "namespace", "", "Show only the tasks of this namespace; all namespaces when empty.")
	flag.StringVar((*string)(&opts.Auth), "auth", "", "How viewers sign in: token (a Kubernetes bearer token, checked with TokenReview; RBAC decides what they see and do) or none (anyone who reaches the UI acts as the UI). Default: none when --bind-address is loopback, else token.")
	flag.StringVar(&opts.TLSCertFile, "tls-cert-file", "", "Serve HTTPS with this certificate (and --tls-private-key-file).")
	flag.StringVar(&opts.TLSKeyFile, "tls-private-key-file", "", "The key of --tls-cert-file.")
	flag.StringVar(&opts.SessionSecret, "session-secret", "", "Read the key of sign-in cookies from data.key of this Secret, [NAMESPACE/]NAME (the namespace defaults to $POD_NAMESPACE), which the install creates: viewers stay signed in, and followed pages reconnect, when the UI restarts or runs several replicas. Empty: a new key at each start.")
	flag.Func("allowed-hosts", "With --auth=none, the names the UI answers to besides localhost, 127.0.0.1 and [::1] (the Host of a request, any port), comma-separated. It refuses other names, lest a web page on a name that resolves to its address act as it (DNS rebinding).",
		func(s string) error {
			opts.AllowedHosts = strings.FieldsFunc(s, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
			return nil
		})
	flag.BoolVar(&opts.ReadOnly, "read-only", false, "Hide the forms that start and cancel tasks, and refuse them.")
	flag.IntVar(&opts.MaxStreams, "max-streams", ui.DefaultMaxStreams, "The most event streams open at once; past it a page polls instead.")
	flag.IntVar(&opts.MaxStreamsPerViewer, "max-streams-per-viewer", ui.DefaultMaxStreamsPerViewer, "The most event streams one viewer has open at once (with --auth=none, everyone is one viewer); past it a page polls instead.")
	flag.BoolVar(&push, "push", true, "Push progress to pages with server-sent events; false for proxies that break them (pages poll).")
	logOpts := zap.Options{}
	logOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&logOpts)))
	log := ctrl.Log.WithName("setup")
	opts.NoPush = !push

	ctx := ctrl.SetupSignalHandler()
	app, err := ui.New(ctx, ctrl.GetConfigOrDie(), opts)
	if err != nil {
		log.Error(err, "Unable to set up the UI")
		os.Exit(1)
	}
	if err := app.Start(ctx); err != nil {
		log.Error(err, "The UI stopped")
		os.Exit(1)
	}
}
