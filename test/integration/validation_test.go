package integration

import (
	"fmt"
	"strings"
	"testing"
)

// applyTask runs `kubectl apply` with a LongTask of the given spec, as a user would, and returns its output
// and whether it was accepted.
func applyTask(t *testing.T, ns, name, spec string) (string, bool) {
	t.Helper()
	manifest := fmt.Sprintf("apiVersion: longtask.dev/v1alpha1\nkind: LongTask\nmetadata:\n  name: %s\nspec:\n%s", name, spec)
	cmd := fw.Kubectl(ns, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func indent(spec string) string {
	return "  " + strings.ReplaceAll(strings.TrimSpace(spec), "\n", "\n  ") + "\n"
}

func TestBadSpecsAreRefusedWithTheFieldAndTheReason(t *testing.T) {
	t.Parallel()
	ns := fw.Namespace(t)
	cases := map[string]struct {
		name string
		spec string
		// want are the parts of kubectl's error a user needs: the field path and the reason.
		want []string
	}{
		"no command": {
			spec: `image: busybox`,
			want: []string{"spec.command", "command is required"},
		},
		"empty command": {
			spec: `command: []`,
			want: []string{"spec.command", "at least 1 items"},
		},
		"blank program": {
			spec: `command: [""]`,
			want: []string{"spec.command", "command[0] must name a program"},
		},
		"pod template mixed with command": {
			spec: `
command: ["resize"]
podTemplate:
  spec:
    containers:
    - name: task
      image: resizer
      command: ["resize"]`,
			want: []string{"spec.podTemplate", "cannot be mixed with image, command"},
		},
		"pod template without a task container": {
			spec: `
podTemplate:
  spec:
    containers:
    - name: main
      image: resizer
      command: ["resize"]`,
			want: []string{"spec.podTemplate", "container named task"},
		},
		"negative total": {
			spec: "command: [resize]\ntotal: -1",
			want: []string{"spec.total", "greater than or equal to 0"},
		},
		"negative retries": {
			spec: "command: [resize]\nretries: -1",
			want: []string{"spec.retries", "greater than or equal to 0"},
		},
		"zero timeout": {
			spec: "command: [resize]\ntimeoutSeconds: 0",
			want: []string{"spec.timeoutSeconds", "greater than or equal to 1"},
		},
		"progress interval too short": {
			spec: "command: [resize]\nprogressInterval: 10ms",
			want: []string{"spec.progressInterval", "between 100ms and 1h"},
		},
		"name too long for a Job": {
			name: strings.Repeat("a", 64),
			spec: "command: [resize]",
			want: []string{"metadata.name", "no more than 63 characters"},
		},
		"unknown field": {
			spec: "command: [resize]\nretry: 3",
			want: []string{"unknown field", "spec.retry"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			taskName := tc.name
			if taskName == "" {
				taskName = "bad"
			}
			out, ok := applyTask(t, ns, taskName, indent(tc.spec))
			if ok {
				t.Fatalf("kubectl apply accepted the spec:\n%s", out)
			}
			t.Logf("kubectl apply: %s", out)
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("kubectl apply said %q; want it to mention %q", out, want)
				}
			}
		})
	}
}

func TestSpecIsImmutableExceptCancel(t *testing.T) {
	t.Parallel()
	ns := fw.Namespace(t)
	if out, ok := applyTask(t, ns, "resize", indent("command: [resize]\ntotal: 10")); !ok {
		t.Fatalf("creating the task: %s", out)
	}
	cases := []struct {
		name   string
		spec   string
		wantOK bool
		want   []string
	}{
		{name: "command", spec: "command: [shrink]\ntotal: 10", want: []string{"spec.command", "command is immutable"}},
		{name: "total", spec: "command: [resize]\ntotal: 11", want: []string{"spec.total", "total is immutable"}},
		{name: "total removed", spec: "command: [resize]", want: []string{"spec.total", "total is immutable"}},
		{name: "retries", spec: "command: [resize]\ntotal: 10\nretries: 2", want: []string{"spec.retries", "retries is immutable"}},
		{name: "cancel set", spec: "command: [resize]\ntotal: 10\ncancel: true", wantOK: true},
		{name: "cancel unset", spec: "command: [resize]\ntotal: 10\ncancel: false", want: []string{"spec.cancel", "cannot be undone"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := applyTask(t, ns, "resize", indent(tc.spec))
			if ok != tc.wantOK {
				t.Fatalf("kubectl apply accepted = %v, want %v:\n%s", ok, tc.wantOK, out)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("kubectl apply said %q; want it to mention %q", out, want)
				}
			}
		})
	}
}
