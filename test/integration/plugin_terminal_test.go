package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"

	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

// terminal is a tmux session of the test's own, on a socket of its own so that it never touches the
// user's tmux: a real terminal, 120 columns by 30 rows, that the plugin draws its bars in.
type terminal struct {
	t      *testing.T
	socket string
}

// newTerminal starts command in a new terminal; when it ends, the pane prints EXIT=<its exit code>.
func newTerminal(t *testing.T, command string) *terminal {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Fatal("tmux is missing: run make terminal")
	}
	term := &terminal{t: t, socket: fmt.Sprintf("longtask-test-%d-%d", os.Getpid(), time.Now().UnixNano())}
	t.Cleanup(func() { _ = term.tmux("kill-server") })
	// The shell outlives a Ctrl-C meant for the plugin (a trap, not an ignore, which the plugin would inherit).
	script := "trap : INT; " + command + "; echo EXIT=$?; sleep 3600"
	if err := term.tmux("new-session", "-d", "-s", "plugin", "-x", "120", "-y", "30", "sh", "-c", script); err != nil {
		t.Fatalf("starting tmux: %v", err)
	}
	return term
}

func (term *terminal) tmux(args ...string) error {
	cmd := exec.Command("tmux", append([]string{"-L", term.socket, "-f", "/dev/null"}, args...)...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("tmux %v: %w: %s", args, err, out)
	}
	return nil
}

// screen is what the terminal shows now.
func (term *terminal) screen() (string, error) {
	out, err := exec.Command("tmux", "-L", term.socket, "capture-pane", "-p", "-t", "plugin").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("tmux capture-pane: %w: %s", err, out)
	}
	return strings.TrimRight(string(out), "\n"), nil
}

// eventuallyShows waits until the screen passes check, and returns it.
func (term *terminal) eventuallyShows(check func(g gomega.Gomega, screen string)) string {
	term.t.Helper()
	var screen string
	framework.Eventually(term.t, func(g gomega.Gomega) {
		var err error
		screen, err = term.screen()
		g.Expect(err).NotTo(gomega.HaveOccurred())
		check(g, screen)
	}, func() string { return "the terminal shows:\n" + screen })
	return screen
}

func TestPluginWatchDrawsBarsInATerminal(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	resize := testutil.MakeLongTask("resize", ns).Obj()
	resizeJob, resizeStart := fw.StartTask(t, resize)
	thumbs := testutil.MakeLongTask("thumbnails", ns).Obj()
	thumbsJob, thumbsStart := fw.StartTask(t, thumbs)
	resizeWorker, thumbsWorker := fw.Worker(t, resize), fw.Worker(t, thumbs)
	resizeWorker.Reports("::progress 37/100 Resizing cat.jpg")

	term := newTerminal(t, fmt.Sprintf("KUBECONFIG=%s %s watch --all -n %s", fw.Kubeconfig, buildPlugin(t), ns))
	term.eventuallyShows(func(g gomega.Gomega, screen string) {
		g.Expect(screen).To(gomega.MatchRegexp(`resize +\[=+[^\]]*\] +37/100 \(37%\) +Running +Resizing cat\.jpg`))
		g.Expect(screen).To(gomega.MatchRegexp(`thumbnails +\[-+\] +Running`))
	})

	// The bars move with the task's progress, as the watch reports it.
	thumbsWorker.Reports("::progress 5/20 Thumbnail \x1b[2J5")
	resizeWorker.Reports("::progress 80/100 Resizing dog.jpg")
	term.eventuallyShows(func(g gomega.Gomega, screen string) {
		g.Expect(screen).To(gomega.MatchRegexp(`resize +\[=+[^\]]*\] +80/100 \(80%\) +Running +Resizing dog\.jpg`))
		g.Expect(screen).To(gomega.MatchRegexp(`thumbnails +\[=+[^\]]*\] +5/20 \(25%\) +Running +Thumbnail 5`), "escape sequences are dropped")
	})

	succeedTask(t, resizeJob, resizeStart)
	failTask(t, thumbs, thumbsJob, thumbsStart)
	screen := term.eventuallyShows(func(g gomega.Gomega, screen string) {
		g.Expect(screen).To(gomega.ContainSubstring("EXIT=1"), "a task failed")
	})
	g := gomega.NewWithT(t)
	g.Expect(screen).To(gomega.MatchRegexp(`resize +\[=+\] +100/100 \(100%\) +Succeeded`))
	g.Expect(screen).To(gomega.MatchRegexp(`thumbnails +\[=+>-+\] +5/20 \(25%\) +Failed`))
	g.Expect(screen).To(gomega.ContainSubstring("  TaskFailed: The task exited with code 3\n  │ copying part 4\n  │ disk full: /data"))
	g.Expect(screen).To(gomega.ContainSubstring("error: 1 of 2 tasks did not succeed: [thumbnails]"))
	saveScreen(t, "watch.txt", screen)
}

func TestPluginWatchInATerminalStopsOnCtrlC(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).Obj()
	fw.StartTask(t, task)
	fw.Worker(t, task).Reports("::progress 3/10 Resizing cat.jpg")

	term := newTerminal(t, fmt.Sprintf("%s --kubeconfig %s watch resize -n %s", buildPlugin(t), fw.Kubeconfig, ns))
	term.eventuallyShows(func(g gomega.Gomega, screen string) {
		g.Expect(screen).To(gomega.MatchRegexp(`resize +\[=+[^\]]*\] +3/10 \(30%\) +Running`))
	})
	if err := term.tmux("send-keys", "-t", "plugin", "C-c"); err != nil {
		t.Fatal(err)
	}
	screen := term.eventuallyShows(func(g gomega.Gomega, screen string) {
		g.Expect(screen).To(gomega.ContainSubstring("EXIT=130"))
	})
	gomega.NewWithT(t).Expect(screen).To(gomega.ContainSubstring("error: interrupted before every task finished"))
}

// saveScreen keeps a screen the docs show, in bin/terminal.
func saveScreen(t *testing.T, name, screen string) {
	dir := fw.Path("bin", "terminal")
	if err := os.MkdirAll(dir, 0o755); err == nil {
		err = os.WriteFile(filepath.Join(dir, name), []byte(screen+"\n"), 0o644)
		if err != nil {
			t.Logf("keeping the screen: %v", err)
		}
	}
}
