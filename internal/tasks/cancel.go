package tasks

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// cancelPatch sets spec.cancel and nothing else: the API server's validation only lets cancel go from
// false to true, so the patch can do nothing else to a spec.
var cancelPatch = client.RawPatch(types.MergePatchType, []byte(`{"spec":{"cancel":true}}`))

// Cancel sets the task's spec.cancel with a merge patch, as kubectl patch would, with c and as
// fieldOwner. A finished task is left alone, so that its spec does not claim a cancel that never
// happened: Cancel returns it with cancelled false.
func Cancel(ctx context.Context, c client.Client, key client.ObjectKey, fieldOwner string) (task *longtaskv1.LongTask, cancelled bool, err error) {
	task = &longtaskv1.LongTask{}
	if err := c.Get(ctx, key, task); err != nil {
		return nil, false, fmt.Errorf("reading longtask %q in namespace %q: %w", key.Name, key.Namespace, err)
	}
	if task.Status.Phase.Finished() {
		return task, false, nil
	}
	if err := c.Patch(ctx, task, cancelPatch, client.FieldOwner(fieldOwner)); err != nil {
		return nil, false, fmt.Errorf("cancelling longtask %q in namespace %q: %w", key.Name, key.Namespace, err)
	}
	return task, true, nil
}
