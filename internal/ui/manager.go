package ui

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// AddToManager makes the manager watch LongTasks for the server and serve it on the listener once the
// manager's cache is in sync.
func AddToManager(ctx context.Context, mgr ctrl.Manager, server *Server, listener net.Listener) error {
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
