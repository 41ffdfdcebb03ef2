// Package tasktemplate fills in a LongTaskTemplate's parameters: the controller does it for a LongTask
// that names a template, and the UI checks a form's values the same way before it creates one.
package tasktemplate

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// reference is $(params.NAME) in a template's command, args and env values: the places where the kubelet
// expands $(VAR) too, which is why a value is escaped when it is filled in (escapeExpansion).
var reference = regexp.MustCompile(`\$\(params\.([A-Za-z_][A-Za-z0-9_-]*)\)`)

// parametersPath is where a task's parameter values are, for error messages.
var parametersPath = field.NewPath("spec", "parameters")

// Values checks the values given for a template's parameters and returns the value of each of them:
// given, or its default. Each error names the parameter.
func Values(template *longtaskv1.LongTaskTemplateSpec, given []longtaskv1.ParameterValue) (map[string]string, field.ErrorList) {
	var errs field.ErrorList
	values := map[string]string{}
	for _, v := range given {
		if !slices.ContainsFunc(template.Parameters, func(p longtaskv1.Parameter) bool { return p.Name == v.Name }) {
			errs = append(errs, field.NotFound(parametersPath.Key(v.Name), v.Name))
			continue
		}
		values[v.Name] = v.Value
	}
	for _, p := range template.Parameters {
		path := parametersPath.Key(p.Name)
		value, ok := values[p.Name]
		switch {
		case !ok && p.Required:
			errs = append(errs, field.Required(path, "the template needs a value for "+p.Name))
			continue
		case !ok && p.Default != nil:
			value = *p.Default
		}
		values[p.Name] = value
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, value) {
			errs = append(errs, field.NotSupported(path, value, p.Enum))
			continue
		}
		if p.Pattern == "" {
			continue
		}
		pattern, err := regexp.Compile(`^(?:` + p.Pattern + `)$`)
		if err != nil {
			errs = append(errs, field.InternalError(path, fmt.Errorf("the template's pattern %q is not a regular expression: %w", p.Pattern, err)))
		} else if !pattern.MatchString(value) {
			errs = append(errs, field.Invalid(path, value, "must match "+p.Pattern))
		}
	}
	return values, errs
}

// Resolve returns what a task that names the template runs: the template's task with the parameters filled
// in, each value escaped so that the kubelet passes it on literally, and the task's own overrides applied.
func Resolve(template *longtaskv1.LongTaskTemplateSpec, task *longtaskv1.LongTaskSpec) (*longtaskv1.TaskSpec, error) {
	values, errs := Values(template, task.Parameters)
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	resolved := template.Task.DeepCopy()
	taskPath := field.NewPath("spec", "task")
	errs = append(errs, fill(resolved.Command, taskPath.Child("command"), values)...)
	errs = append(errs, fill(resolved.Args, taskPath.Child("args"), values)...)
	errs = append(errs, fillEnv(resolved.Env, taskPath.Child("env"), values)...)
	if resolved.PodTemplate != nil {
		containers := taskPath.Child("podTemplate", "spec", "containers")
		for i := range resolved.PodTemplate.Spec.Containers {
			c := &resolved.PodTemplate.Spec.Containers[i]
			if c.Name != longtaskv1.TaskContainerName {
				continue
			}
			errs = append(errs, fill(c.Command, containers.Index(i).Child("command"), values)...)
			errs = append(errs, fill(c.Args, containers.Index(i).Child("args"), values)...)
			errs = append(errs, fillEnv(c.Env, containers.Index(i).Child("env"), values)...)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("the template is broken: %w", errs.ToAggregate())
	}
	override(resolved, &task.TaskSpec)
	return resolved, nil
}

// override applies what a task that names a template sets itself.
func override(resolved, own *longtaskv1.TaskSpec) {
	if own.Total != nil {
		resolved.Total = own.Total
	}
	if own.TimeoutSeconds != nil {
		resolved.TimeoutSeconds = own.TimeoutSeconds
	}
	if own.Retries > 0 {
		resolved.Retries = own.Retries
	}
	if own.ProgressInterval != nil {
		resolved.ProgressInterval = own.ProgressInterval
	}
	if own.ProgressDeadlineSeconds != nil {
		resolved.ProgressDeadlineSeconds = own.ProgressDeadlineSeconds
	}
	if own.TTLSecondsAfterFinished != nil {
		resolved.TTLSecondsAfterFinished = own.TTLSecondsAfterFinished
	}
}

// fill replaces the references in each string; a reference to a parameter the template does not declare
// is an error in the template.
func fill(strs []string, path *field.Path, values map[string]string) field.ErrorList {
	var errs field.ErrorList
	for i := range strs {
		strs[i] = replace(strs[i], path.Index(i), values, &errs)
	}
	return errs
}

func fillEnv(env []corev1.EnvVar, path *field.Path, values map[string]string) field.ErrorList {
	var errs field.ErrorList
	for i := range env {
		env[i].Value = replace(env[i].Value, path.Index(i).Child("value"), values, &errs)
	}
	return errs
}

func replace(s string, path *field.Path, values map[string]string, errs *field.ErrorList) string {
	return reference.ReplaceAllStringFunc(s, func(ref string) string {
		name := reference.FindStringSubmatch(ref)[1]
		value, ok := values[name]
		if !ok {
			*errs = append(*errs, field.Invalid(path, s, "refers to "+ref+", which is not one of the template's parameters"))
			return ref
		}
		return escapeExpansion(value)
	})
}

// escapeExpansion doubles each $ of a parameter's value. The kubelet expands $(VAR) in command, args and
// env values from the container's environment, Secrets included, and reads $$ as one $: escaped, a value
// such as $(API_KEY) reaches the program as it was typed, never as the key. The template's own text is
// the template author's and is not escaped: its $(HOME) is still expanded.
func escapeExpansion(value string) string {
	return strings.ReplaceAll(value, "$", "$$")
}
