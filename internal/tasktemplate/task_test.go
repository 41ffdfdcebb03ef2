package tasktemplate

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

func TestNewTask(t *testing.T) {
	given := []longtaskv1.ParameterValue{{Name: "count", Value: "5"}}
	long := strings.Repeat("a", 64) // a valid object name, too long for a label value
	for name, wantLabels := range map[string]map[string]string{
		"resize-photos": {longtaskv1.LabelTemplate: "resize-photos"},
		long:            nil,
	} {
		template := &longtaskv1.LongTaskTemplate{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "photos"}}
		want := &longtaskv1.LongTask{
			ObjectMeta: metav1.ObjectMeta{Namespace: "photos", Labels: wantLabels},
			Spec:       longtaskv1.LongTaskSpec{TemplateRef: &longtaskv1.TemplateRef{Name: name}, Parameters: given},
		}
		if diff := cmp.Diff(want, NewTask(template, given)); diff != "" {
			t.Errorf("NewTask of template %q (-want,+got):\n%s", name, diff)
		}
	}
}
