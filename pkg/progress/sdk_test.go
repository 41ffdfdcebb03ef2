package progress

import (
	"bytes"
	"strings"
	"testing"
)

func TestReporter(t *testing.T) {
	var out bytes.Buffer
	r := NewReporter(&out)
	steps := []func() error{
		func() error { return r.Report(3, 10, "copying\nfiles") },
		func() error { return r.Report(4, 0, "") },
		func() error { return r.Checkpoint(`{"next": 4}`) },
		func() error { return r.Result(`{"files": 10}`) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	want := "::progress 3/10 copying files\n::progress 4\n::checkpoint {\"next\": 4}\n::result {\"files\": 10}\n"
	if out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
	if err := r.Report(-1, 10, ""); err == nil {
		t.Error("Report(-1, 10) succeeded, want an error")
	}
	if err := r.Checkpoint(strings.Repeat("x", MaxCheckpointBytes+1)); err == nil {
		t.Error("an oversized checkpoint was accepted, want an error")
	}
}
