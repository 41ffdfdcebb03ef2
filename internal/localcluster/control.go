package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// The control socket lets another process (a test, `localcluster fault`) inject faults into a running
// cluster: POST /faults/{component}/{stop|start} answers 200 with what happened, or an error status with
// why not. A unix socket in the state directory, readable by its owner only, since whoever can reach it
// can break the cluster; the state directory names the cluster, so two clusters never mix.

// ControlSocket is the control socket of the cluster whose state directory is stateDir.
func ControlSocket(stateDir string) string { return filepath.Join(stateDir, "control.sock") }

// faulter is what the control socket drives: a *Cluster, or a fake in tests.
type faulter interface {
	StopFault(ctx context.Context, component string) (string, error)
	StartFault(ctx context.Context, component string) (string, error)
}

// ServeControl serves the cluster's control socket until the returned function is called, which closes
// it and removes it. Requests in progress are cancelled by that or by ctx.
func (c *Cluster) ServeControl(ctx context.Context) (func(), error) {
	return serveControl(ctx, ControlSocket(c.opts.StateDir), c)
}

func serveControl(ctx context.Context, path string, f faulter) (func(), error) {
	// A socket left by a run that was killed.
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("serving the control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	server := &http.Server{Handler: faultHandler(f), BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() { _ = server.Serve(l) }()
	return func() {
		_ = server.Close()
		_ = os.Remove(path)
	}, nil
}

// faultHandler routes POST /faults/{component}/{action} to f.
func faultHandler(f faulter) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /faults/{component}/{action}", func(w http.ResponseWriter, r *http.Request) {
		component, action := r.PathValue("component"), r.PathValue("action")
		if !slices.Contains(FaultComponents, component) {
			http.Error(w, unknownComponent(component).Error(), http.StatusNotFound)
			return
		}
		do := map[string]func(context.Context, string) (string, error){"stop": f.StopFault, "start": f.StartFault}[action]
		if do == nil {
			http.Error(w, fmt.Sprintf("unknown action %q for %s: want stop or start", action, component), http.StatusNotFound)
			return
		}
		what, err := do(r.Context(), component)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, what)
	})
	return mux
}

// RequestFault asks the cluster whose state directory is stateDir to stop or start a component, and
// returns what happened. It returns when the cluster has done it, or with the cluster's error.
func RequestFault(ctx context.Context, stateDir, component, action string) (string, error) {
	socket := ControlSocket(stateDir)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}}
	// The host is never looked up: every connection goes to the socket.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localcluster/faults/"+component+"/"+action, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
		return "", fmt.Errorf("no cluster is running with the state directory %s (%s): %w", stateDir, socket, err)
	}
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	if err != nil {
		return "", err
	}
	text := strings.TrimSpace(string(body))
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(text)
	}
	return text, nil
}
