package schemafuzz

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func testGenerator(t *testing.T) *Generator {
	t.Helper()
	root := filepath.Join("..", "..", "..")
	crds, _ := filepath.Glob(filepath.Join(root, "config", "crd", "bases", "*.yaml"))
	api, err := Load(crds...)
	if err != nil {
		t.Fatal(err)
	}
	samples, _ := filepath.Glob(filepath.Join(root, "config", "samples", "*.yaml"))
	testdata := filepath.Join(root, "test", "integration", "testdata")
	bases, err := LoadBases(append(samples, filepath.Join(testdata, "admission-bases.yaml"))...)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := LoadBases(filepath.Join(testdata, "admission-stored.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	breakers, err := LoadBreakers(filepath.Join(testdata, "admission-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return &Generator{API: api, Bases: bases, Stored: stored, Breakers: breakers}
}

func TestLoadFindsTheMarkersOfTheAPI(t *testing.T) {
	gen := testGenerator(t)
	found := map[string]bool{}
	for _, c := range gen.API.Constraints {
		for _, o := range c.Occurrences {
			found[fmt.Sprintf("%s %s %s %s", o.Schema.Kind, o.Path, c.Kind, c.Detail)] = true
		}
	}
	for _, want := range []string{
		"LongTask spec.retries maximum 100",
		"LongTask spec.retries minimum 0",
		"LongTask spec.command minItems 1",
		"LongTask spec.command rule command[0] must name a program",
		"LongTask spec transitionRule retries is immutable",
		"LongTask  transitionRule status.resolvedTask is written once, by the controller, for a task with a templateRef: it cannot be changed or removed, nor set on a task without one",
		"LongTask status.phase enum 5 values",
		"LongTask spec.podTemplate.spec.containers[*] required name",
		"LongTaskTemplate spec.parameters[*].name pattern ^[A-Za-z_][A-Za-z0-9_-]*$",
		"LongTaskTemplate spec.parameters unique x-kubernetes-list-type=map",
		"LongTaskTemplate spec.task.progressInterval rule progressInterval must be between 100ms and 1h",
	} {
		if !found[want] {
			t.Errorf("constraint not found: %s", want)
		}
	}
}

// sameSchemasCRD has one schema, a string of at most 10 characters, in five places: a Container's name in
// containers and in initContainers (the same field of one type), two fields of the spec, and a field of
// the status.
const sameSchemasCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: things.example.com
spec:
  group: example.com
  names: {kind: Thing, plural: things}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              image: {type: string, maxLength: 10}
              tag: {type: string, maxLength: 10}
              containers: {type: array, items: {type: object, properties: {name: {type: string, maxLength: 10}}}}
              initContainers: {type: array, items: {type: object, properties: {name: {type: string, maxLength: 10}}}}
          status:
            type: object
            properties:
              result: {type: string, maxLength: 10}
`

func TestTheSameSchemaInAnotherParentIsAnotherConstraint(t *testing.T) {
	file := filepath.Join(t.TempDir(), "crd.yaml")
	if err := os.WriteFile(file, []byte(sameSchemasCRD), 0o600); err != nil {
		t.Fatal(err)
	}
	api, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	var got [][]string
	for _, c := range api.Constraints {
		if c.Kind != KindMaxLength {
			continue
		}
		var paths []string
		for _, o := range c.Occurrences {
			paths = append(paths, o.Path.String())
		}
		sort.Strings(paths)
		got = append(got, paths)
	}
	sort.Slice(got, func(i, j int) bool { return got[i][0] < got[j][0] })
	want := [][]string{
		{"spec.containers[*].name", "spec.initContainers[*].name"},
		{"spec.image"},
		{"spec.tag"},
		{"status.result"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("maxLength constraints by their occurrences (-want,+got):\n%s", diff)
	}
}

func TestGenerateBreaksEveryConstraintTheSameWayForASeed(t *testing.T) {
	gen := testGenerator(t)
	name := func(i int) string { return fmt.Sprint("v", i) }
	first, problems := gen.Generate(7, name)
	for _, p := range problems {
		t.Errorf("cannot break %s: %v", p.Constraint, p.Err)
	}
	if len(first)+len(problems) != len(gen.API.Constraints) {
		t.Errorf("%d variants and %d problems for %d constraints", len(first), len(problems), len(gen.API.Constraints))
	}
	again, _ := gen.Generate(7, name)
	if !reflect.DeepEqual(first, again) {
		t.Error("the same seed made other variants")
	}
	other, _ := gen.Generate(8, name)
	if reflect.DeepEqual(first, other) {
		t.Error("another seed made the same variants")
	}
}

func TestVariantsBreakWhatTheySay(t *testing.T) {
	gen := testGenerator(t)
	variants, _ := gen.Generate(1, func(i int) string { return fmt.Sprint("v", i) })
	for _, v := range variants {
		b := &breaker{obj: v.Object}
		switch v.Constraint.Kind {
		case KindMaximum:
			if got := toFloat(b.get(parseLoc(v.Path))); got <= *v.Constraint.schema.Maximum {
				t.Errorf("%s: %v is not above %v", v.Path, got, *v.Constraint.schema.Maximum)
			}
		case KindRequired:
			parent := strings.TrimSuffix(v.Path, "."+v.Constraint.Detail)
			if obj, ok := b.get(parseLoc(parent)).(map[string]any); !ok || obj[v.Constraint.Detail] != nil {
				t.Errorf("%s: still there, or no parent: %v", v.Path, b.get(parseLoc(parent)))
			}
		case KindUnknownField:
			if !v.Strict {
				t.Errorf("%s: an unknown field sent without strict field validation is pruned, not refused", v.Path)
			}
		case KindTransitionRule:
			if v.Operation != Update && !(v.Operation == UpdateStatus && strings.HasPrefix(v.Path, "status")) {
				t.Errorf("%s: a transition rule broken by %s", v.Path, v.Operation)
			}
		}
		if strings.HasPrefix(v.Path, "status") && v.Kind == "LongTask" && v.Operation != UpdateStatus {
			t.Errorf("%s: status is only written through the status subresource, not by %s", v.Path, v.Operation)
		}
	}
}

// parseLoc reads a rendered location back, for paths without map keys or dots in keys.
func parseLoc(path string) []any {
	var loc []any
	for _, part := range strings.Split(path, ".") {
		name, rest, _ := strings.Cut(part, "[")
		loc = append(loc, name)
		if rest != "" {
			var i int
			if _, err := fmt.Sscanf(rest, "%d]", &i); err != nil {
				// A location this cannot read would point the test at the wrong value.
				panic(fmt.Sprintf("parseLoc(%q): %v", path, err))
			}
			loc = append(loc, i)
		}
	}
	return loc
}
