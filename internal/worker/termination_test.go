package worker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

func TestTerminationMessageFitsTheKubeletsLimitAsJSON(t *testing.T) {
	cases := map[string]struct {
		message    longtaskv1.TerminationMessage
		wantOutput string // what the kept output must end with
	}{
		"short": {
			message:    longtaskv1.TerminationMessage{Reason: "TaskFailed", Message: "the program exited with code 3", Output: "one\ntwo\n"},
			wantOutput: "one\ntwo",
		},
		"long output keeps its end": {
			message:    longtaskv1.TerminationMessage{Reason: "TaskFailed", Message: "the program exited with code 3", Output: strings.Repeat("x", 10000) + "\nlast line\n"},
			wantOutput: "last line",
		},
		// JSON escapes '<', '>' and '&' as six bytes each, and quotes and newlines as two: output cut to
		// MaxOutputBytes alone encodes to far more than the kubelet keeps.
		"output that JSON escaping makes longer": {
			message:    longtaskv1.TerminationMessage{Reason: "OOMKilled", Message: "the program ran out of memory", Output: strings.Repeat("a -> \"b\" & <c>\n", 400) + "last <line>\n"},
			wantOutput: "last <line>",
		},
		"a message too long on its own": {
			message: longtaskv1.TerminationMessage{Reason: "CommandNotFound", Message: "command not found: " + strings.Repeat("<", 5000), Output: "output"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			data := encodeTerminationMessage(tc.message)
			if len(data) > longtaskv1.MaxTerminationMessageBytes {
				t.Errorf("%d bytes, more than the kubelet keeps (%d)", len(data), longtaskv1.MaxTerminationMessageBytes)
			}
			var got longtaskv1.TerminationMessage
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("not the contract's JSON: %v\n%s", err, data)
			}
			if got.Reason != tc.message.Reason {
				t.Errorf("reason %q, want %q", got.Reason, tc.message.Reason)
			}
			if !utf8.ValidString(got.Output) || !utf8.ValidString(got.Message) {
				t.Errorf("output or message is not valid UTF-8")
			}
			if tc.wantOutput != "" && !strings.HasSuffix(got.Output, tc.wantOutput) {
				t.Errorf("output ends %q, want it to end with %q", got.Output[max(0, len(got.Output)-40):], tc.wantOutput)
			}
			if tc.wantOutput != "" && got.Message != tc.message.Message {
				t.Errorf("message %q, want %q whole", got.Message, tc.message.Message)
			}
			if len(got.Output) > longtaskv1.MaxOutputBytes {
				t.Errorf("output of %d bytes, more than status.failure.output keeps (%d)", len(got.Output), longtaskv1.MaxOutputBytes)
			}
		})
	}
}

func TestTerminationMessageIsWrittenOnlyWhereTheKubeletCreatedTheFile(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "termination-log")
	if err := os.WriteFile(existing, []byte("left from before"), 0o644); err != nil {
		t.Fatal(err)
	}
	message := longtaskv1.TerminationMessage{Reason: "TaskFailed", Message: "the program exited with code 3", Output: "last line"}
	if err := writeTerminationMessage(existing, message); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(existing)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != string(encodeTerminationMessage(message)) {
		t.Errorf("the termination log holds %q, want the encoded message alone", data)
	}

	missing := filepath.Join(dir, "not-in-a-pod")
	if err := writeTerminationMessage(missing, message); err != nil {
		t.Errorf("outside a pod, with no termination log: %v, want nothing done", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a termination log was created outside a pod: %v", err)
	}
}
