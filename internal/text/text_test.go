package text

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCut(t *testing.T) {
	for name, tc := range map[string]struct {
		s    string
		max  int
		keep Keep
		want string
	}{
		"short, start":                   {s: "hello", max: 10, keep: Start, want: "hello"},
		"start cut":                      {s: "hello world", max: 5, keep: Start, want: "hello"},
		"start never splits a character": {s: "añb", max: 2, keep: Start, want: "a"},
		"invalid bytes shown":            {s: "a\xffb", max: 10, keep: Start, want: "a\uFFFDb"},
		"end keeps whole last lines":     {s: "one\ntwo\nthree\n", max: 8, keep: End, want: "three"},
		"end drops trailing newlines":    {s: "one\ntwo\n\n", max: 20, keep: End, want: "one\ntwo"},
		"end without a line start":       {s: "abcdefghij", max: 4, keep: End, want: "ghij"},
		"end never splits a character":   {s: "abñ", max: 2, keep: End, want: "ñ"},
		"nothing fits":                   {s: "abc", max: 0, keep: End, want: ""},
	} {
		t.Run(name, func(t *testing.T) {
			got := Cut(tc.s, tc.max, tc.keep)
			if got != tc.want {
				t.Errorf("Cut(%q, %d) = %q, want %q", tc.s, tc.max, got, tc.want)
			}
			if len(got) > tc.max || !utf8.ValidString(got) {
				t.Errorf("Cut(%q, %d) = %q: longer than max or not valid UTF-8", tc.s, tc.max, got)
			}
		})
	}
}

func FuzzCutStaysWithinItsLimit(f *testing.F) {
	f.Add("one\ntwo\xff\nthree ñ", 7, true)
	f.Fuzz(func(t *testing.T, s string, max int, end bool) {
		if max < 0 || max > 1<<16 {
			return
		}
		keep := Start
		if end {
			keep = End
		}
		got := Cut(s, max, keep)
		if len(got) > max || !utf8.ValidString(got) {
			t.Fatalf("Cut(%q, %d, %d) = %q", s, max, keep, got)
		}
		if clean := strings.ToValidUTF8(s, "\uFFFD"); len(clean) <= max && keep == Start && got != clean {
			t.Fatalf("Cut(%q, %d) changed a text that fits: %q", s, max, got)
		}
	})
}
