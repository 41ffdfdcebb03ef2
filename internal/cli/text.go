package cli

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mattn/go-runewidth"
)

// printable is text a task reported, made safe to show in a terminal on one line: escape sequences and
// control characters are dropped (so a task cannot move the cursor, recolour, retitle or rewrite the user's
// terminal), as are the Unicode controls that reorder text; tabs and line breaks become spaces.
func printable(s string) string {
	return strings.Join(strings.Fields(printableLines(s)), " ")
}

// printableLines is printable, keeping the line breaks of multi-line text such as a failure's last lines.
func printableLines(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '\x1b':
			i += escapeLength(s[i:])
			continue
		case r == '\n':
			b.WriteByte('\n')
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r), isBidiControl(r):
			// Dropped: C0 and C1 controls (a lone 0x9b is CSI too), and bidi overrides.
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// escapeLength is how many bytes the escape sequence at the start of s takes: CSI (ESC [ ... final),
// OSC, DCS, SOS, PM and APC strings (ended by BEL or ESC \), or ESC and one more character.
func escapeLength(s string) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		for i := 2; i < len(s); i++ {
			if s[i] >= 0x40 && s[i] <= 0x7e {
				return i + 1
			}
		}
		return len(s)
	case ']', 'P', 'X', '^', '_':
		for i := 2; i < len(s); i++ {
			if s[i] == '\a' {
				return i + 1
			}
			if s[i] == '\x1b' && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return len(s)
	default:
		_, size := utf8.DecodeRuneInString(s[1:])
		return 1 + size
	}
}

// isBidiControl reports the characters that reorder how text is shown (Trojan Source).
func isBidiControl(r rune) bool {
	return (r >= '\u202a' && r <= '\u202e') || (r >= '\u2066' && r <= '\u2069') || r == '\u200e' || r == '\u200f' || r == '\u061c'
}

// cut shortens s to at most width terminal columns, ending it with "…" when it was longer.
func cut(s string, width int) string {
	if width <= 0 {
		return ""
	}
	return runewidth.Truncate(s, width, "…")
}

// lastLines is the last n lines of text.
func lastLines(text string, n int) []string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) == 1 && lines[0] == "" {
		return nil
	}
	return lines[max(0, len(lines)-n):]
}
