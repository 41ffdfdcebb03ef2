package progress

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// Reporter prints protocol lines to a writer. The zero value is not usable; see NewReporter. It is safe
// for concurrent use.
type Reporter struct {
	mu  sync.Mutex
	out io.Writer
}

// NewReporter returns a Reporter that prints to out.
func NewReporter(out io.Writer) *Reporter {
	return &Reporter{out: out}
}

var std = NewReporter(os.Stdout)

// Report says that current of total steps are done; total 0 means unknown. The message is kept to one
// line.
func Report(current, total int64, message string) error { return std.Report(current, total, message) }

// Result reports the task's result; the last one wins.
func Result(data string) error { return std.Result(data) }

// Checkpoint reports where a retried attempt should resume, up to 4 KiB of one-line text such as JSON;
// the last one wins. The next attempt finds it in the LONGTASK_CHECKPOINT environment variable, and its
// number in LONGTASK_ATTEMPT.
func Checkpoint(data string) error { return std.Checkpoint(data) }

// Report prints a progress line.
func (r *Reporter) Report(current, total int64, message string) error {
	if current < 0 || total < 0 {
		return fmt.Errorf("progress: current and total must not be negative, got %d/%d", current, total)
	}
	steps := fmt.Sprint(current)
	if total > 0 {
		steps = fmt.Sprintf("%d/%d", current, total)
	}
	line := ProgressPrefix + steps
	if message = oneLine(message); message != "" {
		line += " " + message
	}
	return r.println(line)
}

// Checkpoint prints a checkpoint line.
func (r *Reporter) Checkpoint(data string) error {
	data = oneLine(data)
	if len(data) > MaxCheckpointBytes {
		return fmt.Errorf("progress: a checkpoint is at most %d bytes, got %d", MaxCheckpointBytes, len(data))
	}
	return r.println(CheckpointPrefix + data)
}

// Result prints a result line.
func (r *Reporter) Result(data string) error {
	return r.println(ResultPrefix + oneLine(data))
}

func (r *Reporter) println(line string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, err := io.WriteString(r.out, line+"\n")
	return err
}

// oneLine folds line breaks into spaces: a report is always one line.
func oneLine(s string) string {
	return strings.TrimSpace(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s))
}
