package worker

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/pkg/progress"
)

// maxLineBytes is the longest line the worker parses; longer lines pass through as output.
const maxLineBytes = 64 * 1024

// tailLines is how many of the last output lines a failure keeps.
const tailLines = 20

// Runner runs a task's program and turns the protocol lines it prints into updates of a Publisher.
type Runner struct {
	Stdout, Stderr io.Writer
	Publisher      *Publisher
	// Total is spec.total, used when a report gives no total; 0 when unknown.
	Total int64

	mu   sync.Mutex
	tail []string
}

// ExitError is how a task program ended when it did not succeed.
type ExitError struct {
	Code   int
	Reason string
}

func (e *ExitError) Error() string { return e.Reason }

// Run runs args as a program, passing stdin through and parsing its stdout and stderr. SIGTERM and
// SIGINT sent to the worker are forwarded to the program's whole process group by the signals channel.
// It returns nil when the program exited 0, or an *ExitError.
func (r *Runner) Run(args []string, signals <-chan os.Signal) error {
	if len(args) == 0 || args[0] == "" {
		return &ExitError{Code: 127, Reason: "no command to run: the task's command is empty"}
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = os.Stdin
	// Its own process group, so that a signal reaches every process the task started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return startError(args[0], err)
	}

	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.scan(stdout, r.Stdout) }()
	go func() { defer wg.Done(); r.scan(stderr, r.Stderr) }()

	exited := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-signals:
				if s, ok := sig.(syscall.Signal); ok {
					_ = syscall.Kill(-cmd.Process.Pid, s)
				}
			case <-exited:
				return
			}
		}
	}()

	// Reading all output before Wait is what os/exec asks of pipe users.
	wg.Wait()
	err = cmd.Wait()
	close(exited)
	return exitError(err)
}

// scan passes lines through to out, except protocol lines, which update the publisher.
func (r *Runner) scan(in io.Reader, out io.Writer) {
	reader := bufio.NewReaderSize(in, maxLineBytes)
	long := false // inside a line longer than the buffer
	for {
		line, err := reader.ReadSlice('\n')
		if len(line) > 0 {
			if !long && r.handle(string(line)) {
				// A protocol line: consumed.
			} else {
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

// handle applies a protocol line and reports whether the line was one.
func (r *Runner) handle(line string) bool {
	report, ok := progress.Parse(line)
	if !ok {
		return false
	}
	r.Publisher.Update(func(s *Snapshot) {
		switch report.Kind {
		case progress.KindResult:
			result := cleanText(report.Result, longtaskv1.MaxResultBytes)
			s.Result = &result
		case progress.KindProgress:
			total := report.Total
			if total == 0 && s.Progress != nil {
				total = s.Progress.Total
			}
			if total == 0 {
				total = r.Total
			}
			s.Progress = &longtaskv1.Progress{
				Current:    report.Current,
				Total:      total,
				Percent:    longtaskv1.Percent(report.Current, total),
				Summary:    longtaskv1.Summary(report.Current, total),
				Message:    cleanText(report.Message, longtaskv1.MaxMessageBytes),
				UpdateTime: now(),
			}
		}
	})
	return true
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

// cleanText makes s valid UTF-8 of at most max bytes, cut at a character boundary.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	s = s[:max]
	return strings.ToValidUTF8(s, "")
}

func startError(program string, err error) error {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
		return &ExitError{Code: 127, Reason: fmt.Sprintf("command not found: %s", program)}
	}
	if errors.Is(err, os.ErrPermission) {
		return &ExitError{Code: 126, Reason: fmt.Sprintf("command cannot be run (permission denied): %s", program)}
	}
	return &ExitError{Code: 126, Reason: fmt.Sprintf("starting %s: %v", program, err)}
}

func exitError(err error) error {
	if err == nil {
		return nil
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return &ExitError{Code: 1, Reason: err.Error()}
	}
	if status, ok := exit.Sys().(syscall.WaitStatus); ok && status.Signaled() {
		sig := status.Signal()
		return &ExitError{Code: 128 + int(sig), Reason: fmt.Sprintf("the program was killed by signal %d (%v)", int(sig), sig)}
	}
	return &ExitError{Code: exit.ExitCode(), Reason: fmt.Sprintf("the program exited with code %d", exit.ExitCode())}
}
