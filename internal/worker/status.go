package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// StatusWriter merge-patches the worker's own status fields, progress, result and checkpoint, and nothing
// else. Every response carries the LongTask, and with it the write interval the controller asks for,
// which is handed to follow: no watch is needed to follow it. It is the worker's whole write path to the
// API server, which make bench times too.
func StatusWriter(c client.Client, key types.NamespacedName, follow func(*longtaskv1.LongTask)) WriteFunc {
	return func(ctx context.Context, snap Snapshot) error {
		body, err := statusPatch(snap)
		if err != nil {
			return err
		}
		task := &longtaskv1.LongTask{}
		task.Name, task.Namespace = key.Name, key.Namespace
		if err := c.Status().Patch(ctx, task, client.RawPatch(types.MergePatchType, body), client.FieldOwner(longtaskv1.WorkerFieldOwner)); err != nil {
			return err
		}
		follow(task)
		return nil
	}
}

// statusPatch is the merge patch of the worker's status fields. The worker owns progress whole, so the
// optional fields it left empty (omitted from its JSON) are sent as null: a merge patch would otherwise
// keep their old values, such as the rate of an earlier attempt.
func statusPatch(snap Snapshot) ([]byte, error) {
	status := map[string]any{}
	if snap.Progress != nil {
		data, err := json.Marshal(snap.Progress)
		if err != nil {
			return nil, err
		}
		// As json.Numbers, not float64s, which would round step counts past 2^53.
		decoder := json.NewDecoder(bytes.NewReader(data))
		decoder.UseNumber()
		progress := map[string]any{}
		if err := decoder.Decode(&progress); err != nil {
			return nil, err
		}
		for _, field := range progressFields {
			if _, ok := progress[field]; !ok {
				progress[field] = nil
			}
		}
		status["progress"] = progress
	}
	if snap.Result != nil {
		status["result"] = *snap.Result
	}
	if snap.Checkpoint != nil {
		status["checkpoint"] = *snap.Checkpoint
	}
	return json.Marshal(map[string]any{"status": status})
}

// progressFields are the JSON names of Progress's fields, read from the type so that a field added to it
// is nulled like the others when the worker leaves it empty.
var progressFields = jsonFieldNames(reflect.TypeFor[longtaskv1.Progress]())

// jsonFieldNames lists the names encoding/json gives the fields of the struct type t.
func jsonFieldNames(t reflect.Type) []string {
	var names []string
	for field := range t.Fields() {
		name, _, _ := strings.Cut(field.Tag.Get("json"), ",")
		switch {
		case !field.IsExported() || name == "-":
			continue
		case field.Anonymous && name == "" && field.Type.Kind() == reflect.Struct:
			names = append(names, jsonFieldNames(field.Type)...)
		case name == "":
			names = append(names, field.Name)
		default:
			names = append(names, name)
		}
	}
	return names
}
