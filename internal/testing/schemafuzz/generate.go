package schemafuzz

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// Operation is how a variant is sent to the API server.
type Operation string

// The operations of variants.
const (
	// Create creates the variant.
	Create Operation = "create"
	// Update changes the spec of a stored base to the variant's.
	Update Operation = "update"
	// UpdateStatus changes the status of a stored base to the variant's, through the status subresource.
	UpdateStatus Operation = "updateStatus"
)

// Base is a valid object that variants are made from.
type Base struct {
	// Name says where the base came from, for messages.
	Name   string
	Object map[string]any
}

// Variant is an object that breaks one constraint.
type Variant struct {
	Constraint *Constraint
	// Kind is the resource's kind.
	Kind      string
	Operation Operation
	// Base is the base the variant was made from; for updates, the stored object it changes (its
	// metadata.name is the variant's).
	Base string
	// Object is the whole object to send; for updates, the object as it would be after the update.
	Object map[string]any
	// Path is where the constraint was broken.
	Path string
	// Accept are the field paths the API server's refusal may name: Path, or for a missing required
	// field also its parent. A path ending in "*" accepts any path under it.
	Accept []string
	// Strict says to ask for strict field validation (fieldValidation=Strict), as kubectl does.
	Strict bool
	// Change says what was done, for people.
	Change string
}

// RuleBreaker says how to break a CEL rule that is not a transition rule: a CEL expression can say
// anything, so the schema alone does not tell how to break it.
type RuleBreaker struct {
	// Message is the rule's message (or its text when it has none).
	Message string `json:"message"`
	// Choices are ways to break it; one is picked at random.
	Choices []Change `json:"choices"`
}

// Change is applied to the node a rule is on: Set replaces it, Merge is a JSON merge patch on it.
type Change struct {
	Set   any            `json:"set,omitempty"`
	Merge map[string]any `json:"merge,omitempty"`
}

// Generator makes variants.
type Generator struct {
	API *API
	// Bases are valid objects, by kind, that created variants are made from.
	Bases map[string][]Base
	// Stored are valid objects, by kind, that are stored before update variants change them. They should
	// give the fields that transition rules protect; their status is written after they are created.
	Stored map[string][]Base
	// Breakers say how to break the CEL rules.
	Breakers []RuleBreaker
}

// LoadBases reads the objects of the YAML files (several in a file, separated by ---), by kind.
func LoadBases(files ...string) (map[string][]Base, error) {
	bases := map[string][]Base{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		for i, doc := range strings.Split(string(data), "\n---") {
			obj := map[string]any{}
			if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			kind, _ := obj["kind"].(string)
			if kind == "" {
				continue
			}
			bases[kind] = append(bases[kind], Base{Name: fmt.Sprintf("%s#%d", filepath.Base(file), i), Object: obj})
		}
	}
	return bases, nil
}

// LoadBreakers reads rule breakers from a YAML file.
func LoadBreakers(file string) ([]RuleBreaker, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var breakers []RuleBreaker
	if err := yaml.UnmarshalStrict(data, &breakers); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return breakers, nil
}

// Problem is a constraint the generator could not break, and why.
type Problem struct {
	Constraint *Constraint
	Err        error
}

// attempts is how many occurrences of a constraint are tried before it is given up as unbreakable.
const attempts = 8

// Generate makes one variant for every constraint, in an order, at an occurrence and with values picked
// by seed. Created variants are named name(i), i counting from 0.
func (g *Generator) Generate(seed int64, name func(i int) string) ([]Variant, []Problem) {
	r := rand.New(rand.NewSource(seed))
	var variants []Variant
	var problems []Problem
	for _, i := range r.Perm(len(g.API.Constraints)) {
		c := g.API.Constraints[i]
		var err error
		for attempt := 0; attempt < attempts; attempt++ {
			occurrence := c.Occurrences[r.Intn(len(c.Occurrences))]
			var v *Variant
			if v, err = g.variant(r, c, occurrence, name(len(variants))); err == nil {
				variants = append(variants, *v)
				break
			}
			err = fmt.Errorf("at %s %s: %w", occurrence.Schema.Kind, occurrence.Path, err)
		}
		if err != nil {
			problems = append(problems, Problem{Constraint: c, Err: err})
		}
	}
	return variants, problems
}

// variant breaks c at occurrence.
func (g *Generator) variant(r *rand.Rand, c *Constraint, at Occurrence, name string) (*Variant, error) {
	s := at.Schema
	op := Create
	target := at.Path // what the base should have
	if c.Kind == KindTransitionRule {
		op = Update
		field, err := fieldPathSteps(c.rule.FieldPath)
		if err != nil {
			return nil, err
		}
		target = append(append(Path{}, at.Path...), field...)
	}
	// A rule that keeps a status field as it was, even one on the root, is broken by writing the status.
	if len(target) > 0 && target[0].Property == "status" && s.StatusSubresource {
		op = UpdateStatus
	}
	pool := g.Bases[s.Kind]
	if op != Create {
		pool = g.Stored[s.Kind]
	}
	base, err := pickBase(r, pool, target)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", op, s.Kind, err)
	}
	obj := deepCopy(base.Object).(map[string]any)
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	delete(meta, "namespace")
	if op == Create {
		meta["name"] = name
	}
	v := &Variant{Constraint: c, Kind: s.Kind, Operation: op, Base: base.Name, Object: obj}
	b := &breaker{r: r, schema: s, obj: obj}
	loc, node, err := b.reach(at.Path)
	if err != nil {
		return nil, fmt.Errorf("reaching %s in %s: %w", at.Path, base.Name, err)
	}
	v.Path = render(loc)
	v.Accept = []string{v.Path}
	if err := g.breakAt(b, c, v, loc, node); err != nil {
		return nil, err
	}
	return v, nil
}

// breakAt breaks c at loc, whose schema is node.
func (g *Generator) breakAt(b *breaker, c *Constraint, v *Variant, loc []any, node *apiextensionsv1.JSONSchemaProps) error {
	r := b.r
	set := func(value any, change string) {
		b.set(loc, value)
		v.Change = fmt.Sprintf("%s: %s", change, short(value))
	}
	switch c.Kind {
	case KindType:
		set(wrongType(node, r), "not a "+typeName(node))
	case KindMinimum:
		below := *node.Minimum - float64(r.Intn(3))
		if !node.ExclusiveMinimum {
			below--
		}
		set(int64(below), fmt.Sprintf("below minimum %v", *node.Minimum))
	case KindMaximum:
		above := *node.Maximum + float64(r.Intn(3))
		if !node.ExclusiveMaximum {
			above++
		}
		set(int64(above), fmt.Sprintf("above maximum %v", *node.Maximum))
	case KindMinLength:
		set(strings.Repeat("a", r.Intn(int(*node.MinLength))), fmt.Sprintf("shorter than %d", *node.MinLength))
	case KindMaxLength:
		set(strings.Repeat("a", int(*node.MaxLength)+1+r.Intn(3)), fmt.Sprintf("longer than %d", *node.MaxLength))
	case KindMinItems:
		items, _ := b.get(loc).([]any)
		set(items[:min(len(items), r.Intn(int(*node.MinItems)))], fmt.Sprintf("fewer than %d items", *node.MinItems))
	case KindMaxItems:
		items := []any{}
		for i := 0; i <= int(*node.MaxItems)+r.Intn(2); i++ {
			item, err := distinctItem(node, i, r)
			if err != nil {
				return err
			}
			items = append(items, item)
		}
		b.set(loc, items)
		v.Change = fmt.Sprintf("%d items, more than %d", len(items), *node.MaxItems)
	case KindEnum:
		set("NotInTheEnum", "not in the enum")
	case KindPattern:
		s, err := notMatching(node, r)
		if err != nil {
			return err
		}
		set(s, "not matching "+node.Pattern)
	case KindFormat:
		set(enforcedFormats[node.Format], "not a "+node.Format)
	case KindRequired:
		obj := b.get(loc).(map[string]any)
		child := node.Properties[c.Detail]
		if child.Default != nil {
			return fmt.Errorf("required %s has a default", c.Detail)
		}
		delete(obj, c.Detail)
		v.Accept = []string{render(append(loc, c.Detail)), v.Path}
		v.Path = render(append(loc, c.Detail))
		v.Change = "missing required " + c.Detail
	case KindUnique:
		items, _ := b.get(loc).([]any)
		if len(items) == 0 {
			item, err := distinctItem(node, 0, r)
			if err != nil {
				return err
			}
			items = []any{item}
		}
		items = append(items, deepCopy(items[r.Intn(len(items))]))
		b.set(loc, items)
		v.Accept = []string{v.Path + "*"}
		v.Change = "an item twice"
	case KindUnknownField:
		field := fmt.Sprintf("fuzzUnknown%d", r.Intn(100))
		b.get(loc).(map[string]any)[field] = "x"
		v.Path = render(append(loc, field))
		v.Accept = []string{v.Path}
		v.Strict = true
		v.Change = "unknown field " + field
	case KindRule:
		return g.breakRule(b, c, v, loc)
	case KindTransitionRule:
		field, _ := fieldPathSteps(c.rule.FieldPath)
		path := pathOf(loc, field)
		existed := existingPrefix(b.obj, path) == len(path)
		fieldLoc, fieldNode, err := b.reach(path)
		if err != nil {
			return err
		}
		v.Path = render(fieldLoc)
		v.Accept = []string{v.Path}
		if !existed {
			v.Change = "added " + short(b.get(fieldLoc))
			return nil
		}
		return b.change(fieldLoc, fieldNode, v)
	default:
		return fmt.Errorf("no way to break a %s", c.Kind)
	}
	return nil
}

// breakRule breaks a CEL rule as its breaker says.
func (g *Generator) breakRule(b *breaker, c *Constraint, v *Variant, loc []any) error {
	var found *RuleBreaker
	for i := range g.Breakers {
		if g.Breakers[i].Message == c.Detail {
			found = &g.Breakers[i]
		}
	}
	if found == nil || len(found.Choices) == 0 {
		return fmt.Errorf("no breaker for rule %q", c.Detail)
	}
	change := found.Choices[b.r.Intn(len(found.Choices))]
	switch {
	case change.Merge != nil:
		current, ok := b.get(loc).(map[string]any)
		if !ok {
			return fmt.Errorf("merge on a %T", b.get(loc))
		}
		mergePatch(current, deepCopy(change.Merge).(map[string]any))
		v.Change = "merged " + short(change.Merge)
	default:
		b.set(loc, deepCopy(change.Set))
		v.Change = "set " + short(change.Set)
	}
	if c.rule.FieldPath != "" {
		v.Path += c.rule.FieldPath
		if len(loc) == 0 {
			v.Path = strings.TrimPrefix(v.Path, ".")
		}
	}
	v.Accept = []string{v.Path}
	return nil
}

// pickBase picks, among the bases that have most of path already, one at random.
func pickBase(r *rand.Rand, bases []Base, path Path) (Base, error) {
	if len(bases) == 0 {
		return Base{}, fmt.Errorf("no base")
	}
	best, picked := -1, []Base{}
	for _, base := range bases {
		n := existingPrefix(base.Object, path)
		switch {
		case n > best:
			best, picked = n, []Base{base}
		case n == best:
			picked = append(picked, base)
		}
	}
	return picked[r.Intn(len(picked))], nil
}

// existingPrefix is how many steps of path obj already has.
func existingPrefix(obj any, path Path) int {
	for i, step := range path {
		switch {
		case step.Items:
			items, _ := obj.([]any)
			if len(items) == 0 {
				return i
			}
			obj = items[0]
		case step.Values:
			m, _ := obj.(map[string]any)
			if len(m) == 0 {
				return i
			}
			obj = m[sortedKeys(m)[0]]
		default:
			m, _ := obj.(map[string]any)
			child, ok := m[step.Property]
			if !ok || child == nil {
				return i
			}
			obj = child
		}
	}
	return len(path)
}

// fieldPathSteps parses a rule's fieldPath: properties only, like .spec.command.
func fieldPathSteps(fieldPath string) (Path, error) {
	if fieldPath == "" {
		return nil, fmt.Errorf("a transition rule without fieldPath: cannot tell which field to change")
	}
	var path Path
	for _, name := range strings.Split(strings.TrimPrefix(fieldPath, "."), ".") {
		if name == "" || strings.ContainsAny(name, "[]'") {
			return nil, fmt.Errorf("fieldPath %q: only .a.b paths are supported", fieldPath)
		}
		path = append(path, Step{Property: name})
	}
	return path, nil
}

// pathOf turns a concrete location back into schema steps, then adds more.
func pathOf(loc []any, more Path) Path {
	var path Path
	for _, l := range loc {
		switch l := l.(type) {
		case int:
			path = append(path, Step{Items: true})
		case mapKey:
			path = append(path, Step{Values: true})
		case string:
			path = append(path, Step{Property: l})
		}
	}
	return append(path, more...)
}

// render writes a location as the API server writes field paths: spec.env[0].name, spec.resources.limits.cpu.
func render(loc []any) string {
	var b strings.Builder
	for _, l := range loc {
		switch l := l.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", l)
		case mapKey, string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			fmt.Fprint(&b, l)
		}
	}
	return b.String()
}

// short is a value for people, cut to a line.
func short(v any) string {
	data, _ := json.Marshal(v)
	if len(data) > 60 {
		return fmt.Sprintf("%s... (%d bytes)", data[:60], len(data))
	}
	return string(data)
}

func deepCopy(v any) any {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(data, &out); err != nil {
		panic(err)
	}
	return out
}

func jsonUnmarshal(data []byte, v any) error { return json.Unmarshal(data, v) }

// mergePatch applies a JSON merge patch (RFC 7386) to obj.
func mergePatch(obj, patch map[string]any) {
	for _, k := range sortedKeys(patch) {
		value := patch[k]
		switch value := value.(type) {
		case nil:
			delete(obj, k)
		case map[string]any:
			current, ok := obj[k].(map[string]any)
			if !ok {
				current = map[string]any{}
				obj[k] = current
			}
			mergePatch(current, value)
		default:
			obj[k] = value
		}
	}
}

// Sort orders constraints for people: by kind, then where they first occur.
func Sort(cs []*Constraint) {
	sort.Slice(cs, func(i, j int) bool { return cs[i].String() < cs[j].String() })
}
