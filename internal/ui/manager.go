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
	httpServer := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
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
