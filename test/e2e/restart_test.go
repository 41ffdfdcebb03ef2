//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterSurvivesARestart stops the cluster as Ctrl-C on `make dev 2>&1 | tee dev.log` does (the
// terminal goes first) and starts it again on the same state, as `make dev` twice does; then kills it with
// SIGKILL, which leaves its node running, and starts it again. It is not parallel, so it runs before the
// parallel tests, which then use the restarted cluster.
func TestClusterSurvivesARestart(t *testing.T) {
	ns := newNamespace(t)
	kubectl(t, ns, "apply", "-f", sample("shell"))
	kubectl(t, ns, "wait", "--for=condition=Succeeded", "longtask/shell", "--timeout="+waitTimeout)

	cluster.closeTerminal()
	cluster.stop()
	expectNothingLeft(t)
	if err := cluster.start(); err != nil {
		t.Fatalf("restarting the cluster after Ctrl-C: %v", err)
	}

	cluster.kill()
	logFile := filepath.Join(stateDir, "logs", "localcluster.log")
	before, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := cluster.start(); err != nil {
		t.Fatalf("restarting the cluster after kill -9: %v", err)
	}
	log, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if said := string(log[len(before):]); !strings.Contains(said, "did not stop cleanly; removed what it left: ") {
		t.Errorf("the start after kill -9 did not say what it removed; it said:\n%s", said)
	}

	// The finished task is as it was.
	expectStatus(t, ns, "shell", map[string]string{".status.phase": "Succeeded", ".status.result": `{"parts": 10}`})
	// The manager came back: a new task runs.
	kubectl(t, ns, "apply", "-f", sample("failing"))
	kubectl(t, ns, "wait", "--for=condition=Failed", "longtask/failing", "--timeout="+waitTimeout)
}

// expectNothingLeft checks what a stopped cluster promises: no network namespace, no mounts under its
// state directory or its /run directory, no cgroups, so no processes.
func expectNothingLeft(t *testing.T) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stateDir, "network.json"))
	if err != nil {
		t.Fatal(err)
	}
	var network struct{ Namespace string }
	if err := json.Unmarshal(data, &network); err != nil || network.Namespace == "" {
		t.Fatalf("reading the node's network namespace from network.json: %v", err)
	}
	namespaces, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(namespaces), network.Namespace) {
		t.Errorf("network namespace %s is still there after the cluster stopped", network.Namespace)
	}
	// The cluster names its cgroup tree and its /run directory like its namespace.
	id := strings.TrimPrefix(network.Namespace, "longtask-")
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mounts), "\n") {
		if f := strings.Fields(line); len(f) > 4 && (strings.HasPrefix(f[4], stateDir+"/") || strings.HasPrefix(f[4], "/run/longtask/"+id)) {
			t.Errorf("still mounted after the cluster stopped: %s", f[4])
		}
	}
	cgroups, _ := filepath.Glob("/sys/fs/cgroup/*/" + network.Namespace)
	if unified, err := os.Stat("/sys/fs/cgroup/" + network.Namespace); err == nil && unified.IsDir() {
		cgroups = append(cgroups, "/sys/fs/cgroup/"+network.Namespace)
	}
	if len(cgroups) > 0 {
		t.Errorf("cgroups still there after the cluster stopped: %v", cgroups)
	}
}
