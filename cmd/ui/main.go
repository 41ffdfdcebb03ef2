// Command ui serves LongTask's web UI: the task list, a live progress bar and log for each task, results,
// and forms that start tasks from templates.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"unicode"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
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
	var address, probeAddress, namespace, auth, certFile, keyFile, sessionSecret, allowedHosts string
	var readOnly, push bool
	var maxStreams, maxStreamsPerViewer int
	flag.StringVar(&address, "bind-address", ":8090", "Address the UI is served on.")
	flag.StringVar(&probeAddress, "health-probe-bind-address", ":8091", "Address the health probes bind to.")
	flag.StringVar(&namespace, "namespace", "", "Show only the tasks of this namespace; all namespaces when empty.")
	flag.StringVar(&auth, "auth", "", "How viewers sign in: token (a Kubernetes bearer token, checked with TokenReview; RBAC decides what they see and do) or none (anyone who reaches the UI acts as the UI). Default: none when --bind-address is loopback, else token.")
	flag.StringVar(&certFile, "tls-cert-file", "", "Serve HTTPS with this certificate (and --tls-private-key-file).")
	flag.StringVar(&keyFile, "tls-private-key-file", "", "The key of --tls-cert-file.")
	flag.StringVar(&sessionSecret, "session-secret", "", "Read the key of sign-in cookies from data.key of this Secret, [NAMESPACE/]NAME (the namespace defaults to $POD_NAMESPACE), which the install creates: viewers stay signed in, and followed pages reconnect, when the UI restarts or runs several replicas. Empty: a new key at each start.")
	flag.StringVar(&allowedHosts, "allowed-hosts", "", "With --auth=none, the names the UI answers to besides localhost, 127.0.0.1 and [::1] (the Host of a request, any port), comma-separated. It refuses other names, lest a web page on a name that resolves to its address act as it (DNS rebinding).")
	flag.BoolVar(&readOnly, "read-only", false, "Hide the forms that start and cancel tasks, and refuse them.")
	flag.IntVar(&maxStreams, "max-streams", ui.DefaultMaxStreams, "The most event streams open at once; past it a page polls instead.")
	flag.IntVar(&maxStreamsPerViewer, "max-streams-per-viewer", ui.DefaultMaxStreamsPerViewer, "The most event streams one viewer has open at once (with --auth=none, everyone is one viewer); past it a page polls instead.")
	flag.BoolVar(&push, "push", true, "Push progress to pages with server-sent events; false for proxies that break them (pages poll).")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")
	if auth == "" {
		auth = string(ui.DefaultAuth(address))
	}
	if ui.AuthMode(auth) == ui.AuthNone && ui.DefaultAuth(address) != ui.AuthNone {
		log.Info("Anyone who reaches the UI acts with its account: --auth=none and it listens beyond loopback", "address", address)
	}

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
	config := ctrl.GetConfigOrDie()
	mgr, err := ctrl.NewManager(config, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cacheOptions,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: probeAddress,
	})
	if err != nil {
		log.Error(err, "Unable to create the manager")
		os.Exit(1)
	}
	ctx := ctrl.SetupSignalHandler()
	kube, err := kubernetes.NewForConfig(config)
	var sessionKey []byte
	if err == nil && sessionSecret != "" {
		sessionKey, err = readSessionKey(ctx, kube, sessionSecret)
	}
	var server *ui.Server
	if err == nil {
		server, err = ui.NewServer(mgr.GetCache(), ui.Options{Namespace: namespace, ReadOnly: readOnly,
			Auth: ui.AuthMode(auth), AllowedHosts: strings.FieldsFunc(allowedHosts, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }), Client: mgr.GetClient(), Kube: kube, Config: config, SessionKey: sessionKey,
			MaxStreams: maxStreams, MaxStreamsPerViewer: maxStreamsPerViewer})
	}
	var listener net.Listener
	if err == nil {
		server.NoPush = !push
		listener, err = listen(address, certFile, keyFile)
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

// listen listens on address, with TLS when a certificate is given.
func listen(address, certFile, keyFile string) (net.Listener, error) {
	listener, err := net.Listen("tcp", address)
	if err != nil || certFile == "" {
		return listener, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		listener.Close()
		return nil, err
	}
	return tls.NewListener(listener, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// readSessionKey reads --session-secret's key, [NAMESPACE/]NAME, in $POD_NAMESPACE when no namespace is
// given.
func readSessionKey(ctx context.Context, kube kubernetes.Interface, secret string) ([]byte, error) {
	namespace, name, found := strings.Cut(secret, "/")
	if !found {
		namespace, name = os.Getenv("POD_NAMESPACE"), secret
	}
	if namespace == "" || name == "" {
		return nil, fmt.Errorf("--session-secret=%q: give NAMESPACE/NAME, or NAME with POD_NAMESPACE set", secret)
	}
	return ui.SessionKey(ctx, kube, namespace, name)
}
