//go:build e2e

package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A user starts a task from a template with `kubectl longtask run --watch` on the real cluster: the
// plugin waits for it to finish and exits with its outcome, and `result` prints what it returned.
func TestPluginRunsATemplateAndWatchesItToTheEnd(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	kubectl(t, ns, "apply", "-f", sample("templates"))
	plugin := filepath.Join(t.TempDir(), "kubectl-longtask")
	if out, err := exec.Command("go", "build", "-o", plugin, filepath.Join(root, "cmd", "kubectl-longtask")).CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}

	// Piped, as in CI, the watch prints a line per change.
	out, err := exec.Command(plugin, "run", "resize-photos", "-n", ns, "--name", "photos", "-p", "count=5", "-p", "delay=200ms", "--watch").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl longtask run --watch: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "photos Succeeded 5/5") {
		t.Errorf("the watch's last line is %q, want photos Succeeded 5/5; all of it:\n%s", last, out)
	}
	result, err := exec.Command(plugin, "result", "photos", "-n", ns).Output()
	if err != nil || !strings.Contains(string(result), `"steps": 5`) {
		t.Errorf("kubectl longtask result: %v, %s; want the demo's result with its 5 steps", err, result)
	}
}
