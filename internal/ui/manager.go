package ui

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// App is the UI as cmd/ui runs it: a cache of the LongTasks and templates, the server, and its listener,
// in a controller-runtime manager.
type App struct {
	mgr ctrl.Manager
	url string
}

// New returns the UI of the API server of restConfig, listening on opts.BindAddress; Start serves it.
// It reads the session key when opts name its Secret, and makes the UI's clients.
func New(ctx context.Context, restConfig *rest.Config, opts Options) (*App, error) {
	log := ctrl.Log.WithName("ui")
	if opts.Auth == "" {
		opts.Auth = DefaultAuth(opts.BindAddress)
	}
	if opts.Auth == AuthNone && DefaultAuth(opts.BindAddress) != AuthNone {
		log.Info("Anyone who reaches the UI acts with its account: --auth=none and it listens beyond loopback", "address", opts.BindAddress)
	}
	scheme := runtime.NewScheme()
	if err := longtaskv1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building the scheme: %w", err)
	}
	// The UI never reads managedFields, a large part of each LongTask (the controller and the worker
	// each own fields): not keeping them is much of the UI's memory with thousands of tasks.
	cacheOptions := cache.Options{DefaultTransform: cache.TransformStripManagedFields()}
	if opts.Namespace != "" {
		cacheOptions.DefaultNamespaces = map[string]cache.Config{opts.Namespace: {}}
	}
	healthProbe := opts.HealthProbeBindAddress
	if healthProbe == "" {
		healthProbe = "0"
	}
	mgr, err := ctrl.NewManager(restConfig, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  cacheOptions,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: healthProbe,
	})
	if err != nil {
		return nil, fmt.Errorf("creating the manager: %w", err)
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	kube, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return nil, err
	}
	if opts.SessionSecret != "" {
		if opts.SessionKey, err = readSessionKey(ctx, kube, opts.SessionSecret); err != nil {
			return nil, err
		}
	}
	opts.Reader, opts.Client, opts.Kube, opts.Config = mgr.GetCache(), mgr.GetClient(), kube, restConfig
	server, err := NewServer(opts)
	if err != nil {
		return nil, err
	}
	listener, err := listen(opts.BindAddress, opts.TLSCertFile, opts.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	if err := addToManager(ctx, mgr, server, listener); err != nil {
		_ = listener.Close() // nothing was served on it
		return nil, err
	}
	url := "http://" + listener.Addr().String()
	if opts.TLSCertFile != "" {
		url = "https://" + listener.Addr().String()
	}
	return &App{mgr: mgr, url: url}, nil
}

// URL is where the UI is served: the scheme and the address it listens on.
func (a *App) URL() string { return a.url }

// Start serves the UI until ctx ends.
func (a *App) Start(ctx context.Context) error { return a.mgr.Start(ctx) }

// listen listens on address, with TLS when a certificate is given.
func listen(address, certFile, keyFile string) (net.Listener, error) {
	listener, err := net.Listen("tcp", address)
	if err != nil || certFile == "" {
		return listener, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		_ = listener.Close() // nothing was served on it
		return nil, err
	}
	return tls.NewListener(listener, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), nil
}

// readSessionKey reads the session key from secret, [NAMESPACE/]NAME, in $POD_NAMESPACE when no namespace
// is given.
func readSessionKey(ctx context.Context, kube kubernetes.Interface, secret string) ([]byte, error) {
	namespace, name, found := strings.Cut(secret, "/")
	if !found {
		namespace, name = os.Getenv("POD_NAMESPACE"), secret
	}
	if namespace == "" || name == "" {
		return nil, fmt.Errorf("--session-secret=%q: give NAMESPACE/NAME, or NAME with POD_NAMESPACE set", secret)
	}
	return SessionKey(ctx, kube, namespace, name)
}

// addToManager makes the manager watch LongTasks for the server and serve it on the listener once the
// manager's cache is in sync.
func addToManager(ctx context.Context, mgr ctrl.Manager, server *Server, listener net.Listener) error {
	informer, err := mgr.GetCache().GetInformer(ctx, &longtaskv1.LongTask{})
	if err != nil {
		return fmt.Errorf("watching LongTasks: %w", err)
	}
	notify := func(obj any) {
		if tombstone, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = tombstone.Obj
		}
		if task, ok := obj.(*longtaskv1.LongTask); ok {
			server.Notify(types.NamespacedName{Namespace: task.Namespace, Name: task.Name})
		}
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: notify,
	}); err != nil {
		return err
	}
	return mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return errors.New("the LongTask cache did not sync")
		}
		return serve(ctx, server.Handler(), listener)
	}))
}

// serve serves handler until ctx ends, then shuts down gracefully.
func serve(ctx context.Context, handler http.Handler, listener net.Listener) error {
	httpServer := newHTTPServer(handler)
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = httpServer.Shutdown(shutdown)
	}()
	ctrl.Log.WithName("ui").Info("Serving the UI", "address", listener.Addr().String())
	if err := httpServer.Serve(listener); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// The bounds of the UI's server on its clients: how long one may take to send a request's header and the
// whole request (a form is small), to take an answer (a task's page reads its pods, Events and the last
// lines of its log first), and to keep a connection idle. A slow or silent client holds a connection and
// a goroutine at most so long. Event streams lift the read and write bounds for themselves, and bound
// each write instead (openStream).
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = time.Minute
	idleTimeout       = 2 * time.Minute
)

// newHTTPServer is the UI's server, with its bounds.
func newHTTPServer(handler http.Handler) *http.Server {
	return &http.Server{Handler: handler, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout}
}
