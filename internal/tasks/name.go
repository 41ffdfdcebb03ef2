package tasks

import (
	"regexp"
	"strings"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasktemplate"
)

// FromTemplate is the LongTask that runs the template with the given values, named after the template by
// the API server (generateName NamePrefix(template)).
func FromTemplate(t *longtaskv1.LongTaskTemplate, given []longtaskv1.ParameterValue) *longtaskv1.LongTask {
	task := tasktemplate.NewTask(t, given)
	task.GenerateName = NamePrefix(t.Name)
	return task
}

var notInName = regexp.MustCompile(`[^a-z0-9-]+`)

// NamePrefix is a generateName made from what a task runs, a template or a command: "resize-photos-",
// "sleep-". The name it makes is a DNS label, dots and all else turned into dashes, as Kubernetes advises
// for a pod's name: the task's name is its Job's, which begins its pods' names, and so their hostnames. A
// task's name is at most 63 characters and generateName adds 5.
func NamePrefix(runs string) string {
	prefix := notInName.ReplaceAllString(strings.ToLower(runs), "-")
	prefix = strings.Trim(prefix[:min(len(prefix), 57)], "-")
	if prefix == "" {
		prefix = "task"
	}
	return prefix + "-"
}
