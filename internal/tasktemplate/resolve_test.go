package tasktemplate

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// photos is a template with one parameter of each kind: defaulted with a pattern, an enum, required, and
// optional without a default.
func photos() *longtaskv1.LongTaskTemplateSpec {
	return &longtaskv1.LongTaskTemplateSpec{
		Parameters: []longtaskv1.Parameter{
			{Name: "count", Default: ptr.To("20"), Pattern: `[0-9]{1,3}`},
			{Name: "speed", Default: ptr.To("normal"), Enum: []string{"slow", "normal", "fast"}},
			{Name: "album", Required: true},
			{Name: "note"},
		},
		Task: longtaskv1.TaskSpec{Command: []string{"resize"}},
	}
}

func given(nameValues ...string) []longtaskv1.ParameterValue {
	var values []longtaskv1.ParameterValue
	for i := 0; i < len(nameValues); i += 2 {
		values = append(values, longtaskv1.ParameterValue{Name: nameValues[i], Value: nameValues[i+1]})
	}
	return values
}

func TestValues(t *testing.T) {
	cases := map[string]struct {
		template *longtaskv1.LongTaskTemplateSpec
		given    []longtaskv1.ParameterValue
		want     map[string]string
		// wantErrs are the errors, each as its field and what it says.
		wantErrs []string
	}{
		"defaults fill in what is not given": {
			given: given("album", "cats"),
			want:  map[string]string{"count": "20", "speed": "normal", "album": "cats", "note": ""},
		},
		"given values replace the defaults": {
			given: given("album", "cats", "count", "150", "speed", "fast", "note", "rush"),
			want:  map[string]string{"count": "150", "speed": "fast", "album": "cats", "note": "rush"},
		},
		"a required parameter may be given an empty value": {
			given: given("album", ""),
			want:  map[string]string{"count": "20", "speed": "normal", "album": "", "note": ""},
		},
		"a required parameter not given": {
			wantErrs: []string{"spec.parameters[album]: Required value: the template needs a value for album"},
		},
		"a value that is not one of the enum": {
			given:    given("album", "cats", "speed", "warp"),
			wantErrs: []string{`spec.parameters[speed]: Unsupported value: "warp": supported values: "slow", "normal", "fast"`},
		},
		"a value that matches the pattern only in part": {
			given:    given("album", "cats", "count", "1234"),
			wantErrs: []string{`spec.parameters[count]: Invalid value: "1234": must match [0-9]{1,3}`},
		},
		"a value with more than the pattern allows around it": {
			given:    given("album", "cats", "count", "12; rm -rf /"),
			wantErrs: []string{`spec.parameters[count]: Invalid value: "12; rm -rf /": must match [0-9]{1,3}`},
		},
		"each alternative of a pattern must match in full": {
			// Anchored without a group, ^a|ab$ would take any value that starts with a.
			template: &longtaskv1.LongTaskTemplateSpec{Parameters: []longtaskv1.Parameter{{Name: "mode", Pattern: "a|ab"}}},
			given:    given("mode", "ax"),
			wantErrs: []string{`spec.parameters[mode]: Invalid value: "ax": must match a|ab`},
		},
		"a value for a parameter the template does not have": {
			given:    given("album", "cats", "colour", "red"),
			wantErrs: []string{`spec.parameters[colour]: Not found: "colour"`},
		},
		"a pattern that is not a regular expression": {
			template: &longtaskv1.LongTaskTemplateSpec{Parameters: []longtaskv1.Parameter{{Name: "mode", Pattern: "("}}},
			given:    given("mode", "a"),
			wantErrs: []string{`spec.parameters[mode]: Internal error: the template's pattern "(" is not a regular expression`},
		},
		"every error is reported": {
			given: given("count", "many", "speed", "warp", "colour", "red"),
			wantErrs: []string{
				`spec.parameters[colour]: Not found`,
				`spec.parameters[count]: Invalid value: "many"`,
				`spec.parameters[speed]: Unsupported value: "warp"`,
				`spec.parameters[album]: Required value`,
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			template := tc.template
			if template == nil {
				template = photos()
			}
			got, errs := Values(template, tc.given)
			if len(errs) != len(tc.wantErrs) {
				t.Fatalf("Values returned %d errors, want %d: %v", len(errs), len(tc.wantErrs), errs)
			}
			for i, want := range tc.wantErrs {
				if !strings.HasPrefix(errs[i].Error(), want) {
					t.Errorf("error %d is %q, want it to start with %q", i, errs[i].Error(), want)
				}
			}
			if len(tc.wantErrs) > 0 {
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("values (-want,+got):\n%s", diff)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	resize := func() *longtaskv1.LongTaskTemplateSpec {
		return &longtaskv1.LongTaskTemplateSpec{
			Parameters: []longtaskv1.Parameter{
				{Name: "count", Default: ptr.To("20"), Pattern: `[0-9]{1,3}`},
				{Name: "album", Required: true},
			},
			Task: longtaskv1.TaskSpec{
				Image:   "resizer:1",
				Command: []string{"resize", "--count=$(params.count)"},
				Args:    []string{"$(params.album)/$(params.count)", "$(HOME)", "$(params.album"},
				Env: []corev1.EnvVar{
					{Name: "ALBUM", Value: "$(params.album)"},
					{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				},
				Total:                   ptr.To[int64](20),
				TimeoutSeconds:          ptr.To[int64](600),
				Retries:                 2,
				ProgressInterval:        &metav1.Duration{Duration: 5 * time.Second},
				ProgressDeadlineSeconds: ptr.To[int64](60),
				TTLSecondsAfterFinished: ptr.To[int32](3600),
			},
		}
	}
	withPodTemplate := &longtaskv1.LongTaskTemplateSpec{
		Parameters: []longtaskv1.Parameter{{Name: "album", Required: true}},
		Task: longtaskv1.TaskSpec{PodTemplate: &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			ServiceAccountName: "photos",
			Containers: []corev1.Container{
				{Name: "sidecar", Command: []string{"sync", "$(params.album)"}},
				{
					Name: longtaskv1.TaskContainerName, Command: []string{"resize", "$(params.album)"}, Args: []string{"--album=$(params.album)"},
					Env: []corev1.EnvVar{{Name: "ALBUM", Value: "$(params.album)"}},
				},
			},
		}}},
	}
	cases := map[string]struct {
		template *longtaskv1.LongTaskTemplateSpec
		task     longtaskv1.LongTaskSpec
		want     *longtaskv1.TaskSpec
		wantErr  []string
	}{
		"parameters fill in command, args and env values": {
			template: resize(),
			task:     longtaskv1.LongTaskSpec{Parameters: given("album", "cats")},
			want: func() *longtaskv1.TaskSpec {
				want := resize().Task
				want.Command = []string{"resize", "--count=20"}
				// Kubernetes' own $(VAR) and what is not a whole reference are left as they are.
				want.Args = []string{"cats/20", "$(HOME)", "$(params.album"}
				want.Env[0].Value = "cats"
				return &want
			}(),
		},
		"the task's own settings override the template's": {
			template: resize(),
			task: longtaskv1.LongTaskSpec{
				Parameters: given("album", "cats", "count", "5"),
				TaskSpec: longtaskv1.TaskSpec{
					Total:                   ptr.To[int64](5),
					TimeoutSeconds:          ptr.To[int64](60),
					Retries:                 4,
					ProgressInterval:        &metav1.Duration{Duration: time.Second},
					ProgressDeadlineSeconds: ptr.To[int64](30),
					TTLSecondsAfterFinished: ptr.To[int32](0),
				},
			},
			want: func() *longtaskv1.TaskSpec {
				want := resize().Task
				want.Command = []string{"resize", "--count=5"}
				want.Args = []string{"cats/5", "$(HOME)", "$(params.album"}
				want.Env[0].Value = "cats"
				want.Total, want.TimeoutSeconds, want.Retries = ptr.To[int64](5), ptr.To[int64](60), 4
				want.ProgressInterval = &metav1.Duration{Duration: time.Second}
				want.ProgressDeadlineSeconds, want.TTLSecondsAfterFinished = ptr.To[int64](30), ptr.To[int32](0)
				return &want
			}(),
		},
		"only the podTemplate's task container is filled in": {
			template: withPodTemplate,
			task:     longtaskv1.LongTaskSpec{Parameters: given("album", "cats")},
			want: func() *longtaskv1.TaskSpec {
				want := withPodTemplate.Task.DeepCopy()
				task := &want.PodTemplate.Spec.Containers[1]
				task.Command = []string{"resize", "cats"}
				task.Args = []string{"--album=cats"}
				task.Env[0].Value = "cats"
				return want
			}(),
		},
		// The kubelet expands $(VAR) in command, args and env values from the container's environment,
		// Secrets included, and reads $$ as $: a value is escaped so that it arrives as it was typed, while
		// the template's own $(HOME) is still the kubelet's to expand.
		"a value's $ is escaped, so that the kubelet passes it on as typed": {
			template: resize(),
			task:     longtaskv1.LongTaskSpec{Parameters: given("album", "$(API_KEY)", "count", "5")},
			want: func() *longtaskv1.TaskSpec {
				want := resize().Task
				want.Command = []string{"resize", "--count=5"}
				want.Args = []string{"$$(API_KEY)/5", "$(HOME)", "$(params.album"}
				want.Env[0].Value = "$$(API_KEY)"
				return &want
			}(),
		},
		"every $ of a value is escaped, $$ included": {
			template: resize(),
			task:     longtaskv1.LongTaskSpec{Parameters: given("album", "$$(HOME) costs $5 $")},
			want: func() *longtaskv1.TaskSpec {
				want := resize().Task
				want.Command = []string{"resize", "--count=20"}
				want.Args = []string{"$$$$(HOME) costs $$5 $$/20", "$(HOME)", "$(params.album"}
				want.Env[0].Value = "$$$$(HOME) costs $$5 $$"
				return &want
			}(),
		},
		"a value is escaped in the podTemplate's task container too": {
			template: withPodTemplate,
			task:     longtaskv1.LongTaskSpec{Parameters: given("album", "$(API_KEY)")},
			want: func() *longtaskv1.TaskSpec {
				want := withPodTemplate.Task.DeepCopy()
				task := &want.PodTemplate.Spec.Containers[1]
				task.Command = []string{"resize", "$$(API_KEY)"}
				task.Args = []string{"--album=$$(API_KEY)"}
				task.Env[0].Value = "$$(API_KEY)"
				return want
			}(),
		},
		"a value that looks like a reference to another parameter stays a value": {
			template: resize(),
			task:     longtaskv1.LongTaskSpec{Parameters: given("album", "$(params.count)")},
			want: func() *longtaskv1.TaskSpec {
				want := resize().Task
				want.Command = []string{"resize", "--count=20"}
				want.Args = []string{"$$(params.count)/20", "$(HOME)", "$(params.album"}
				want.Env[0].Value = "$$(params.count)"
				return &want
			}(),
		},
		"a value that does not fit names the parameter": {
			template: resize(),
			task:     longtaskv1.LongTaskSpec{Parameters: given("album", "cats", "count", "x")},
			wantErr:  []string{`spec.parameters[count]: Invalid value: "x": must match [0-9]{1,3}`},
		},
		"a missing required value names the parameter": {
			template: resize(),
			wantErr:  []string{"spec.parameters[album]: Required value"},
		},
		"a reference to a parameter the template does not declare": {
			template: func() *longtaskv1.LongTaskTemplateSpec {
				template := resize()
				template.Task.Args = []string{"$(params.colour)"}
				template.Task.Env[0].Value = "$(params.size)"
				return template
			}(),
			task: longtaskv1.LongTaskSpec{Parameters: given("album", "cats")},
			wantErr: []string{
				"the template is broken",
				`spec.task.args[0]: Invalid value: "$(params.colour)": refers to $(params.colour), which is not one of the template's parameters`,
				`spec.task.env[0].value: Invalid value: "$(params.size)"`,
			},
		},
		"an undeclared reference in the podTemplate's task container": {
			template: func() *longtaskv1.LongTaskTemplateSpec {
				template := withPodTemplate.DeepCopy()
				template.Task.PodTemplate.Spec.Containers[1].Args = []string{"$(params.colour)"}
				return template
			}(),
			task:    longtaskv1.LongTaskSpec{Parameters: given("album", "cats")},
			wantErr: []string{`spec.task.podTemplate.spec.containers[1].args[0]: Invalid value: "$(params.colour)"`},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			before := tc.template.DeepCopy()
			got, err := Resolve(tc.template, &tc.task)
			if diff := cmp.Diff(before, tc.template); diff != "" {
				t.Errorf("Resolve changed the template (-before,+after):\n%s", diff)
			}
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("Resolve returned %+v, want an error", got)
				}
				for _, want := range tc.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("Resolve's error %q does not say %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("resolved task (-want,+got):\n%s", diff)
			}
		})
	}
}
