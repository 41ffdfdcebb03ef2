// Package text cuts what tasks print and say to the sizes the API and the UI keep.
package text

import (
	"strings"
	"unicode/utf8"
)

// Keep says which part of a text Cut keeps.
type Keep int

const (
	// Start keeps the beginning, for a message or a line.
	Start Keep = iota
	// End keeps the end, for output, whose most recent lines matter: cut at a line start when there is
	// one, with the trailing newlines dropped.
	End
)

// Cut returns s as valid UTF-8 (invalid bytes become U+FFFD) of at most max bytes, never splitting a
// character, keeping its start or its end.
func Cut(s string, max int, keep Keep) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if keep == End {
		s = strings.TrimRight(s, "\n")
	}
	if len(s) <= max {
		return s
	}
	if max <= 0 {
		return ""
	}
	if keep == Start {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut]
	}
	cut := len(s) - max
	for cut < len(s) && !utf8.RuneStart(s[cut]) {
		cut++
	}
	s = s[cut:]
	if i := strings.IndexByte(s, '\n'); i >= 0 && i < len(s)-1 {
		s = s[i+1:]
	}
	return s
}
