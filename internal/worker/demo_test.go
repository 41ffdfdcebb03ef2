package worker

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// stepLine is the line the demo prints for people after each step.
var stepLine = regexp.MustCompile(`^step \d+ of \d+ took \S+$`)

func TestDemoResumesFromItsCheckpoint(t *testing.T) {
	cases := map[string]struct {
		env       map[string]string
		opts      DemoOptions
		wantErr   bool
		wantLines []string
	}{
		"first attempt": {
			opts:      DemoOptions{Steps: 2},
			wantLines: []string{"::progress 1/2 Finished step 1 of 2", `::checkpoint {"step":1}`, "::progress 2/2 Finished step 2 of 2", `::checkpoint {"step":2}`, `::result {"steps": 2}`},
		},
		"first attempt told to fail": {
			env:       map[string]string{"LONGTASK_ATTEMPT": "1"},
			opts:      DemoOptions{Steps: 3, FailAt: 1},
			wantErr:   true,
			wantLines: []string{"::progress 1/3 Finished step 1 of 3", `::checkpoint {"step":1}`},
		},
		"retry resumes after the checkpoint and does not fail again": {
			env:       map[string]string{"LONGTASK_ATTEMPT": "2", "LONGTASK_CHECKPOINT": `{"step":1}`},
			opts:      DemoOptions{Steps: 2, FailAt: 1},
			wantLines: []string{"Attempt 2: resuming at step 2 of 2", "::progress 2/2 Finished step 2 of 2", `::checkpoint {"step":2}`, `::result {"steps": 2}`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			err := Demo(context.Background(), &out, func(k string) string { return tc.env[k] }, tc.opts)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Demo error %v, want error %v", err, tc.wantErr)
			}
			// Leave out the lines for people, whose times are random.
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				if !stepLine.MatchString(line) {
					got = append(got, line)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.wantLines, "\n") {
				t.Errorf("Demo printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.wantLines, "\n"))
			}
		})
	}
}
