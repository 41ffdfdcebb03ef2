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
//
// Any other line is ordinary output and passes through the worker untouched.
package progress

import (
	"strconv"
	"strings"
)

// The line prefixes of the protocol.
const (
	ProgressPrefix = "::progress "
	ResultPrefix   = "::result "
)

// Kind says what a protocol line reports.
type Kind int

// The kinds of protocol line.
const (
	KindProgress Kind = iota + 1
	KindResult
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
}

// Parse reads one line of a task's output. It returns false for a line that is not a well-formed report:
// such a line is ordinary output. Negative or non-numeric steps, and a total of 0 written as "n/0", are
// malformed.
func Parse(line string) (Line, bool) {
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, ResultPrefix):
		return Line{Kind: KindResult, Result: line[len(ResultPrefix):]}, true
	case strings.HasPrefix(line, ProgressPrefix):
		return parseProgress(strings.TrimLeft(line[len(ProgressPrefix):], " "))
	default:
		return Line{}, false
	}
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
