// Package progress is LongTask's progress protocol: the lines a task prints to report how far it has
// come, and a small SDK that prints them. It uses only the standard library, so any Go program can import
// it, and because it only prints lines, a program that uses it works the same inside and outside a
// LongTask.
//
// The protocol, one report per line on stdout or stderr:
//
//	::progress 12/25 Resized cat.jpg    current/total, then an optional message
//	::progress 12                       current only: the total is unknown or comes from spec.total
//	::progress 12 Resized cat.jpg       current and a message
//	::result {"thumbnails": 25}         the task's result, any text; the last one wins
//	::checkpoint {"next": "dog.jpg"}    where to resume, any text up to 4 KiB; the last one wins
//
// Any other line is ordinary output and passes through the worker untouched.
package progress

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// The line prefixes of the protocol.
const (
	ProgressPrefix   = "::progress "
	ResultPrefix     = "::result "
	CheckpointPrefix = "::checkpoint "
)

// MaxCheckpointBytes is the largest checkpoint; a longer one is refused rather than cut, because a cut
// checkpoint would resume from the wrong place.
const MaxCheckpointBytes = 4 * 1024

// Kind says what a protocol line reports.
type Kind int

// The kinds of protocol line.
const (
	KindProgress Kind = iota + 1
	KindResult
	KindCheckpoint
)

// Line is one parsed protocol line.
type Line struct {
	Kind Kind
	// Current is the number of steps done (progress lines).
	Current int64
	// Total is the number of steps in all; 0 when the line did not say.
	Total int64
	// Message is the text after the numbers of a progress line.
	Message string
	// Result is the text of a result line.
	Result string
	// Checkpoint is the text of a checkpoint line.
	Checkpoint string
}

// Parse reads one line of a task's output. It returns false for a line that is not a well-formed report:
// such a line is ordinary output. Negative or non-numeric steps, a total of 0 written as "n/0", and a
// checkpoint over MaxCheckpointBytes are malformed.
func Parse(line string) (Line, bool) {
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, ResultPrefix):
		return Line{Kind: KindResult, Result: line[len(ResultPrefix):]}, true
	case strings.HasPrefix(line, CheckpointPrefix):
		checkpoint := line[len(CheckpointPrefix):]
		if len(checkpoint) > MaxCheckpointBytes || !utf8.ValidString(checkpoint) {
			return Line{}, false
		}
		return Line{Kind: KindCheckpoint, Checkpoint: checkpoint}, true
	case strings.HasPrefix(line, ProgressPrefix):
		return parseProgress(strings.TrimLeft(line[len(ProgressPrefix):], " "))
	default:
		return Line{}, false
	}
}

// LooksLikeReport reports whether a line was meant as a report, well-formed or not: it starts with one
// of the protocol's words.
func LooksLikeReport(line string) bool {
	for _, word := range []string{"::progress", "::result", "::checkpoint"} {
		if strings.HasPrefix(line, word) {
			return true
		}
	}
	return false
}

// ParseFileLine reads the last line of a progress file. Besides protocol lines it takes Argo Workflows'
// progress file format, "current/total", optionally followed by a message.
func ParseFileLine(line string) (Line, bool) {
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "::") {
		return Parse(line)
	}
	return parseProgress(line)
}

func parseProgress(rest string) (Line, bool) {
	steps, message, _ := strings.Cut(rest, " ")
	current, total, hasTotal := strings.Cut(steps, "/")
	r := Line{Kind: KindProgress, Message: strings.TrimSpace(message)}
	var ok bool
	if r.Current, ok = parseCount(current); !ok {
		return Line{}, false
	}
	if hasTotal {
		if r.Total, ok = parseCount(total); !ok || r.Total == 0 {
			return Line{}, false
		}
	}
	return r, true
}

// parseCount accepts a non-negative decimal integer: digits only, no sign.
func parseCount(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
