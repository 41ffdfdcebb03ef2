package tasktemplate

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// NewTask is the LongTask, not yet named, that runs the template with the given values: its values in
// spec.parameters, and labelled with the template's name (when the name is a valid label value), so that
// the UI's filter, `kubectl longtask watch -l` and `kubectl get -l` find the tasks a template started.
func NewTask(t *longtaskv1.LongTaskTemplate, given []longtaskv1.ParameterValue) *longtaskv1.LongTask {
	task := &longtaskv1.LongTask{
		ObjectMeta: metav1.ObjectMeta{Namespace: t.Namespace},
		Spec: longtaskv1.LongTaskSpec{
			TemplateRef: &longtaskv1.TemplateRef{Name: t.Name},
			Parameters:  given,
		},
	}
	if len(validation.IsValidLabelValue(t.Name)) == 0 {
		task.Labels = map[string]string{longtaskv1.LabelTemplate: t.Name}
	}
	return task
}
