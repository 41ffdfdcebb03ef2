package worker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"k8s.io/apimachinery/pkg/types"
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
	writeTerminationMessage(existing, "the program exited with code 3\n"+strings.Repeat("x", 10000))
	got, err := os.ReadFile(existing)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4096 || !strings.HasSuffix(string(got), "xxx") {
		t.Errorf("termination message of %d bytes, want the last 4096", len(got))
	}

	missing := filepath.Join(dir, "not-in-a-pod")
	writeTerminationMessage(missing, "message")
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("a termination log was created outside a pod: %v", err)
	}
}
