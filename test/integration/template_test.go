package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

// resizeTemplate takes a count of photos, a number up to 999, and an album, which reaches the program in
// env only.
func resizeTemplate(ns string) *longtaskv1.LongTaskTemplate {
	template := testutil.MakeTemplate("resize-photos", ns).
		Parameter(longtaskv1.Parameter{Name: "count", Default: ptr.To("20"), Pattern: "^[0-9]{1,3}$"}).
		Parameter(longtaskv1.Parameter{Name: "album", Required: true}).
		Command("resize", "--count", "$(params.count)").
		Args("--quality=high").
		Env("ALBUM", "$(params.album)").
		Obj()
	template.Spec.Task.Image = "resizer:1"
	template.Spec.Task.Retries = 2
	return template
}

func TestTaskFromTemplateRunsWithItsParameters(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	template := resizeTemplate(ns)
	fw.Create(t, template)
	task := testutil.MakeLongTask("resize", ns).TemplateRef("resize-photos").Parameter("count", "150").Parameter("album", "cats").Obj()
	fw.Create(t, task)

	job := fw.WaitForJob(t, task)
	g := gomega.NewWithT(t)
	container := job.Spec.Template.Spec.Containers[0]
	g.Expect(container.Image).To(gomega.Equal("resizer:1"))
	g.Expect(container.Command).To(gomega.Equal([]string{"/longtask/bin/longtask-worker", "run", "--", "resize", "--count", "150"}))
	g.Expect(container.Args).To(gomega.Equal([]string{"--quality=high"}))
	g.Expect(container.Env).To(gomega.ContainElement(corev1.EnvVar{Name: "ALBUM", Value: "cats"}))
	g.Expect(job.Spec.BackoffLimit).To(gomega.Equal(ptr.To[int32](2)), "retries come from the template")
	got := fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.ResolvedTask).NotTo(gomega.BeNil())
		g.Expect(got.Status.JobName).To(gomega.Equal("resize"))
	})
	g.Expect(got.Status.ResolvedTask.Command).To(gomega.Equal([]string{"resize", "--count", "150"}))
	g.Expect(got.Spec.Command).To(gomega.BeNil(), "the resolved task is never written into the spec")
	resolved := got.Status.ResolvedTask

	// A started task runs what it resolved, whatever becomes of the template.
	g.Expect(fw.Client.Delete(context.Background(), template)).To(gomega.Succeed())
	fw.SetJobStatus(t, testutil.FromJob(job).Started(time.Now()).Succeeded(time.Now()).Obj())
	got = fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseSucceeded))
	})
	g.Expect(got.Status.ResolvedTask).To(gomega.Equal(resolved))
}

func TestTaskWithABadParameterFailsWithoutAJob(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	fw.Create(t, resizeTemplate(ns))
	task := testutil.MakeLongTask("resize", ns).TemplateRef("resize-photos").Parameter("count", "20; rm -rf /").Parameter("album", "cats").Obj()
	fw.Create(t, task)

	got := fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhaseFailed))
	})
	g := gomega.NewWithT(t)
	g.Expect(got.Status.Failure).NotTo(gomega.BeNil())
	g.Expect(got.Status.Failure.Reason).To(gomega.Equal(longtaskv1.FailureReasonInvalidParameters))
	g.Expect(got.Status.Failure.Message).To(gomega.ContainSubstring(`spec.parameters[count]: Invalid value: "20; rm -rf /": must match ^[0-9]{1,3}$`))
	g.Expect(fw.Kubectl(ns, "wait", "--for=condition=Failed", "--timeout=10s", "longtask/resize").Run()).To(gomega.Succeed())
	err := fw.Client.Get(context.Background(), client.ObjectKeyFromObject(task), &batchv1.Job{})
	g.Expect(apierrors.IsNotFound(err)).To(gomega.BeTrue(), "getting the Job of a task whose parameters did not fit: %v", err)
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(taskEvents(g, task, "InvalidParameters")).NotTo(gomega.BeEmpty())
	})
}

func TestTaskWaitsForItsTemplate(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	task := testutil.MakeLongTask("resize", ns).TemplateRef("resize-photos").Parameter("album", "cats").Obj()
	fw.Create(t, task)
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Phase).To(gomega.Equal(longtaskv1.PhasePending))
		cond := meta.FindStatusCondition(got.Status.Conditions, longtaskv1.ConditionRunning)
		g.Expect(cond).NotTo(gomega.BeNil())
		g.Expect(cond.Status).To(gomega.Equal(metav1.ConditionFalse))
		g.Expect(cond.Reason).To(gomega.Equal("TemplateNotFound"))
		g.Expect(cond.Message).To(gomega.ContainSubstring("LongTaskTemplate resize-photos not found"))
	})
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(taskEvents(g, task, "TemplateNotFound")).To(gomega.HaveLen(1))
	})

	fw.Create(t, resizeTemplate(ns))
	job := fw.WaitForJob(t, task)
	gomega.NewWithT(t).Expect(job.Spec.Template.Spec.Containers[0].Command).To(gomega.HaveExactElements(
		"/longtask/bin/longtask-worker", "run", "--", "resize", "--count", "20"))
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.ResolvedTask).NotTo(gomega.BeNil())
		g.Expect(meta.FindStatusCondition(got.Status.Conditions, longtaskv1.ConditionRunning).Reason).NotTo(gomega.Equal("TemplateNotFound"))
	})
}

// applyTemplate runs `kubectl apply` with a LongTaskTemplate of the given spec and returns its output and
// whether it was accepted.
func applyTemplate(t *testing.T, ns, spec string) (string, bool) {
	t.Helper()
	manifest := fmt.Sprintf("apiVersion: longtask.dev/v1alpha1\nkind: LongTaskTemplate\nmetadata:\n  name: template\nspec:\n%s", spec)
	cmd := fw.Kubectl(ns, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

func TestBadTemplateSpecsAreRefused(t *testing.T) {
	t.Parallel()
	ns := fw.Namespace(t)
	tasks := map[string]struct {
		spec string
		want []string
	}{
		"templateRef with a command": {
			spec: "templateRef: {name: resize-photos}\ncommand: [resize]",
			want: []string{"spec.templateRef", "templateRef cannot be mixed with image, command"},
		},
		"templateRef with an image": {
			spec: "templateRef: {name: resize-photos}\nimage: resizer:2",
			want: []string{"spec.templateRef", "templateRef cannot be mixed"},
		},
		"parameters without a templateRef": {
			spec: "command: [resize]\nparameters: [{name: count, value: '5'}]",
			want: []string{"spec.parameters", "parameters need a templateRef"},
		},
		"the same parameter twice": {
			spec: "templateRef: {name: resize-photos}\nparameters: [{name: count, value: '5'}, {name: count, value: '6'}]",
			want: []string{"spec.parameters[1]", "Duplicate value"},
		},
	}
	for name, tc := range tasks {
		t.Run("task with "+name, func(t *testing.T) {
			out, ok := applyTask(t, ns, "bad", indent(tc.spec))
			if ok {
				t.Fatalf("kubectl apply accepted the task:\n%s", out)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("kubectl apply said %q; want it to mention %q", out, want)
				}
			}
		})
	}

	// A default that does not match its pattern is not refused here: a CEL rule with matches() over a
	// 4096-byte default exceeds the CRD's cost budget. The controller refuses it when a task uses it.
	templates := map[string]struct {
		spec string
		want []string
	}{
		"a required parameter with a default": {
			spec: "parameters: [{name: count, required: true, default: '5'}]\ntask: {command: [resize]}",
			want: []string{"spec.parameters[0].default", "a required parameter has no default"},
		},
		"a default that is not one of the enum": {
			spec: "parameters: [{name: speed, enum: [slow, fast], default: warp}]\ntask: {command: [resize]}",
			want: []string{"spec.parameters[0].default", "default must be one of enum"},
		},
		"a parameter name that cannot be referred to": {
			spec: "parameters: [{name: 'photo count'}]\ntask: {command: [resize]}",
			want: []string{"spec.parameters[0].name", "should match"},
		},
		"a task without a command": {
			spec: "task: {image: resizer:1}",
			want: []string{"spec.task.command", "command is required"},
		},
	}
	for name, tc := range templates {
		t.Run("template with "+name, func(t *testing.T) {
			out, ok := applyTemplate(t, ns, indent(tc.spec))
			if ok {
				t.Fatalf("kubectl apply accepted the template:\n%s", out)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("kubectl apply said %q; want it to mention %q", out, want)
				}
			}
		})
	}
}

func TestTemplateRefAndParametersAreImmutable(t *testing.T) {
	t.Parallel()
	ns := fw.Namespace(t)
	// No template of that name: the task waits, and its spec can be tried against the rules meanwhile.
	if out, ok := applyTask(t, ns, "resize", indent("templateRef: {name: resize-photos}\nparameters: [{name: count, value: '5'}]")); !ok {
		t.Fatalf("creating the task: %s", out)
	}
	cases := []struct {
		name string
		spec string
		want []string
	}{
		{name: "templateRef", spec: "templateRef: {name: crop-photos}\nparameters: [{name: count, value: '5'}]", want: []string{"spec.templateRef", "templateRef is immutable"}},
		{name: "parameter value", spec: "templateRef: {name: resize-photos}\nparameters: [{name: count, value: '6'}]", want: []string{"spec.parameters", "parameters are immutable"}},
		{name: "parameters removed", spec: "templateRef: {name: resize-photos}", want: []string{"spec.parameters", "parameters are immutable"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, ok := applyTask(t, ns, "resize", indent(tc.spec))
			if ok {
				t.Fatalf("kubectl apply accepted the change:\n%s", out)
			}
			for _, want := range tc.want {
				if !strings.Contains(out, want) {
					t.Errorf("kubectl apply said %q; want it to mention %q", out, want)
				}
			}
		})
	}
}

// taskEvents lists the task's Events of a reason.
func taskEvents(g gomega.Gomega, task *longtaskv1.LongTask, reason string) []eventsv1.Event {
	list := &eventsv1.EventList{}
	g.Expect(fw.Client.List(context.Background(), list, client.InNamespace(task.Namespace))).To(gomega.Succeed())
	var found []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == task.Name && e.Reason == reason {
			found = append(found, e)
		}
	}
	return found
}

// The sample templates that make dev applies are valid, and a task started from each with only its
// required values gets its Job.
func TestSampleTemplatesStartTasks(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	if out, err := fw.Kubectl(ns, "apply", "-f", fw.Path("config", "samples", "templates.yaml")).CombinedOutput(); err != nil {
		t.Fatalf("applying the sample templates: %v\n%s", err, out)
	}
	cases := map[string]struct {
		task        *longtaskv1.LongTask
		wantCommand []string
		wantEnv     []corev1.EnvVar
	}{
		"resize-photos": {
			task:        testutil.MakeLongTask("resize", ns).TemplateRef("resize-photos").Obj(),
			wantCommand: []string{"/longtask/bin/longtask-worker", "run", "--", "longtask-worker", "demo", "--steps", "20", "--max-delay", "1s"},
		},
		"copy-parts": {
			task:        testutil.MakeLongTask("copy", ns).TemplateRef("copy-parts").Parameter("file", "it's; rm -rf /").Obj(),
			wantCommand: []string{"/longtask/bin/longtask-worker", "run", "--", "sh", "-c"},
			wantEnv:     []corev1.EnvVar{{Name: "FILE", Value: "it's; rm -rf /"}, {Name: "PARTS", Value: "10"}},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			fw.Create(t, tc.task)
			job := fw.WaitForJob(t, tc.task)
			container := job.Spec.Template.Spec.Containers[0]
			g := gomega.NewWithT(t)
			g.Expect(container.Command).To(gomega.Equal(tc.wantCommand))
			for _, env := range tc.wantEnv {
				g.Expect(container.Env).To(gomega.ContainElement(env))
			}
		})
	}
}
