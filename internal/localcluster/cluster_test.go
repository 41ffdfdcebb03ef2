package localcluster

import (
	"os"
	"path/filepath"
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
