package schemafuzz

import (
	"fmt"
	"math/rand"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

// mapKey is a key of a map (additionalProperties) in a location, as opposed to a property.
type mapKey string

// breaker changes one object, a location being a list of property names (string), map keys (mapKey)
// and item indexes (int).
type breaker struct {
	r      *rand.Rand
	schema *Schema
	obj    map[string]any
}

// reach makes sure the object has path, adding the smallest valid values where it has not, and returns
// where it is, picking an item or key at random where path goes through an array or a map.
func (b *breaker) reach(path Path) ([]any, *apiextensionsv1.JSONSchemaProps, error) {
	node := b.schema.root
	loc := []any{}
	for _, step := range path {
		current := b.get(loc)
		switch {
		case step.Items:
			node = node.Items.Schema
			items, ok := current.([]any)
			if !ok {
				return nil, nil, fmt.Errorf("%s is a %T, not an array", render(loc), current)
			}
			if len(items) == 0 {
				item, err := validValue(node, b.r)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: %w", render(loc), err)
				}
				items = []any{item}
				b.set(loc, items)
			}
			loc = append(loc, b.r.Intn(len(items)))
		case step.Values:
			node = node.AdditionalProperties.Schema
			m, ok := current.(map[string]any)
			if !ok {
				return nil, nil, fmt.Errorf("%s is a %T, not a map", render(loc), current)
			}
			if len(m) == 0 {
				value, err := validValue(node, b.r)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: %w", render(loc), err)
				}
				m["fuzz"] = value
			}
			keys := sortedKeys(m)
			loc = append(loc, mapKey(keys[b.r.Intn(len(keys))]))
		default:
			child, ok := node.Properties[step.Property]
			if !ok {
				return nil, nil, fmt.Errorf("%s has no property %s", render(loc), step.Property)
			}
			node = &child
			m, ok := current.(map[string]any)
			if !ok {
				return nil, nil, fmt.Errorf("%s is a %T, not an object", render(loc), current)
			}
			if m[step.Property] == nil {
				value, err := validValue(node, b.r)
				if err != nil {
					return nil, nil, fmt.Errorf("%s: %w", render(append(loc, step.Property)), err)
				}
				m[step.Property] = value
			}
			loc = append(loc, step.Property)
		}
	}
	return loc, node, nil
}

// get returns the value at loc, or nil.
func (b *breaker) get(loc []any) any {
	var v any = b.obj
	for _, l := range loc {
		switch l := l.(type) {
		case int:
			items, _ := v.([]any)
			if l >= len(items) {
				return nil
			}
			v = items[l]
		case mapKey:
			m, _ := v.(map[string]any)
			v = m[string(l)]
		case string:
			m, _ := v.(map[string]any)
			v = m[l]
		}
	}
	return v
}

// set replaces the value at loc, whose parent must exist.
func (b *breaker) set(loc []any, value any) {
	parent := b.get(loc[:len(loc)-1])
	switch l := loc[len(loc)-1].(type) {
	case int:
		parent.([]any)[l] = value
	case mapKey:
		parent.(map[string]any)[string(l)] = value
	case string:
		parent.(map[string]any)[l] = value
	}
}

// remove deletes the value at loc: a property or key, or an item.
func (b *breaker) remove(loc []any) {
	parent := b.get(loc[:len(loc)-1])
	switch l := loc[len(loc)-1].(type) {
	case int:
		items := parent.([]any)
		b.set(loc[:len(loc)-1], append(items[:l:l], items[l+1:]...))
	case mapKey:
		delete(parent.(map[string]any), string(l))
	case string:
		delete(parent.(map[string]any), l)
	}
}

// change removes the value at loc or changes it to another value of its type, as an update that a
// rule keeping the field as it was must refuse.
func (b *breaker) change(loc []any, node *apiextensionsv1.JSONSchemaProps, v *Variant) error {
	if b.r.Intn(2) == 0 {
		b.remove(loc)
		v.Change = "removed"
		return nil
	}
	before := short(b.get(loc))
	if err := b.mutate(loc, node); err != nil {
		return err
	}
	v.Change = fmt.Sprintf("changed %s to %s", before, short(b.get(loc)))
	return nil
}

// mutate changes a scalar at loc, or one scalar somewhere under it.
func (b *breaker) mutate(loc []any, node *apiextensionsv1.JSONSchemaProps) error {
	switch value := b.get(loc).(type) {
	case string:
		b.set(loc, value+"x")
	case bool:
		b.set(loc, !value)
	case float64, int64:
		n := toFloat(value)
		if node.Maximum != nil && n+1 > *node.Maximum {
			n -= 2
		}
		b.set(loc, int64(n+1))
	case []any:
		if len(value) == 0 {
			return fmt.Errorf("%s: an empty array", render(loc))
		}
		i := b.r.Intn(len(value))
		items := &apiextensionsv1.JSONSchemaProps{} // under x-kubernetes-preserve-unknown-fields
		if node.Items != nil && node.Items.Schema != nil {
			items = node.Items.Schema
		}
		return b.mutate(append(loc, i), items)
	case map[string]any:
		keys := sortedKeys(value)
		if len(keys) == 0 {
			return fmt.Errorf("%s: an empty object", render(loc))
		}
		key := keys[b.r.Intn(len(keys))]
		if node.AdditionalProperties != nil && node.AdditionalProperties.Schema != nil {
			return b.mutate(append(loc, mapKey(key)), node.AdditionalProperties.Schema)
		}
		child := node.Properties[key]
		return b.mutate(append(loc, key), &child)
	default:
		return fmt.Errorf("%s: cannot change a %T", render(loc), value)
	}
	return nil
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	return 0
}
