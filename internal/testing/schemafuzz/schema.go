// Package schemafuzz makes invalid objects of a custom resource from its CRD's own OpenAPI v3 schema: from a
// valid base object it breaks one constraint of the schema at a time (a type, a bound, a length, an enum, a
// pattern, a format, a required field, a list's uniqueness, an unknown field, a CEL rule), chosen by a
// seeded math/rand, and says which field path the API server should name when it refuses the object.
package schemafuzz

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// Kind is the kind of a constraint: what a variant breaks.
type Kind string

// The kinds of constraint the generator finds in a schema and knows how to break.
const (
	KindType      Kind = "type"
	KindMinimum   Kind = "minimum"
	KindMaximum   Kind = "maximum"
	KindMinLength Kind = "minLength"
	KindMaxLength Kind = "maxLength"
	KindMinItems  Kind = "minItems"
	KindMaxItems  Kind = "maxItems"
	KindEnum      Kind = "enum"
	KindPattern   Kind = "pattern"
	KindFormat    Kind = "format"
	KindRequired  Kind = "required"
	// KindUnique is x-kubernetes-list-type set or map: no two items (or keys) alike.
	KindUnique Kind = "unique"
	// KindUnknownField is an object without additionalProperties or x-kubernetes-preserve-unknown-fields.
	// The API server prunes unknown fields instead of refusing them, unless the request asks for strict
	// field validation (fieldValidation=Strict, kubectl's default), so variants of this kind ask for it.
	KindUnknownField Kind = "unknownField"
	// KindRule is a CEL rule (x-kubernetes-validations) on the object alone.
	KindRule Kind = "rule"
	// KindTransitionRule is a CEL rule that compares with oldSelf: only an update can break it.
	KindTransitionRule Kind = "transitionRule"
)

// enforcedFormats are the string formats the API server checks that the generator knows how to break.
// Integer formats (int32, int64) are not checked by the API server's schema validation, so they are no
// constraint here.
var enforcedFormats = map[string]string{
	"date-time": "yesterday",
	"byte":      "not base64!",
}

// Step is one step of a path in a schema: a property, an array's items, or a map's values.
type Step struct {
	// Property is the name of a property; empty for Items and Values.
	Property string
	// Items is a step into an array's items.
	Items bool
	// Values is a step into the values of a map (additionalProperties).
	Values bool
}

// Path is where a node sits in the schema.
type Path []Step

// String is the path as the API server writes field paths, with [*] for any item and [*] for any key.
func (p Path) String() string {
	var b strings.Builder
	for _, s := range p {
		switch {
		case s.Items, s.Values:
			b.WriteString("[*]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.Property)
		}
	}
	return b.String()
}

func (p Path) child(s Step) Path {
	return append(append(Path{}, p...), s)
}

// Constraint is one constraint of the schema. Constraints that sit in identical schemas as the same
// property of identical parents (the same field of the same Go type embedded twice, like a Container's
// name in containers and initContainers) are one constraint found in several places: breaking it in any
// of them exercises it. Every plain string is one type constraint, too. The same schema as another
// property, or within another parent, is another constraint: status.result and a condition's message are
// both strings of at most 32768 characters, but they are different fields that different writers set,
// and each one's limit must be seen refused.
type Constraint struct {
	Kind Kind
	// Detail says which constraint of its kind: the bound, the required property, the rule's message.
	Detail string
	// Key identifies the constraint: its kind, detail and the schema it sits in.
	Key string
	// Occurrences are where the constraint sits, shortest first.
	Occurrences []Occurrence

	schema *apiextensionsv1.JSONSchemaProps
	// rule is the CEL rule, for rule kinds.
	rule *apiextensionsv1.ValidationRule
}

// String names the constraint for people: kind, detail and where it first occurs.
func (c *Constraint) String() string {
	first := c.Occurrences[0]
	return fmt.Sprintf("%s %q at %s %s", c.Kind, c.Detail, first.Schema.Kind, first.Path)
}

// Occurrence is one place where a constraint sits.
type Occurrence struct {
	Schema *Schema
	Path   Path
}

// API is the schemas of several CRDs and the constraints found in them, each constraint once however many
// places and CRDs it sits in.
type API struct {
	Schemas []*Schema
	// Constraints are ordered by key.
	Constraints []*Constraint
}

// Load reads CRD manifests.
func Load(files ...string) (*API, error) {
	api := &API{}
	byKey := map[string]*Constraint{}
	for _, file := range files {
		s, err := LoadCRD(file)
		if err != nil {
			return nil, err
		}
		api.Schemas = append(api.Schemas, s)
		s.findConstraints(byKey)
	}
	for _, c := range byKey {
		sort.SliceStable(c.Occurrences, func(i, j int) bool {
			return len(c.Occurrences[i].Path) < len(c.Occurrences[j].Path)
		})
		api.Constraints = append(api.Constraints, c)
	}
	sort.Slice(api.Constraints, func(i, j int) bool { return api.Constraints[i].Key < api.Constraints[j].Key })
	return api, nil
}

// Schema returns the schema of kind, or nil.
func (a *API) Schema(kind string) *Schema {
	for _, s := range a.Schemas {
		if s.Kind == kind {
			return s
		}
	}
	return nil
}

// Schema is one version of a CRD's schema and the constraints found in it.
type Schema struct {
	// Kind is the resource's kind, e.g. LongTask.
	Kind string
	// APIVersion is group/version.
	APIVersion string
	// StatusSubresource says whether status is written through the status subresource.
	StatusSubresource bool
	root              *apiextensionsv1.JSONSchemaProps
}

// LoadCRD reads a CRD manifest and returns the schema of its only version.
func LoadCRD(file string) (*Schema, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.UnmarshalStrict(data, crd); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	if len(crd.Spec.Versions) != 1 || crd.Spec.Versions[0].Schema == nil {
		return nil, fmt.Errorf("%s: want one version with a schema, have %d versions", file, len(crd.Spec.Versions))
	}
	version := crd.Spec.Versions[0]
	s := &Schema{
		Kind:              crd.Spec.Names.Kind,
		APIVersion:        crd.Spec.Group + "/" + version.Name,
		StatusSubresource: version.Subresources != nil && version.Subresources.Status != nil,
		root:              version.Schema.OpenAPIV3Schema,
	}
	return s, nil
}

// findConstraints walks the schema and adds its constraints to byKey.
func (s *Schema) findConstraints(byKey map[string]*Constraint) {
	// parent is the fingerprint of the schema whose property, items or values node is; path ends with
	// which of them it is.
	add := func(kind Kind, detail string, node *apiextensionsv1.JSONSchemaProps, parent string, path Path, rule *apiextensionsv1.ValidationRule) {
		key := string(kind) + " " + detail + " " + fingerprint(node) + " at " + where(path) + " in " + parent
		if kind == KindType {
			// A type is checked alike wherever it is, so every string (and so on) is one constraint.
			key = string(kind) + " " + detail
		}
		c := byKey[key]
		if c == nil {
			c = &Constraint{Kind: kind, Detail: detail, Key: key, schema: node, rule: rule}
			byKey[key] = c
		}
		c.Occurrences = append(c.Occurrences, Occurrence{Schema: s, Path: path})
	}
	var walk func(node *apiextensionsv1.JSONSchemaProps, parent string, path Path)
	walk = func(node *apiextensionsv1.JSONSchemaProps, parent string, path Path) {
		// metadata, apiVersion and kind at the root are the API server's own, checked by it (and by the
		// decoding of the request) rather than by the schema.
		if len(path) == 1 && (path[0].Property == "metadata" || path[0].Property == "apiVersion" || path[0].Property == "kind") {
			return
		}
		if len(path) > 0 && (node.Type != "" || node.XIntOrString) {
			add(KindType, typeName(node), node, parent, path, nil)
		}
		if node.Minimum != nil {
			add(KindMinimum, fmt.Sprint(*node.Minimum), node, parent, path, nil)
		}
		if node.Maximum != nil {
			add(KindMaximum, fmt.Sprint(*node.Maximum), node, parent, path, nil)
		}
		if node.MinLength != nil && *node.MinLength > 0 {
			add(KindMinLength, fmt.Sprint(*node.MinLength), node, parent, path, nil)
		}
		if node.MaxLength != nil {
			add(KindMaxLength, fmt.Sprint(*node.MaxLength), node, parent, path, nil)
		}
		if node.MinItems != nil && *node.MinItems > 0 {
			add(KindMinItems, fmt.Sprint(*node.MinItems), node, parent, path, nil)
		}
		if node.MaxItems != nil {
			add(KindMaxItems, fmt.Sprint(*node.MaxItems), node, parent, path, nil)
		}
		if len(node.Enum) > 0 {
			add(KindEnum, fmt.Sprint(len(node.Enum), " values"), node, parent, path, nil)
		}
		if node.Pattern != "" {
			add(KindPattern, node.Pattern, node, parent, path, nil)
		}
		if _, ok := enforcedFormats[node.Format]; ok && node.Type == "string" {
			add(KindFormat, node.Format, node, parent, path, nil)
		}
		if listType := ptrString(node.XListType); listType == "set" || listType == "map" {
			add(KindUnique, "x-kubernetes-list-type="+listType, node, parent, path, nil)
		}
		if node.Type == "object" && len(node.Properties) > 0 && node.AdditionalProperties == nil &&
			!ptrBool(node.XPreserveUnknownFields) && len(path) > 0 {
			add(KindUnknownField, "", node, parent, path, nil)
		}
		for _, name := range node.Required {
			if len(path) == 0 {
				continue // spec and the like: a missing one is refused by the API server's decoding
			}
			add(KindRequired, name, node, parent, path, nil)
		}
		for i := range node.XValidations {
			rule := &node.XValidations[i]
			kind := KindRule
			if strings.Contains(rule.Rule, "oldSelf") {
				kind = KindTransitionRule
			}
			add(kind, ruleName(rule), node, parent, path, rule)
		}
		self := fingerprint(node)
		for _, name := range sortedKeys(node.Properties) {
			child := node.Properties[name]
			walk(&child, self, path.child(Step{Property: name}))
		}
		if node.Items != nil && node.Items.Schema != nil {
			walk(node.Items.Schema, self, path.child(Step{Items: true}))
		}
		if node.AdditionalProperties != nil && node.AdditionalProperties.Schema != nil {
			walk(node.AdditionalProperties.Schema, self, path.child(Step{Values: true}))
		}
	}
	walk(s.root, "", nil)
}

// where is the last step of path: the property (or items, or values) of its parent that the node is.
func where(path Path) string {
	if len(path) == 0 {
		return ""
	}
	return Path{path[len(path)-1]}.String()
}

// Lookup returns the schema of the node at path, or nil.
func (s *Schema) Lookup(path Path) *apiextensionsv1.JSONSchemaProps {
	node := s.root
	for _, step := range path {
		switch {
		case step.Items:
			if node.Items == nil || node.Items.Schema == nil {
				return nil
			}
			node = node.Items.Schema
		case step.Values:
			if node.AdditionalProperties == nil || node.AdditionalProperties.Schema == nil {
				return nil
			}
			node = node.AdditionalProperties.Schema
		default:
			child, ok := node.Properties[step.Property]
			if !ok {
				return nil
			}
			node = &child
		}
	}
	return node
}

// ruleName is how a rule is known: its message, or its text when it has none.
func ruleName(rule *apiextensionsv1.ValidationRule) string {
	if rule.Message != "" {
		return rule.Message
	}
	return rule.Rule
}

func typeName(node *apiextensionsv1.JSONSchemaProps) string {
	if node.XIntOrString {
		return "int-or-string"
	}
	return node.Type
}

// fingerprint identifies a schema by its content, descriptions left out.
func fingerprint(node *apiextensionsv1.JSONSchemaProps) string {
	data, err := json.Marshal(withoutDescriptions(*node))
	if err != nil {
		panic(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:6])
}

func withoutDescriptions(node apiextensionsv1.JSONSchemaProps) apiextensionsv1.JSONSchemaProps {
	node.Description = ""
	if node.Properties != nil {
		properties := make(map[string]apiextensionsv1.JSONSchemaProps, len(node.Properties))
		for name, child := range node.Properties {
			properties[name] = withoutDescriptions(child)
		}
		node.Properties = properties
	}
	if node.Items != nil && node.Items.Schema != nil {
		items := withoutDescriptions(*node.Items.Schema)
		node.Items = &apiextensionsv1.JSONSchemaPropsOrArray{Schema: &items}
	}
	if node.AdditionalProperties != nil && node.AdditionalProperties.Schema != nil {
		values := withoutDescriptions(*node.AdditionalProperties.Schema)
		node.AdditionalProperties = &apiextensionsv1.JSONSchemaPropsOrBool{Allows: true, Schema: &values}
	}
	return node
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func ptrBool(b *bool) bool { return b != nil && *b }
