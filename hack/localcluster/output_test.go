package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/longtask-dev/longtask/internal/localcluster"
)

// upHelperEnv, when set, makes the test binary run `localcluster up`'s process handling (runUp) as its
// own program, with a stand-in for the cluster that says what it does, in the state directory the
// variable names.
const upHelperEnv = "LOCALCLUSTER_TEST_UP"

func TestMain(m *testing.M) {
	if stateDir := os.Getenv(upHelperEnv); stateDir != "" {
		os.Exit(runUp(options{cluster: localcluster.Options{StateDir: stateDir}}, standInUp))
	}
	os.Exit(m.Run())
}

// standInUp does what up does around a cluster: says it is up, waits for a stop signal, then stops,
// saying so on the way, as Cluster.Stop does at each step.
func standInUp(ctx context.Context, _ options, out *output) error {
	out.Printf("cluster ready")
	<-ctx.Done()
	out.Printf("stopping")
	for _, step := range []string{"kube-proxy", "kubelet", "containerd", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		out.Printf("stopped %s", step)
	}
	out.Printf("stopped")
	return nil
}

// startUp runs the stand-in as its own process with its stdout and stderr on a pipe, as in
// `make dev 2>&1 | tee dev.log`, and returns once it says the cluster is ready, with the pipe's reading end.
func startUp(t *testing.T, stateDir string) (*exec.Cmd, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), upHelperEnv+"="+stateDir)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_ = w.Close() // the child has its own copy
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || !strings.Contains(line, "cluster ready") {
		_ = cmd.Process.Kill()
		t.Fatalf("the stand-in said %q, %v; want it to say the cluster is ready", line, err)
	}
	return cmd, r
}

// TestStopFinishesWithItsTerminalGone: Ctrl-C on `make dev 2>&1 | tee dev.log` ends tee before
// localcluster has stopped the cluster. Its stop must still run to the end, and its log file keep what it
// said: a program that died of the first write to the closed pipe left the node's processes, mounts and
// network namespace behind.
func TestStopFinishesWithItsTerminalGone(t *testing.T) {
	stateDir := t.TempDir()
	cmd, r := startUp(t, stateDir)
	_ = r.Close() // tee is gone
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("localcluster up, stopped with its terminal gone: %v; want it to finish its stop and exit 0", err)
	}
	log, err := os.ReadFile(filepath.Join(stateDir, "logs", "localcluster.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(log), "stopped etcd\nlocalcluster: stopped\n") {
		t.Errorf("its log file holds\n%s\nwant every line of the stop, to the last", log)
	}
}

// TestStopOutlastsASecondSignal: a second Ctrl-C, or the terminal closing, while the cluster stops does not
// cut the stop short.
func TestStopOutlastsASecondSignal(t *testing.T) {
	stateDir := t.TempDir()
	cmd, r := startUp(t, stateDir)
	defer func() { _ = r.Close() }() // only read
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGINT, syscall.SIGHUP} {
		if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("localcluster up, signalled three times: %v; want it to finish its stop and exit 0", err)
		}
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		t.Fatal("localcluster up did not exit after three stop signals")
	}
	rest, _ := bufio.NewReader(r).ReadString(0) // everything it wrote after "cluster ready"
	if !strings.HasSuffix(rest, "localcluster: stopped\n") {
		t.Errorf("its terminal got\n%s\nwant every line of the stop, to the last", rest)
	}
}
