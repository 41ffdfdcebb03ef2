package cli

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

func TestParseParameters(t *testing.T) {
	tests := map[string]struct {
		flags   []string
		want    []longtaskv1.ParameterValue
		wantErr string
	}{
		"none":                {},
		"in the order given":  {flags: []string{"count=150", "album=cats"}, want: []longtaskv1.ParameterValue{{Name: "count", Value: "150"}, {Name: "album", Value: "cats"}}},
		"empty value":         {flags: []string{"album="}, want: []longtaskv1.ParameterValue{{Name: "album", Value: ""}}},
		"= in the value":      {flags: []string{"filter=a=b"}, want: []longtaskv1.ParameterValue{{Name: "filter", Value: "a=b"}}},
		"commas kept":         {flags: []string{"album=cats, dogs"}, want: []longtaskv1.ParameterValue{{Name: "album", Value: "cats, dogs"}}},
		"no =":                {flags: []string{"abc"}, wantErr: `-p wants NAME=VALUE, got "abc"`},
		"no name":             {flags: []string{"=5"}, wantErr: `-p wants NAME=VALUE, got "=5"`},
		"the same name twice": {flags: []string{"count=1", "count=2"}, wantErr: "-p count is given twice"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := parseParameters(tc.flags)
			if diff := cmp.Diff(tc.wantErr, errText(err)); diff != "" {
				t.Fatalf("error (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("values (-want,+got):\n%s", diff)
			}
			if err != nil && exitCode(err) != ExitError {
				t.Errorf("exit code %d, want %d", exitCode(err), ExitError)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// fakeRun runs the plugin in-process in namespace photos against a fake API server holding objects, and returns what it
// printed, its exit code and the fake's client.
func fakeRun(t *testing.T, objects []client.Object, args ...string) (string, string, int, client.Client) {
	t.Helper()
	return fakeRunWith(t, objects, nil, args...)
}

// fakeRunWith is fakeRun with pods, Jobs and other Kubernetes objects in the fake API server too.
func fakeRunWith(t *testing.T, objects []client.Object, kubeObjects []runtime.Object, args ...string) (string, string, int, client.Client) {
	t.Helper()
	c := fake.NewClientBuilder().WithScheme(Scheme()).WithObjects(objects...).WithStatusSubresource(&longtaskv1.LongTask{}).Build()
	out, errOut, code := runWith(context.Background(), &Clients{Tasks: c, Kube: kubefake.NewClientset(kubeObjects...)}, args...)
	return out, errOut, code, c
}

// runWith runs the plugin in-process in namespace photos with clients, until it ends or ctx does, and
// returns what it printed and its exit code.
func runWith(ctx context.Context, clients *Clients, args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	env := Env{
		Streams:  genericiooptions.IOStreams{In: &bytes.Buffer{}, Out: &out, ErrOut: &errOut},
		Clock:    clocktesting.NewFakePassiveClock(now),
		Connect:  func(*genericclioptions.ConfigFlags) (*Clients, error) { return clients, nil },
		LogRetry: time.Millisecond,
	}
	// Flags before the command, as a command after -- takes everything that follows.
	code := Run(ctx, append([]string{"--kubeconfig", "/dev/null", "-n", "photos"}, args...), env)
	return out.String(), errOut.String(), code
}

func TestRunBuildsTheTask(t *testing.T) {
	template := testutil.MakeTemplate("resize-photos", "photos").
		Parameter(longtaskv1.Parameter{Name: "count", Default: ptr.To("20"), Pattern: "^[0-9]{1,3}$"}).
		Parameter(longtaskv1.Parameter{Name: "album", Required: true}).
		Command("resize", "--count", "$(params.count)").Obj()
	tests := map[string]struct {
		args       []string
		want       *longtaskv1.LongTask
		wantOut    string
		wantStderr string
		wantCode   int
	}{
		"from a template, labelled with it": {
			args: []string{"run", "resize-photos", "-p", "album=cats", "-p", "count=150", "--name", "resize"},
			want: &longtaskv1.LongTask{
				ObjectMeta: metav1.ObjectMeta{Name: "resize", Namespace: "photos", Labels: map[string]string{longtaskv1.LabelTemplate: "resize-photos"}},
				Spec: longtaskv1.LongTaskSpec{
					TemplateRef: &longtaskv1.TemplateRef{Name: "resize-photos"},
					Parameters:  []longtaskv1.ParameterValue{{Name: "album", Value: "cats"}, {Name: "count", Value: "150"}},
				},
			},
			wantOut: "longtask/resize created\n",
		},
		"from a template, with a total and -o name": {
			args: []string{"run", "resize-photos", "-p", "album=cats", "--name", "resize", "--total", "7", "-o", "name"},
			want: &longtaskv1.LongTask{
				ObjectMeta: metav1.ObjectMeta{Name: "resize", Namespace: "photos", Labels: map[string]string{longtaskv1.LabelTemplate: "resize-photos"}},
				Spec: longtaskv1.LongTaskSpec{
					TaskSpec:    longtaskv1.TaskSpec{Total: ptr.To[int64](7)},
					TemplateRef: &longtaskv1.TemplateRef{Name: "resize-photos"},
					Parameters:  []longtaskv1.ParameterValue{{Name: "album", Value: "cats"}},
				},
			},
			wantOut: "resize\n",
		},
		"a command in an image": {
			args: []string{"run", "--image", "busybox:1.36", "--name", "hello", "--", "sh", "-c", "echo hi"},
			want: &longtaskv1.LongTask{
				ObjectMeta: metav1.ObjectMeta{Name: "hello", Namespace: "photos"},
				Spec:       longtaskv1.LongTaskSpec{TaskSpec: longtaskv1.TaskSpec{Image: "busybox:1.36", Command: []string{"sh", "-c", "echo hi"}}},
			},
			wantOut: "longtask/hello created\n",
		},
		"a value the template refuses": {
			args:       []string{"run", "resize-photos", "-p", "album=cats", "-p", "count=1000", "--name", "resize"},
			wantStderr: "error: template \"resize-photos\" refuses the values, nothing was created:\n  spec.parameters[count]: Invalid value: \"1000\": must match ^[0-9]{1,3}$\n",
			wantCode:   ExitError,
		},
		"no such template": {
			args:       []string{"run", "resize-fotos", "--name", "resize"},
			wantStderr: "error: template \"resize-fotos\" not found in namespace \"photos\"\n",
			wantCode:   ExitError,
		},
		"a template and a command": {
			args:       []string{"run", "resize-photos", "--name", "resize", "--", "sh"},
			wantStderr: "error: run takes a template or a command after --, not both (got [\"resize-photos\"] and [\"sh\"])\n",
			wantCode:   ExitError,
		},
		"-p for a command": {
			args:       []string{"run", "-p", "a=b", "--name", "resize", "--", "sh"},
			wantStderr: "error: -p gives values to a template's parameters; a command has none\n",
			wantCode:   ExitError,
		},
		"--image without a command": {
			args:       []string{"run", "--image", "busybox", "--name", "resize"},
			wantStderr: "error: --image wants a command after --: run --image IMAGE -- COMMAND [ARG]...\n",
			wantCode:   ExitError,
		},
		"both --name and --generate-name": {
			args:       []string{"run", "resize-photos", "--name", "a", "--generate-name", "b-"},
			wantStderr: "error: --name and --generate-name go one at a time\n",
			wantCode:   ExitError,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, stderr, code, c := fakeRun(t, []client.Object{template.DeepCopy()}, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d", code, tc.wantCode)
			}
			if diff := cmp.Diff(tc.wantOut, out); diff != "" {
				t.Errorf("stdout (-want,+got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantStderr, stderr); diff != "" {
				t.Errorf("stderr (-want,+got):\n%s", diff)
			}
			tasks := &longtaskv1.LongTaskList{}
			if err := c.List(context.Background(), tasks); err != nil {
				t.Fatal(err)
			}
			var got *longtaskv1.LongTask
			if len(tasks.Items) > 0 {
				got = &tasks.Items[0]
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreFields(metav1.ObjectMeta{}, "ResourceVersion"), cmpopts.IgnoreFields(metav1.TypeMeta{}, "Kind", "APIVersion")); diff != "" {
				t.Errorf("created task (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestResultAndCancelExitCodes(t *testing.T) {
	succeeded := testutil.MakeLongTask("done", "photos").Phase(longtaskv1.PhaseSucceeded).Obj()
	succeeded.Status.Result = `{"thumbnails": 25}`
	failed := testutil.MakeLongTask("broken", "photos").Phase(longtaskv1.PhaseFailed).Obj()
	failed.Status.Failure = &longtaskv1.Failure{Reason: "OOMKilled", Message: "The task ran out of memory", Output: "\x1b[31mallocating\x1b[0m"}
	running := testutil.MakeLongTask("busy", "photos").Phase(longtaskv1.PhaseRunning).Progress(12, 25, "").Obj()
	objects := []client.Object{succeeded, failed, running}

	tests := map[string]struct {
		args                []string
		wantOut, wantStderr string
		wantCode            int
	}{
		"result of a succeeded task": {args: []string{"result", "done"}, wantOut: `{"thumbnails": 25}`},
		"result of a failed task": {args: []string{"result", "broken"}, wantCode: ExitTaskFailed,
			wantStderr: "longtask/broken Failed: OOMKilled: The task ran out of memory\n  | allocating\n"},
		"result of a running task": {args: []string{"result", "busy"}, wantCode: ExitNotFinished,
			wantStderr: "longtask/busy has not finished: Running 12/25 (48%), no result yet\n"},
		"result of no task": {args: []string{"result", "nope"}, wantCode: ExitError,
			wantStderr: "error: longtask \"nope\" not found in namespace \"photos\"\n"},
		"result of two tasks": {args: []string{"result", "done", "busy"}, wantCode: ExitError,
			wantStderr: "error: result wants one task's name\n"},
		"cancel a running task":  {args: []string{"cancel", "busy"}, wantOut: "longtask/busy cancelled\n"},
		"cancel a finished task": {args: []string{"cancel", "done"}, wantOut: "longtask/done already Succeeded, nothing to cancel\n"},
		"cancel one that is there and one that is not": {args: []string{"cancel", "busy", "nope"}, wantCode: ExitError,
			wantOut: "longtask/busy cancelled\n", wantStderr: "error: longtask \"nope\" not found in namespace \"photos\"\n"},
		"an unknown flag":  {args: []string{"result", "--bogus"}, wantCode: ExitError, wantStderr: "error: unknown flag: --bogus\nSee 'kubectl longtask result --help'.\n"},
		"watch, nothing":   {args: []string{"watch"}, wantCode: ExitError, wantStderr: "error: watch wants task names, -l SELECTOR or --all (one of them)\n"},
		"watch, bad -l":    {args: []string{"watch", "-l", "a in (("}, wantCode: ExitError},
		"watch, -A a name": {args: []string{"watch", "busy", "-A"}, wantCode: ExitError, wantStderr: "error: -A goes with -l or --all: a task's name is in one namespace\n"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, stderr, code, c := fakeRun(t, objects, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tc.wantCode, stderr)
			}
			if diff := cmp.Diff(tc.wantOut, out); diff != "" {
				t.Errorf("stdout (-want,+got):\n%s", diff)
			}
			if tc.wantStderr != "" || code == ExitOK {
				if diff := cmp.Diff(tc.wantStderr, stderr); diff != "" {
					t.Errorf("stderr (-want,+got):\n%s", diff)
				}
			}
			if tc.args[0] == "cancel" {
				got := &longtaskv1.LongTask{}
				if err := c.Get(context.Background(), client.ObjectKey{Namespace: "photos", Name: "done"}, got); err != nil {
					t.Fatal(err)
				}
				if got.Spec.Cancel {
					t.Errorf("a finished task got spec.cancel")
				}
			}
		})
	}
}

// A task started from a template is named after it as the UI names it: a template "resize.photos" starts
// tasks resize-photos-xxxxx from either.
func TestRunNamesTheTaskAsTheUIDoes(t *testing.T) {
	template := testutil.MakeTemplate("resize.photos", "photos").Command("resize").Obj()
	out, stderr, code, c := fakeRun(t, []client.Object{template}, "run", "resize.photos")
	if code != ExitOK {
		t.Fatalf("exit code %d, stderr %q", code, stderr)
	}
	started := &longtaskv1.LongTaskList{}
	if err := c.List(context.Background(), started); err != nil {
		t.Fatal(err)
	}
	if len(started.Items) != 1 {
		t.Fatalf("%d tasks started, want 1", len(started.Items))
	}
	if task := started.Items[0]; task.GenerateName != "resize-photos-" || out != "longtask/"+task.Name+" created\n" {
		t.Errorf("the task from template resize.photos has generateName %q and the plugin said %q; want generateName resize-photos- and its name",
			task.GenerateName, out)
	}
}
