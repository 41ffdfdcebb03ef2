package localcluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fakeFaulter records the faults it is asked for and answers with err, if set.
type fakeFaulter struct {
	calls []string
	err   error
}

func (f *fakeFaulter) StopFault(_ context.Context, component string) (string, error) {
	return f.do("stop " + component)
}

func (f *fakeFaulter) StartFault(_ context.Context, component string) (string, error) {
	return f.do("start " + component)
}

func (f *fakeFaulter) do(call string) (string, error) {
	f.calls = append(f.calls, call)
	if f.err != nil {
		return "", f.err
	}
	return call + ": done", nil
}

// TestControlSocket: a fault requested through the control socket reaches the cluster, and what it says
// (or the error it returns, or a refusal of what it cannot do) comes back to the requester.
func TestControlSocket(t *testing.T) {
	tests := map[string]struct {
		component, action string
		err               error
		want              string
		wantErr           string
		wantCalls         []string
	}{
		"stop etcd":          {component: "etcd", action: "stop", want: "stop etcd: done", wantCalls: []string{"stop etcd"}},
		"start the node":     {component: "node", action: "start", want: "start node: done", wantCalls: []string{"start node"}},
		"a fault that fails": {component: "kube-apiserver", action: "start", err: errors.New("kube-apiserver did not become ready"), wantErr: "kube-apiserver did not become ready", wantCalls: []string{"start kube-apiserver"}},
		"unknown component":  {component: "kubelet", action: "stop", wantErr: `unknown component "kubelet"`},
		"unknown action":     {component: "etcd", action: "pause", wantErr: `unknown action "pause" for etcd`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			fake := &fakeFaulter{err: tc.err}
			stop, err := serveControl(t.Context(), ControlSocket(dir), fake)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
			got, err := RequestFault(t.Context(), dir, tc.component, tc.action)
			if tc.wantErr == "" && err != nil {
				t.Fatalf("RequestFault: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("RequestFault error %v, want one with %q", err, tc.wantErr)
			}
			if got != tc.want {
				t.Errorf("RequestFault = %q, want %q", got, tc.want)
			}
			if !slices.Equal(fake.calls, tc.wantCalls) {
				t.Errorf("the cluster was asked for %q, want %q", fake.calls, tc.wantCalls)
			}
		})
	}
}

// TestControlSocketOnlyWhileServed: the socket is its owner's only, is gone when the cluster stops, and a
// request without a cluster says so.
func TestControlSocketOnlyWhileServed(t *testing.T) {
	dir := t.TempDir()
	socket := ControlSocket(dir)
	stop, err := serveControl(t.Context(), socket, &fakeFaulter{})
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(socket)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("the control socket's mode is %o, want 600", mode)
	}
	stop()
	if _, err := os.Stat(socket); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the control socket is still there after the cluster stopped: %v", err)
	}
	_, err = RequestFault(t.Context(), filepath.Join(dir), "etcd", "stop")
	if err == nil || !strings.Contains(err.Error(), "no cluster is running") {
		t.Errorf("RequestFault without a cluster: error %v, want one saying no cluster is running", err)
	}
}
