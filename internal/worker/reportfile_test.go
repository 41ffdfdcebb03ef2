package worker

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// hangGuard is how long a run of `true` may take before the test calls the worker hung: long enough for
// a loaded machine, short of the test's own timeout.
const hangGuard = 30 * time.Second

// A report file as the program may leave it, made at path.
type reportFile func(t *testing.T, path string)

func namedPipe(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
}

func devZero(t *testing.T, path string) {
	t.Helper()
	if err := os.Symlink("/dev/zero", path); err != nil {
		t.Fatal(err)
	}
}

func directory(t *testing.T, path string) {
	t.Helper()
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
}

func regular(content string) reportFile {
	return func(t *testing.T, path string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRunnerReadsOnlyRegularReportFilesUpToTheirCaps: the program chooses what its progress and result
// files are. One that is a named pipe would block the worker's read for ever, and with it the task's last
// writes and its exit; /dev/zero would be read until the worker runs out of memory. The worker refuses
// them, reads at most the last maxLineBytes of the progress file and MaxResultBytes of the result file,
// and says in the task's output what it did not take, naming the file.
func TestRunnerReadsOnlyRegularReportFilesUpToTheirCaps(t *testing.T) {
	overLongLine := "::progress 2/2 " + strings.Repeat("x", 2*maxLineBytes) + "\n"
	manyLines := strings.Repeat("::progress 1/10 a line of a progress file the program appends to\n", 4000) + "7/10\n"
	cases := map[string]struct {
		progress, result reportFile
		// wantWarning is what the output must say, %[1]s standing for the progress file and %[2]s for the
		// result file; empty for no warning.
		wantWarning   string
		wantCurrent   int64 // the progress's current, -1 for none
		wantResultLen int   // -1 for no result
	}{
		"a named pipe as the progress file": {
			progress: namedPipe, wantWarning: "the progress file %[1]s is a named pipe, not a regular file: it is not read", wantCurrent: -1, wantResultLen: -1,
		},
		"a symlink to the zero device as the progress file": {
			progress: devZero, wantWarning: "the progress file %[1]s is a device, not a regular file: it is not read", wantCurrent: -1, wantResultLen: -1,
		},
		"a directory as the progress file": {
			progress: directory, wantWarning: "the progress file %[1]s is a directory, not a regular file: it is not read", wantCurrent: -1, wantResultLen: -1,
		},
		"a progress file whose last line is over the cap": {
			progress: regular("::progress 1/2\n" + overLongLine), wantCurrent: -1, wantResultLen: -1,
			wantWarning: fmt.Sprintf("the progress file %%[1]s ends in a line longer than %d bytes: the line is ignored", maxLineBytes),
		},
		"a long progress file with a short last line": {
			progress: regular(manyLines), wantCurrent: 7, wantResultLen: -1,
		},
		"a named pipe as the result file": {
			result: namedPipe, wantWarning: "the result file %[2]s is a named pipe, not a regular file: it is not read", wantCurrent: -1, wantResultLen: -1,
		},
		"a symlink to the zero device as the result file": {
			result: devZero, wantWarning: "the result file %[2]s is a device, not a regular file: it is not read", wantCurrent: -1, wantResultLen: -1,
		},
		"a result file over the cap": {
			result: regular(strings.Repeat("r", longtaskv1.MaxResultBytes+100)), wantCurrent: -1, wantResultLen: longtaskv1.MaxResultBytes,
			wantWarning: fmt.Sprintf("the result file %%[2]s is longer than %d bytes: the result keeps its first %d bytes", longtaskv1.MaxResultBytes, longtaskv1.MaxResultBytes),
		},
		"a result file at the cap, with its newline": {
			result: regular(strings.Repeat("r", longtaskv1.MaxResultBytes) + "\n"), wantCurrent: -1, wantResultLen: longtaskv1.MaxResultBytes,
		},
		"a symlink to a regular progress file": {
			progress: func(t *testing.T, path string) {
				regular("3/10\n")(t, path+".real")
				if err := os.Symlink(path+".real", path); err != nil {
					t.Fatal(err)
				}
			},
			wantCurrent: 3, wantResultLen: -1,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			var out bytes.Buffer
			r := newTestRunner(&out, 0)
			r.ProgressFile, r.ResultFile = filepath.Join(dir, "progress"), filepath.Join(dir, "result")
			if tc.progress != nil {
				tc.progress(t, r.ProgressFile)
			}
			if tc.result != nil {
				tc.result(t, r.ResultFile)
			}
			done := make(chan error, 1)
			go func() { done <- r.Run([]string{"true"}, make(chan os.Signal)) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
			case <-time.After(hangGuard):
				t.Fatal("the worker hung reading a report file")
			}

			warnings := strings.Count(out.String(), "longtask-worker: ")
			if tc.wantWarning == "" && warnings > 0 {
				t.Errorf("output %q, want no warning", out.String())
			}
			if want := "longtask-worker: " + fmt.Sprintf(tc.wantWarning, r.ProgressFile, r.ResultFile) + "\n"; tc.wantWarning != "" && out.String() != want {
				t.Errorf("output %q, want the one warning %q", out.String(), want)
			}
			got := r.Publisher.Latest()
			current, resultLen := int64(-1), -1
			if got.Progress != nil {
				current = got.Progress.Current
			}
			if got.Result != nil {
				resultLen = len(*got.Result)
			}
			if current != tc.wantCurrent || resultLen != tc.wantResultLen {
				t.Errorf("progress current %d and a result of %d bytes, want %d and %d (-1: none)", current, resultLen, tc.wantCurrent, tc.wantResultLen)
			}
		})
	}
}
