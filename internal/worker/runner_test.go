package worker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/utils/ptr"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

func newTestRunner(out io.Writer, total int64) *Runner {
	tracker := &Tracker{Total: total, Attempt: 1}
	publisher := NewPublisher(time.Second, nil)
	publisher.BeforeWrite = tracker.Derive
	return &Runner{Stdout: out, Stderr: out, Publisher: publisher, Tracker: tracker}
}

func runScript(t *testing.T, total int64, script string) (*Runner, string, error) {
	t.Helper()
	var out bytes.Buffer
	r := newTestRunner(&out, total)
	err := r.Run([]string{"sh", "-c", script}, make(chan os.Signal))
	return r, out.String(), err
}

func TestRunnerTurnsProtocolLinesIntoStatus(t *testing.T) {
	r, out, err := runScript(t, 0, `
echo "starting"
echo "::progress 1/4 Resized cat.jpg"
echo "::progress 2 Resized dog.jpg"
echo "::progress oops"
echo '::result {"thumbnails": 2}'`)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if want := "starting\n::progress oops\n"; out != want {
		t.Errorf("output %q, want %q: protocol lines are consumed, everything else passes through", out, want)
	}
	if got := r.Malformed(); got != 1 {
		t.Errorf("%d malformed lines counted, want 1", got)
	}
	got := r.Publisher.Latest()
	want := Snapshot{
		Progress: &longtaskv1.Progress{Current: 2, Total: 4, Percent: 50, Summary: "2/4 (50%)", Message: "Resized dog.jpg", Attempt: 1},
		Result:   ptr.To(`{"thumbnails": 2}`),
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(longtaskv1.Progress{}, "UpdateTime")); diff != "" {
		t.Errorf("latest status (-want,+got):\n%s", diff)
	}
}

func TestRunnerUsesTheSpecTotal(t *testing.T) {
	r, _, err := runScript(t, 10, `echo "::progress 5"`)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Publisher.Latest().Progress.Summary; got != "5/10 (50%)" {
		t.Errorf("summary %q, want 5/10 (50%%) from spec.total", got)
	}
}

func TestRunnerCapsMessagesAndMakesThemValidUTF8(t *testing.T) {
	r, _, err := runScript(t, 0, `printf '::progress 1/2 \377bad\n'; printf '::progress 2/2 %s\n' "$(head -c 5000 /dev/zero | tr '\0' x)"`)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Publisher.Latest().Progress.Message; len(got) != longtaskv1.MaxProgressMessageBytes {
		t.Errorf("message of %d bytes, want it capped at %d", len(got), longtaskv1.MaxProgressMessageBytes)
	}
}

func TestRunnerPassesLongLinesThrough(t *testing.T) {
	_, out, err := runScript(t, 0, `head -c 200000 /dev/zero | tr '\0' x; echo`)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 200001 || strings.Trim(out, "x\n") != "" {
		t.Errorf("a 200000-byte line came out as %d bytes", len(out))
	}
}

func TestRunnerReportsHowTheProgramEnded(t *testing.T) {
	cases := map[string]struct {
		args       []string
		wantCode   int
		wantReason longtaskv1.FailureReason
		wantText   string
	}{
		"exit code":         {args: []string{"sh", "-c", "exit 3"}, wantCode: 3, wantReason: "TaskFailed", wantText: "exited with code 3"},
		"killed by signal":  {args: []string{"sh", "-c", "kill -9 $$"}, wantCode: 137, wantReason: "Killed", wantText: "killed by signal 9"},
		"command not found": {args: []string{"no-such-program-longtask"}, wantCode: 127, wantReason: "CommandNotFound", wantText: "command not found: no-such-program-longtask"},
		"empty command":     {args: []string{""}, wantCode: 127, wantReason: "CommandNotFound", wantText: "command is empty"},
		"not a program":     {args: []string{"/dev/null"}, wantCode: 126, wantReason: "CommandNotRunnable", wantText: "cannot be run"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			r := newTestRunner(&bytes.Buffer{}, 0)
			err := r.Run(tc.args, make(chan os.Signal))
			var exit *ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("Run returned %v, want an *ExitError", err)
			}
			if exit.Code != tc.wantCode || exit.Reason != tc.wantReason || !strings.Contains(exit.Message, tc.wantText) {
				t.Errorf("got code %d %s %q, want code %d %s and %q", exit.Code, exit.Reason, exit.Message, tc.wantCode, tc.wantReason, tc.wantText)
			}
			// The controller makes the worker's message the failure's, but for the reasons whose message it
			// writes itself, with the code: the UI adds the code to any other, which must not state it.
			if !exit.Reason.MessageStatesExitCode() && regexp.MustCompile(fmt.Sprintf(`\bcode %d\b`, exit.Code)).MatchString(exit.Message) {
				t.Errorf("the worker's %s message %q states the exit code, which the UI would add again", exit.Reason, exit.Message)
			}
		})
	}
}

func TestRunnerKeepsTheLastLinesForTheFailure(t *testing.T) {
	r, _, _ := runScript(t, 0, `for i in $(seq 1 50); do echo "line $i"; done; echo "::progress 1/2"; exit 1`)
	tail := r.Tail()
	if !strings.HasPrefix(tail, "line 31\n") || !strings.HasSuffix(tail, "line 50\n") {
		t.Errorf("tail = %q, want lines 31 to 50", tail)
	}
}

func TestRunnerForwardsSignalsToTheProgramsProcessGroup(t *testing.T) {
	signals := make(chan os.Signal, 1)
	r := newTestRunner(&bytes.Buffer{}, 0)
	done := make(chan error, 1)
	go func() {
		done <- r.Run([]string{"sh", "-c", `trap 'echo "::progress 2 stopped"; exit 143' TERM; echo "::progress 1"; while :; do sleep 1; done`}, signals)
	}()
	waitFor(t, "the program to start", func() bool { return r.Publisher.Latest().Progress != nil })
	signals <- syscall.SIGTERM
	err := <-done
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 143 {
		t.Fatalf("Run returned %v, want exit code 143", err)
	}
	if got := r.Publisher.Latest().Progress.Message; got != "stopped" {
		t.Errorf("last message %q, want the one the program printed as it stopped", got)
	}
}

func TestRunnerKillsAProgramThatIgnoresSIGTERMAfterTheGracePeriod(t *testing.T) {
	signals := make(chan os.Signal, 1)
	r := newTestRunner(&bytes.Buffer{}, 0)
	r.GracePeriod = 200 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		done <- r.Run([]string{"sh", "-c", `trap '' TERM; echo "::progress 1"; while :; do sleep 1; done`}, signals)
	}()
	waitFor(t, "the program to start", func() bool { return r.Publisher.Latest().Progress != nil })
	signals <- syscall.SIGTERM
	select {
	case err := <-done:
		var exit *ExitError
		if !errors.As(err, &exit) || exit.Code != 137 {
			t.Fatalf("Run returned %v, want the program killed (137)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the program outlived the grace period")
	}
}

func TestRunnerTellsAnOOMKillFromOtherKills(t *testing.T) {
	for name, tc := range map[string]struct {
		oomKilled  bool
		wantReason longtaskv1.FailureReason
	}{
		"the cgroup counted an OOM kill": {oomKilled: true, wantReason: "OOMKilled"},
		"killed by someone else":         {wantReason: "Killed"},
	} {
		t.Run(name, func(t *testing.T) {
			r := newTestRunner(&bytes.Buffer{}, 0)
			var kills int64
			r.OOMKills = func() (int64, bool) { return kills, true }
			if tc.oomKilled {
				// The kernel counts an OOM kill in the cgroup between the worker's two looks.
				r.OOMKills = func() (int64, bool) { kills++; return kills, true }
			}
			err := r.Run([]string{"sh", "-c", "kill -9 $$"}, make(chan os.Signal))
			var exit *ExitError
			if !errors.As(err, &exit) || exit.Reason != tc.wantReason || exit.Code != 137 {
				t.Errorf("Run returned %+v, want reason %s and code 137", exit, tc.wantReason)
			}
		})
	}
}

func TestOOMKillsReadsTheCgroupCounter(t *testing.T) {
	dir := t.TempDir()
	v2 := dir + "/memory.events"
	v1 := dir + "/memory.oom_control"
	if err := os.WriteFile(v2, []byte("low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(v1, []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		paths  []string
		want   int64
		wantOK bool
	}{
		"cgroup v2":                   {paths: []string{v2, v1}, want: 2, wantOK: true},
		"cgroup v1, no memory.events": {paths: []string{dir + "/missing", v1}, want: 3, wantOK: true},
		"neither":                     {paths: []string{dir + "/missing", dir + "/missing-too"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if n, ok := oomKills(tc.paths...); n != tc.want || ok != tc.wantOK {
				t.Errorf("oomKills = %d, %v; want %d, %v", n, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestRunnerPassesOnASignalThatCameBeforeTheProgramStarted(t *testing.T) {
	signals := make(chan os.Signal, 1)
	signals <- syscall.SIGTERM // as if the pod was deleted while the worker was setting up
	r := newTestRunner(&bytes.Buffer{}, 0)
	done := make(chan error, 1)
	go func() { done <- r.Run([]string{"sh", "-c", "sleep 30"}, signals) }()
	select {
	case err := <-done:
		var exit *ExitError
		if !errors.As(err, &exit) || exit.Code != 143 {
			t.Fatalf("Run returned %v, want the program stopped by SIGTERM (143)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the early SIGTERM was lost: the program ran on")
	}
}
