package progress

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	cases := []struct {
		line   string
		want   Line
		wantOK bool
	}{
		{line: "::progress 12/25 Resized cat.jpg\n", want: Line{Kind: KindProgress, Current: 12, Total: 25, Message: "Resized cat.jpg"}, wantOK: true},
		{line: "::progress 12", want: Line{Kind: KindProgress, Current: 12}, wantOK: true},
		{line: "::progress 12 copying part 12\r\n", want: Line{Kind: KindProgress, Current: 12, Message: "copying part 12"}, wantOK: true},
		{line: "::progress   3/10   spaced  ", want: Line{Kind: KindProgress, Current: 3, Total: 10, Message: "spaced"}, wantOK: true},
		{line: "::progress 30/25 over the total", want: Line{Kind: KindProgress, Current: 30, Total: 25, Message: "over the total"}, wantOK: true},
		{line: "::progress 0/1", want: Line{Kind: KindProgress, Current: 0, Total: 1}, wantOK: true},
		{line: `::result {"thumbnails": 25}`, want: Line{Kind: KindResult, Result: `{"thumbnails": 25}`}, wantOK: true},
		{line: "::result ", want: Line{Kind: KindResult}, wantOK: true},
		{line: "Resized cat.jpg"},
		{line: "::progress"},
		{line: "::progress "},
		{line: "::progress -1/25"},
		{line: "::progress +1/25"},
		{line: "::progress 1/-25"},
		{line: "::progress 1/0"},
		{line: "::progress 1/"},
		{line: "::progress /25"},
		{line: "::progress 1.5/25"},
		{line: "::progress twelve"},
		{line: "::progress 99999999999999999999/1"},
		{line: "  ::progress 1/2 indented"},
		{line: "::progress1/2"},
		{line: "::result"},
		{line: `::checkpoint {"step": 3}`, want: Line{Kind: KindCheckpoint, Checkpoint: `{"step": 3}`}, wantOK: true},
		{line: "::checkpoint " + strings.Repeat("x", 4097)},
		{line: "::checkpoint \xff"},
	}
	for _, tc := range cases {
		t.Run(tc.line, func(t *testing.T) {
			got, ok := Parse(tc.line)
			if ok != tc.wantOK {
				t.Fatalf("Parse(%q) ok = %v, want %v", tc.line, ok, tc.wantOK)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Parse(%q) (-want,+got):\n%s", tc.line, diff)
			}
		})
	}
}

// FuzzParse checks that no line crashes the parser, and that whatever it accepts is sane and survives a
// round trip through the SDK.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{"::progress 12/25 Resized cat.jpg", "::progress 3", "::result {}", "hello", "::progress 1/0", "::progress \xff/2"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if fromFile, ok := ParseFileLine(line); ok && (fromFile.Current < 0 || fromFile.Total < 0 || len(fromFile.Checkpoint) > MaxCheckpointBytes) {
			t.Fatalf("ParseFileLine(%q) = %+v: negative steps or an oversized checkpoint", line, fromFile)
		}
		got, ok := Parse(line)
		if !ok {
			return
		}
		if got.Current < 0 || got.Total < 0 || len(got.Checkpoint) > MaxCheckpointBytes {
			t.Fatalf("Parse(%q) = %+v: negative steps or an oversized checkpoint", line, got)
		}
		if got.Kind != KindProgress || !utf8.ValidString(got.Message) {
			return
		}
		var out bytes.Buffer
		if err := NewReporter(&out).Report(got.Current, got.Total, got.Message); err != nil {
			t.Fatalf("Report(%+v): %v", got, err)
		}
		again, ok := Parse(out.String())
		if !ok {
			t.Fatalf("the SDK printed %q for %+v, which does not parse", out.String(), got)
		}
		if again.Current != got.Current || again.Total != got.Total {
			t.Fatalf("round trip of %q changed the steps: %+v, then %+v", line, got, again)
		}
	})
}

func TestParseFileLine(t *testing.T) {
	cases := []struct {
		line   string
		want   Line
		wantOK bool
	}{
		{line: "50/100\n", want: Line{Kind: KindProgress, Current: 50, Total: 100}, wantOK: true},
		{line: "7/10 halfway", want: Line{Kind: KindProgress, Current: 7, Total: 10, Message: "halfway"}, wantOK: true},
		{line: "::progress 3/4 protocol line", want: Line{Kind: KindProgress, Current: 3, Total: 4, Message: "protocol line"}, wantOK: true},
		{line: "half"},
		{line: "-1/10"},
	}
	for _, tc := range cases {
		got, ok := ParseFileLine(tc.line)
		if ok != tc.wantOK || got != tc.want {
			t.Errorf("ParseFileLine(%q) = %+v, %v; want %+v, %v", tc.line, got, ok, tc.want, tc.wantOK)
		}
	}
}
