package worker

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/types"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

func TestConfigFromEnv(t *testing.T) {
	cases := map[string]struct {
		env        map[string]string
		want       Config
		wantInTask bool
		wantErr    string
	}{
		"outside a LongTask": {
			env: map[string]string{},
		},
		"inside a LongTask": {
			env: map[string]string{
				"LONGTASK_NAME": "resize", "LONGTASK_NAMESPACE": "photos", "LONGTASK_PROGRESS_INTERVAL": "5s", "LONGTASK_TOTAL": "25",
				"LONGTASK_GRACE_PERIOD": "10", "LONGTASK_PROGRESS_FILE": "/longtask/progress", "LONGTASK_RESULT_FILE": "/longtask/result",
			},
			want: Config{
				Task: types.NamespacedName{Namespace: "photos", Name: "resize"}, ProgressInterval: 5 * time.Second, Total: 25,
				GracePeriod: 10 * time.Second, ProgressFile: "/longtask/progress", ResultFile: "/longtask/result",
			},
			wantInTask: true,
		},
		"no namespace":     {env: map[string]string{"LONGTASK_NAME": "resize"}, wantErr: "LONGTASK_NAMESPACE is not"},
		"bad interval":     {env: map[string]string{"LONGTASK_NAME": "a", "LONGTASK_NAMESPACE": "b", "LONGTASK_PROGRESS_INTERVAL": "soon"}, wantErr: "LONGTASK_PROGRESS_INTERVAL"},
		"bad grace period": {env: map[string]string{"LONGTASK_NAME": "a", "LONGTASK_NAMESPACE": "b", "LONGTASK_GRACE_PERIOD": "30s"}, wantErr: "LONGTASK_GRACE_PERIOD"},
		"negative total":   {env: map[string]string{"LONGTASK_NAME": "a", "LONGTASK_NAMESPACE": "b", "LONGTASK_TOTAL": "-1"}, wantErr: "LONGTASK_TOTAL"},
		"interval of zero": {env: map[string]string{"LONGTASK_NAME": "a", "LONGTASK_NAMESPACE": "b", "LONGTASK_PROGRESS_INTERVAL": "0s"}, wantErr: "positive duration"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, inTask, err := ConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if inTask != tc.wantInTask {
				t.Errorf("inTask = %v, want %v", inTask, tc.wantInTask)
			}
			if !tc.wantInTask {
				return
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(Config{}, "TerminationLog", "FlushTimeout", "MemoryEvents")); diff != "" {
				t.Errorf("config (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestTerminationMessageIsWrittenOnlyWhereTheKubeletCreatedTheFile(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "termination-log")
	if err := os.WriteFile(existing, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	writeTerminationMessage(existing, longtaskv1.TerminationMessage{
		Reason: "TaskFailed", Message: "the program exited with code 3", Output: strings.Repeat("x", 10000) + "last line\n",
	})
	data, err := os.ReadFile(existing)
	if err != nil {
		t.Fatal(err)
	}
	var got longtaskv1.TerminationMessage
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("the termination message is not the contract's JSON: %v\n%s", err, data)
	}
	if len(data) > 4096 || got.Reason != "TaskFailed" || !strings.HasSuffix(got.Output, "last line\n") {
		t.Errorf("termination message of %d bytes with reason %q and output ending %q; want at most 4096 bytes keeping the reason and the end of the output",
			len(data), got.Reason, got.Output[max(0, len(got.Output)-20):])
	}

	missing := filepath.Join(dir, "not-in-a-pod")
	writeTerminationMessage(missing, longtaskv1.TerminationMessage{Message: "message"})
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a termination log was created outside a pod: %v", err)
	}
}
