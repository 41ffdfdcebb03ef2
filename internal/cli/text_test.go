package cli

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPrintable(t *testing.T) {
	tests := map[string]struct {
		in, want, wantLines string
	}{
		"plain text":            {in: "Resized cat.jpg", want: "Resized cat.jpg", wantLines: "Resized cat.jpg"},
		"colours":               {in: "\x1b[31mred\x1b[0m alert", want: "red alert", wantLines: "red alert"},
		"clear screen and home": {in: "a\x1b[2J\x1b[Hb", want: "ab", wantLines: "ab"},
		"window title (OSC, BEL)": {
			in: "x\x1b]0;pwned\x07y", want: "xy", wantLines: "xy",
		},
		"hyperlink (OSC, ST)": {
			in: "\x1b]8;;http://evil\x1b\\click\x1b]8;;\x1b\\", want: "click", wantLines: "click",
		},
		"DCS string":              {in: "a\x1bPq#0;2;0;0;0\x1b\\b", want: "ab", wantLines: "ab"},
		"two-character escape":    {in: "a\x1bcb", want: "ab", wantLines: "ab"},
		"escape at the end":       {in: "a\x1b", want: "a", wantLines: "a"},
		"unterminated CSI":        {in: "a\x1b[12", want: "a", wantLines: "a"},
		"carriage return rewrite": {in: "all good\rFAILED", want: "all goodFAILED", wantLines: "all goodFAILED"},
		"backspace and bell":      {in: "ok\b\b\aX", want: "okX", wantLines: "okX"},
		"C1 CSI":                  {in: "a\u009b2Jb", want: "a2Jb", wantLines: "a2Jb"},
		"bidi override":           {in: "abc\u202edcba\u202c", want: "abcdcba", wantLines: "abcdcba"},
		"lines and tabs":          {in: "one\ttwo\nthree\n", want: "one two three", wantLines: "one two\nthree\n"},
		"invalid UTF-8":           {in: "a\xffb", want: "a\uFFFDb", wantLines: "a\uFFFDb"},
		"unicode kept":            {in: "Größe 猫.jpg ✓", want: "Größe 猫.jpg ✓", wantLines: "Größe 猫.jpg ✓"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, printable(tc.in)); diff != "" {
				t.Errorf("printable(%q) (-want,+got):\n%s", tc.in, diff)
			}
			if diff := cmp.Diff(tc.wantLines, printableLines(tc.in)); diff != "" {
				t.Errorf("printableLines(%q) (-want,+got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestCut(t *testing.T) {
	tests := map[string]struct {
		in    string
		width int
		want  string
	}{
		"fits":             {in: "Resized cat.jpg", width: 20, want: "Resized cat.jpg"},
		"exactly":          {in: "abcde", width: 5, want: "abcde"},
		"too long":         {in: "Resized cat.jpg", width: 8, want: "Resized…"},
		"wide characters":  {in: "猫猫猫猫", width: 5, want: "猫猫…"},
		"no room":          {in: "abc", width: 0, want: ""},
		"negative room":    {in: "abc", width: -3, want: ""},
		"one column, long": {in: "abc", width: 1, want: "…"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, cut(tc.in, tc.width)); diff != "" {
				t.Errorf("cut(%q, %d) (-want,+got):\n%s", tc.in, tc.width, diff)
			}
		})
	}
}

func TestLastLines(t *testing.T) {
	tests := map[string]struct {
		text string
		n    int
		want []string
	}{
		"empty":             {text: "", n: 3, want: nil},
		"fewer than n":      {text: "a\nb\n", n: 3, want: []string{"a", "b"}},
		"more than n":       {text: "a\nb\nc\nd", n: 2, want: []string{"c", "d"}},
		"trailing newlines": {text: "a\n\n\n", n: 2, want: []string{"a"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, lastLines(tc.text, tc.n)); diff != "" {
				t.Errorf("lastLines (-want,+got):\n%s", diff)
			}
		})
	}
}
