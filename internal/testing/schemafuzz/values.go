package schemafuzz

import (
	"fmt"
	"math"
	"math/rand"
	"regexp"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// stringCandidates are tried, in order, for a string that matches (or does not match) a pattern.
var stringCandidates = []string{"a", "x1", "Ready", "task", "1", "0", "1Gi", "a.b/c", "A_b", "", "-", "!", "a b", "not valid!", "/", "\n"}

// validValue returns the smallest value the schema accepts: an object with its required properties, an
// array with minItems items, a string that fits its enum, pattern, format and lengths. It cannot satisfy
// a CEL rule: bases give the parts that must satisfy one.
func validValue(node *apiextensionsv1.JSONSchemaProps, r *rand.Rand) (any, error) {
	if len(node.Enum) > 0 {
		var v any
		if err := jsonUnmarshal(node.Enum[r.Intn(len(node.Enum))].Raw, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
	switch {
	case node.XIntOrString:
		return validString(node, "1")
	case node.Type == "object":
		obj := map[string]any{}
		for _, name := range node.Required {
			child := node.Properties[name]
			v, err := validValue(&child, r)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			obj[name] = v
		}
		return obj, nil
	case node.Type == "array":
		items := []any{}
		if node.MinItems != nil && node.Items != nil && node.Items.Schema != nil {
			for i := range int(*node.MinItems) {
				item, err := distinctItem(node, i, r)
				if err != nil {
					return nil, err
				}
				items = append(items, item)
			}
		}
		return items, nil
	case node.Type == "string":
		if node.Format == "date-time" {
			return "2026-01-02T03:04:05Z", nil
		}
		if node.Format == "byte" {
			return "YQ==", nil
		}
		return validString(node, "a")
	case node.Type == "integer", node.Type == "number":
		v := 1.0
		if node.Minimum != nil {
			v = math.Max(v, *node.Minimum+boolFloat(node.ExclusiveMinimum))
		}
		if node.Maximum != nil {
			v = math.Min(v, *node.Maximum-boolFloat(node.ExclusiveMaximum))
		}
		return int64(v), nil
	case node.Type == "boolean":
		return false, nil
	}
	return nil, fmt.Errorf("no valid value for type %q", node.Type)
}

// validString is a string that fits the node's pattern and lengths, preferring want.
func validString(node *apiextensionsv1.JSONSchemaProps, want string) (string, error) {
	for _, s := range append([]string{want}, stringCandidates...) {
		if node.MinLength != nil && int64(len(s)) < *node.MinLength {
			s += strings.Repeat("a", int(*node.MinLength)-len(s))
		}
		if fitsPattern(node, s) && fitsLength(node, s) {
			return s, nil
		}
	}
	return "", fmt.Errorf("no string fits pattern %q", node.Pattern)
}

// distinctItem is a valid item of an array that differs from the items made for other i: the keys of a
// list-type map and the values of a list-type set are i-th of their kind.
func distinctItem(array *apiextensionsv1.JSONSchemaProps, i int, r *rand.Rand) (any, error) {
	node := array.Items.Schema
	item, err := validValue(node, r)
	if err != nil {
		return nil, err
	}
	if obj, ok := item.(map[string]any); ok {
		for _, key := range array.XListMapKeys {
			keySchema := node.Properties[key]
			v, err := nthValue(&keySchema, i)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", key, err)
			}
			obj[key] = v
		}
		return obj, nil
	}
	if ptrString(array.XListType) == "set" || node.Type == "string" || node.Type == "integer" {
		return nthValue(node, i)
	}
	return item, nil
}

// nthValue is the i-th of distinct valid scalars of the node.
func nthValue(node *apiextensionsv1.JSONSchemaProps, i int) (any, error) {
	if len(node.Enum) > 0 {
		if i >= len(node.Enum) {
			return nil, fmt.Errorf("only %d values in the enum", len(node.Enum))
		}
		var v any
		return v, jsonUnmarshal(node.Enum[i].Raw, &v)
	}
	switch node.Type {
	case "integer", "number":
		v := int64(i + 1)
		if node.Minimum != nil {
			v += int64(*node.Minimum)
		}
		return v, nil
	case "string":
		return validString(node, fmt.Sprintf("k%d", i))
	}
	return nil, fmt.Errorf("no distinct values of type %q", node.Type)
}

// wrongType is a value of another JSON type than the node's.
func wrongType(node *apiextensionsv1.JSONSchemaProps, r *rand.Rand) any {
	var choices []any
	switch typeName(node) {
	case "string":
		choices = []any{int64(r.Intn(1000)), true, map[string]any{}, []any{"a"}}
	case "integer", "number":
		choices = []any{"12", true, map[string]any{}, 1.5}
	case "boolean":
		choices = []any{"true", int64(1), []any{}}
	case "object":
		choices = []any{"{}", int64(1), []any{map[string]any{}}}
	case "array":
		choices = []any{"a", int64(1), map[string]any{}}
	case "int-or-string":
		choices = []any{true, map[string]any{}, []any{"1"}}
	}
	return choices[r.Intn(len(choices))]
}

// notMatching is a string that does not match the node's pattern but fits its lengths.
func notMatching(node *apiextensionsv1.JSONSchemaProps, r *rand.Rand) (string, error) {
	candidates := append([]string{}, stringCandidates...)
	r.Shuffle(len(candidates), func(i, j int) { candidates[i], candidates[j] = candidates[j], candidates[i] })
	for _, s := range candidates {
		if !fitsPattern(node, s) && fitsLength(node, s) {
			return s, nil
		}
	}
	return "", fmt.Errorf("every candidate matches pattern %q", node.Pattern)
}

func fitsPattern(node *apiextensionsv1.JSONSchemaProps, s string) bool {
	if node.Pattern == "" {
		return true
	}
	return regexp.MustCompile(node.Pattern).MatchString(s)
}

func fitsLength(node *apiextensionsv1.JSONSchemaProps, s string) bool {
	return (node.MinLength == nil || int64(len(s)) >= *node.MinLength) &&
		(node.MaxLength == nil || int64(len(s)) <= *node.MaxLength)
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
