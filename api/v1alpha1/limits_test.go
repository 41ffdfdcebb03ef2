package v1alpha1

import (
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/longtask-dev/longtask/pkg/progress"
)

// statusSchema is the status's schema in the generated LongTask CRD, which the API server enforces.
func statusSchema(t *testing.T) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "longtask.dev_longtasks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(data, crd); err != nil {
		t.Fatal(err)
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"]
}

// maxLength is the maxLength of the string at path (property names from the status), or -1 without one.
func maxLength(status apiextensionsv1.JSONSchemaProps, path string) int64 {
	node := status
	for _, name := range strings.Split(path, ".") {
		if node.Items != nil && node.Items.Schema != nil {
			node = *node.Items.Schema
		}
		node = node.Properties[name]
	}
	if node.MaxLength == nil {
		return -1
	}
	return *node.MaxLength
}

// TestStatusMaxLengthsAreTheCaps holds the CRD's maxLength markers, which need literal numbers, to the
// constants the worker and the controller cut their writes with: a marker below its cap would make the
// API server refuse what they write, one above it would let a program writing directly store more.
func TestStatusMaxLengthsAreTheCaps(t *testing.T) {
	status := statusSchema(t)
	conditionReason, conditionMessage := maxLength(status, "conditions.reason"), maxLength(status, "conditions.message")
	if conditionReason < 0 || conditionMessage < 0 {
		t.Fatalf("the conditions' reason and message have no maxLength (%d, %d): metav1.Condition has them", conditionReason, conditionMessage)
	}
	cases := map[string]int64{
		"result":                    MaxResultBytes,
		"checkpoint":                progress.MaxCheckpointBytes,
		"progress.message":          MaxProgressMessageBytes,
		"progress.summary":          MaxProgressFigureBytes,
		"progress.rate":             MaxProgressFigureBytes,
		"progress.remaining":        MaxProgressFigureBytes,
		"effectiveProgressInterval": MaxProgressFigureBytes,
		"failure.output":            MaxOutputBytes,
		// The failure's reason and message become the Failed condition's.
		"failure.reason":  conditionReason,
		"failure.message": conditionMessage,
		// The Job is named after the task, a DNS label.
		"jobName": int64(validation.DNS1123LabelMaxLength),
	}
	for path, want := range cases {
		if got := maxLength(status, path); got != want {
			t.Errorf("status.%s: maxLength %d in the CRD, want %d", path, got, want)
		}
	}
}

// TestEveryStatusStringHasAMaxLength makes sure that a string added to the status later gets a cap too:
// a task's program holds a token that may write its task's status. The conditions have metav1.Condition's
// own limits. resolvedTask has no schema of its own: only the controller can write it (the CRD's rule on
// it, TestAProgramCannotForgeTheResolvedTask).
func TestEveryStatusStringHasAMaxLength(t *testing.T) {
	var uncapped []string
	var walk func(node apiextensionsv1.JSONSchemaProps, path string)
	walk = func(node apiextensionsv1.JSONSchemaProps, path string) {
		if path == "status.conditions" {
			return
		}
		if node.Type == "string" && node.MaxLength == nil && len(node.Enum) == 0 && node.Format != "date-time" {
			uncapped = append(uncapped, path)
		}
		for name, child := range node.Properties {
			walk(child, path+"."+name)
		}
		if node.Items != nil && node.Items.Schema != nil {
			walk(*node.Items.Schema, path+"[*]")
		}
	}
	walk(statusSchema(t), "status")
	sort.Strings(uncapped)
	for _, path := range uncapped {
		t.Errorf("%s is a string without maxLength", path)
	}
}

// TestTheLongestFiguresFitTheirCap checks MaxProgressFigureBytes against the longest summary and duration
// the formatting can make; the worker's rate and remaining are checked in its tests.
func TestTheLongestFiguresFitTheirCap(t *testing.T) {
	for _, figure := range []string{
		Summary(math.MaxInt64, math.MaxInt64),
		Summary(math.MinInt64, math.MaxInt64),
		// metav1.Duration is written as time.Duration's String.
		time.Duration(math.MinInt64).String(),
	} {
		if len(figure) > MaxProgressFigureBytes {
			t.Errorf("%q is %d bytes, over MaxProgressFigureBytes (%d)", figure, len(figure), MaxProgressFigureBytes)
		}
	}
}
