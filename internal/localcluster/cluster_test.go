package localcluster

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestFailedSaysWhichComponentDied: a component that exits on its own breaks the cluster and is named;
// one the cluster stops is not.
func TestFailedSaysWhichComponentDied(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{opts: Options{StateDir: dir}, failed: make(chan string, 1)}
	if _, err := c.startProcess("sleeper", []string{"sleep", "60"}); err != nil {
		t.Fatal(err)
	}
	c.stopComponent("sleeper")
	select {
	case name := <-c.Failed():
		t.Fatalf("%s, stopped by the cluster, was reported as failed", name)
	case <-time.After(200 * time.Millisecond):
	}

	if _, err := c.startProcess("crasher", []string{"sh", "-c", "echo out of luck; exit 3"}); err != nil {
		t.Fatal(err)
	}
	select {
	case name := <-c.Failed():
		if name != "crasher" {
			t.Errorf("Failed named %q, want crasher", name)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a component that exited was not reported")
	}
	if log, _ := os.ReadFile(c.LogFile("crasher")); string(log) != "out of luck\n" {
		t.Errorf("its log holds %q, want what it printed", log)
	}
}

// TestFaultStopsWithoutFailing: a control-plane component stopped by a fault is not a failure, and starts
// again with the same command line in its place, so that the cluster still stops it in order.
func TestFaultStopsWithoutFailing(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{opts: Options{StateDir: dir}, failed: make(chan string, 1)}
	defer func() {
		for _, p := range c.procs {
			p.stop(time.Second)
		}
	}()
	for _, name := range []string{"etcd", "kube-apiserver"} {
		if _, err := c.startProcess(name, []string{"sleep", "60"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.StopFault(t.Context(), "etcd"); err != nil {
		t.Fatal(err)
	}
	select {
	case name := <-c.Failed():
		t.Fatalf("%s, stopped by a fault, was reported as failed", name)
	case <-time.After(200 * time.Millisecond):
	}
	if what, err := c.StopFault(t.Context(), "etcd"); err != nil || what != "etcd was stopped already" {
		t.Errorf("stopping etcd twice: %q, %v; want it to say it was stopped already", what, err)
	}

	stopped := c.procs[0]
	if err := c.restartProcess("etcd"); err != nil {
		t.Fatal(err)
	}
	if got := c.procs[0]; got == stopped || got.name != "etcd" || got.hasExited() || !slices.Equal(got.cmd.Args, stopped.cmd.Args) {
		t.Errorf("after a start, the first component is %s (%v), want etcd running %q again", got.name, got.cmd.Args, stopped.cmd.Args)
	}
}
