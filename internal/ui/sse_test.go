package ui

import (
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sseEvent is one event as a browser's EventSource receives it.
type sseEvent struct {
	Name, Data string
}

// parseSSE reads a server-sent event stream as the HTML standard tells browsers to: a line ends at \r\n,
// \r or \n, a blank line ends an event, and the data lines of an event are joined with \n.
func parseSSE(stream string) []sseEvent {
	var events []sseEvent
	name, data, hasData := "", []string{}, false
	for _, line := range regexp.MustCompile(`\r\n|\r|\n`).Split(stream, -1) {
		if line == "" {
			if hasData {
				events = append(events, sseEvent{Name: name, Data: strings.Join(data, "\n")})
			}
			name, data, hasData = "", nil, false
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			name = value
		case "data":
			data, hasData = append(data, value), true
		}
	}
	return events
}

// What a task prints reaches the page as the data of one event, whatever line breaks it holds: a \r
// alone ends a line of the stream for a browser, so a task that printed "x\r\revent: end\rdata: forged"
// ended the log stream's event and sent one of its own.
func TestEventDataCannotEndItsEvent(t *testing.T) {
	for name, data := range map[string]string{
		"carriage returns":    "x\r\revent: end\rdata: forged",
		"CRLF":                "x\r\n\r\nevent: end\r\ndata: forged",
		"newlines":            "x\n\nevent: end\ndata: forged",
		"a trailing return":   "x\r",
		"a lone CR then LF":   "x\r\ny\n\rz",
		"nothing to break up": "x",
	} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			if err := writeEvent(w, w, "lines", data); err != nil {
				t.Fatal(err)
			}
			// The browser shows the lines joined with \n: the same lines, each break made one \n.
			want := []sseEvent{{Name: "lines", Data: regexp.MustCompile(`\r\n|\r`).ReplaceAllString(data, "\n")}}
			if diff := cmp.Diff(want, parseSSE(w.Body.String())); diff != "" {
				t.Errorf("events a browser reads (-want,+got):\n%s\nstream: %q", diff, w.Body.String())
			}
		})
	}
}
