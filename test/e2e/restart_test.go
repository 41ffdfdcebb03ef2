//go:build e2e

package e2e

import "testing"

// TestClusterSurvivesARestart stops the cluster as Ctrl-C does and starts it again on the same state, as
// `make dev` twice does. It is not parallel, so it runs before the parallel tests, which then use the
// restarted cluster.
func TestClusterSurvivesARestart(t *testing.T) {
	ns := newNamespace(t)
	kubectl(t, ns, "apply", "-f", sample("shell"))
	kubectl(t, ns, "wait", "--for=condition=Succeeded", "longtask/shell", "--timeout="+waitTimeout)

	cluster.stop()
	if err := cluster.start(); err != nil {
		t.Fatalf("restarting the cluster: %v", err)
	}

	// The finished task is as it was.
	expectStatus(t, ns, "shell", map[string]string{".status.phase": "Succeeded", ".status.result": `{"parts": 10}`})
	// The manager came back: a new task runs.
	kubectl(t, ns, "apply", "-f", sample("failing"))
	kubectl(t, ns, "wait", "--for=condition=Failed", "longtask/failing", "--timeout="+waitTimeout)
}
