package worker

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/utils/clock"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/pkg/progress"
)

const (
	// maxLineBytes is the longest line the worker parses; longer lines pass through as output.
	maxLineBytes = 64 * 1024
	// tailLines is how many of the last output lines a failure keeps.
	tailLines = 20
	// drainTimeout is how long output is still read after the program exited, from processes it left
	// behind that escaped its process group.
	drainTimeout = 2 * time.Second
	// fileCheckInterval is how often the progress file is looked at.
	fileCheckInterval = 200 * time.Millisecond
)

// Runner runs a task's program and turns what it reports, on stdout, stderr or in the progress and result
// files, into updates of a Publisher.
type Runner struct {
	Stdout, Stderr io.Writer
	Publisher      *Publisher
	Tracker        *Tracker
	// Env is the program's environment.
	Env []string
	// ProgressFile and ResultFile are the files the program may report to; empty for none.
	ProgressFile, ResultFile string
	// GracePeriod is how long the program has to stop after SIGTERM before its process group is killed;
	// the worker keeps a moment of the pod's grace period for itself, to write the last progress.
	GracePeriod time.Duration
	// OOMKills counts the kernel's out-of-memory kills in the container, to tell an OOM kill from any
	// other SIGKILL; nil when unknown.
	OOMKills func() (int64, bool)
	// Clock times the reports, the grace period and the progress file's checks; nil for the real clock.
	Clock clock.WithTicker

	malformed atomic.Int64
	mu        sync.Mutex
	tail      []string
}

// ExitError is how a task program ended when it did not succeed.
type ExitError struct {
	Code int
	// Reason is one the worker writes (longtaskv1.FailureReason.WrittenByWorker).
	Reason longtaskv1.FailureReason
	// Message says what happened, for people.
	Message string
}

func (e *ExitError) Error() string { return e.Message }

// Run runs args as a program, passing stdin through and parsing its output. Signals on the channel are
// forwarded to the program's whole process group; after a SIGTERM the group is killed once GracePeriod
// has passed. It returns nil when the program exited 0, or an *ExitError.
func (r *Runner) Run(args []string, signals <-chan os.Signal) error {
	if len(args) == 0 || args[0] == "" {
		return &ExitError{Code: 127, Reason: longtaskv1.FailureReasonCommandNotFound, Message: "no command to run: the task's command is empty"}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = os.Stdin
	cmd.Env = r.Env
	// Its own process group, so that a signal reaches every process the task started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := pipe(&cmd.Stdout)
	if err != nil {
		return startError(args[0], err)
	}
	stderr, err := pipe(&cmd.Stderr)
	if err != nil {
		_ = stdout.Close()
		return startError(args[0], err)
	}
	oomBefore, oomKnown := r.oomKills()
	// Closing pipes the worker made can only fail if they were closed already: nothing to report.
	if err := cmd.Start(); err != nil {
		_ = stdout.Close()
		_ = stderr.Close()
		return startError(args[0], err)
	}
	// The program holds the write ends now; ours must go, or the reads never end.
	_ = cmd.Stdout.(*os.File).Close()
	_ = cmd.Stderr.(*os.File).Close()

	var readers sync.WaitGroup
	readers.Add(2)
	go func() { defer readers.Done(); r.scan(stdout, r.Stdout) }()
	go func() { defer readers.Done(); r.scan(stderr, r.Stderr) }()

	exited := make(chan struct{})
	go r.forwardSignals(cmd.Process.Pid, signals, exited)
	stopWatchingFile := r.watchProgressFile()

	err = cmd.Wait()
	close(exited)
	// Whatever the program left running in its group ends with it, and so does their hold on the output.
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if !r.waitTimeout(&readers, drainTimeout) {
		_ = stdout.Close()
		_ = stderr.Close()
		readers.Wait()
	}
	stopWatchingFile()
	r.readResultFile()

	exit := exitError(err)
	if exit != nil && exit.Code == 128+int(syscall.SIGKILL) && oomKnown {
		if after, ok := r.oomKills(); ok && after > oomBefore {
			exit.Reason, exit.Message = longtaskv1.FailureReasonOOMKilled, "the program was killed because it ran out of memory (OOM)"
		}
	}
	if exit == nil {
		return nil
	}
	return exit
}

// Malformed counts the lines that looked like reports but were not well-formed.
func (r *Runner) Malformed() int64 { return r.malformed.Load() }

func pipe(w *io.Writer) (*os.File, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("creating a pipe for the program's output: %w", err)
	}
	*w = pw
	return pr, nil
}

func (r *Runner) forwardSignals(pid int, signals <-chan os.Signal, exited <-chan struct{}) {
	var kill <-chan time.Time
	for {
		select {
		case sig := <-signals:
			s, ok := sig.(syscall.Signal)
			if !ok {
				continue
			}
			_ = syscall.Kill(-pid, s)
			if s == syscall.SIGTERM && kill == nil && r.GracePeriod > 0 {
				kill = r.clock().After(r.GracePeriod)
			}
		case <-kill:
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		case <-exited:
			return
		}
	}
}

// scan passes lines through to out, except protocol lines, which are consumed.
func (r *Runner) scan(in io.Reader, out io.Writer) {
	reader := bufio.NewReaderSize(in, maxLineBytes)
	long := false // inside a line longer than the buffer
	for {
		line, err := reader.ReadSlice('\n')
		if len(line) > 0 {
			// Only lines that start with "::" can be reports; others need no string of their own.
			if long || !bytes.HasPrefix(line, reportMark) || !r.handle(string(line)) {
				_, _ = out.Write(line)
				r.remember(line)
			}
			long = errors.Is(err, bufio.ErrBufferFull)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

var reportMark = []byte("::")

// handle applies a protocol line and reports whether the line was one.
func (r *Runner) handle(text string) bool {
	line, ok := progress.Parse(text)
	if !ok {
		if progress.LooksLikeReport(text) {
			r.malformed.Add(1)
		}
		return false
	}
	r.apply(line)
	return true
}

func (r *Runner) apply(line progress.Line) {
	now := r.clock().Now()
	r.Publisher.Update(func(s *Snapshot) { r.Tracker.Apply(s, line, now) })
}

// watchProgressFile applies the last line of the progress file whenever the file changes, until the
// returned function is called; that call reads the file one last time.
func (r *Runner) watchProgressFile() func() {
	if r.ProgressFile == "" {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	var last, lastProblem string
	check := func() {
		text, err := readLastLine(r.ProgressFile)
		if problem := reportFileProblem("progress file", r.ProgressFile, err); problem != lastProblem {
			// Said once, not on every look: the program may put it right.
			if problem != "" {
				r.warn(problem)
			}
			lastProblem = problem
		}
		if err != nil || text == "" || text == last {
			return
		}
		last = text
		if line, ok := progress.ParseFileLine(text); ok {
			r.apply(line)
		} else {
			r.malformed.Add(1)
		}
	}
	go func() {
		defer close(done)
		ticker := r.clock().NewTicker(fileCheckInterval)
		defer ticker.Stop()
		for {
			select {
			case <-stop:
				check()
				return
			case <-ticker.C():
				check()
			}
		}
	}()
	return func() { close(stop); <-done }
}

// readResultFile takes the result file, if the program wrote one; it wins over ::result lines.
func (r *Runner) readResultFile() {
	if r.ResultFile == "" {
		return
	}
	data, err := readResult(r.ResultFile)
	if problem := reportFileProblem("result file", r.ResultFile, err); problem != "" {
		r.warn(problem)
	}
	data = strings.TrimRight(data, "\n")
	if err != nil || data == "" {
		return
	}
	if len(data) > longtaskv1.MaxResultBytes {
		// Cut as a ::result line is, by the Tracker, but said: a file is more likely to be long by mistake.
		r.warn(fmt.Sprintf("the result file %s is longer than %d bytes: the result keeps its first %d bytes", r.ResultFile, longtaskv1.MaxResultBytes, longtaskv1.MaxResultBytes))
	}
	r.apply(progress.Line{Kind: progress.KindResult, Result: data})
}

// warn tells the task's output about something the worker did not take from the program.
func (r *Runner) warn(message string) {
	fmt.Fprintf(r.Stderr, "longtask-worker: %s\n", message)
}

// oomKills reads the oom_kill count of the first of paths that has one: a cgroup v2 memory.events file,
// or a cgroup v1 memory.oom_control file (Linux 4.13 and later).
func oomKills(paths ...string) (int64, bool) {
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			if count, ok := strings.CutPrefix(line, "oom_kill "); ok {
				n, err := strconv.ParseInt(count, 10, 64)
				return n, err == nil
			}
		}
	}
	return 0, false
}

func (r *Runner) oomKills() (int64, bool) {
	if r.OOMKills == nil {
		return 0, false
	}
	return r.OOMKills()
}

// remember keeps the last lines of output for the termination message of a failed task.
func (r *Runner) remember(line []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.tail = append(r.tail, string(line))
	if len(r.tail) > tailLines {
		r.tail = r.tail[len(r.tail)-tailLines:]
	}
}

// Tail returns the last lines the program printed, other than protocol lines.
func (r *Runner) Tail() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.tail, "")
}

func (r *Runner) waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-r.clock().After(d):
		return false
	}
}

func (r *Runner) clock() clock.WithTicker {
	if r.Clock == nil {
		return clock.RealClock{}
	}
	return r.Clock
}

func startError(program string, err error) error {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return &ExitError{Code: 127, Reason: longtaskv1.FailureReasonCommandNotFound, Message: fmt.Sprintf("command not found: %s", program)}
	}
	if errors.Is(err, os.ErrPermission) {
		return &ExitError{Code: 126, Reason: longtaskv1.FailureReasonCommandNotRunnable, Message: fmt.Sprintf("command cannot be run (permission denied): %s", program)}
	}
	return &ExitError{Code: 126, Reason: longtaskv1.FailureReasonCommandNotRunnable, Message: fmt.Sprintf("command cannot be run: %s: %v", program, err)}
}

func exitError(err error) *ExitError {
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return &ExitError{Code: 1, Reason: longtaskv1.FailureReasonTaskFailed, Message: err.Error()}
	}
	if status, ok := exit.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		sig := status.Signal()
		return &ExitError{Code: 128 + int(sig), Reason: longtaskv1.FailureReasonKilled, Message: fmt.Sprintf("the program was killed by signal %d (%v)", int(sig), sig)}
	}
	return &ExitError{Code: exit.ExitCode(), Reason: longtaskv1.FailureReasonTaskFailed, Message: fmt.Sprintf("the program exited with code %d", exit.ExitCode())}
}
