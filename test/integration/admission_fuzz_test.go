package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/manager"
	"github.com/longtask-dev/longtask/internal/testing/schemafuzz"
)

// admissionFuzzSeedsEnv, when set to N, adds N random seeds to the kept ones.
const admissionFuzzSeedsEnv = "ADMISSION_FUZZ_SEEDS"

// admissionFuzzParallel is how many variants are sent to the API server at once.
const admissionFuzzParallel = 8

// TestAdmissionFuzzRefusesInvalidObjectsWithTheirFieldPath makes, from the CRDs' own schemas, objects
// that break one constraint each, and checks that the API server refuses every one and names the broken
// field, so that a user learns what to fix and the controller never sees an invalid object.
func TestAdmissionFuzzRefusesInvalidObjectsWithTheirFieldPath(t *testing.T) {
	t.Parallel()
	gen := admissionFuzzGenerator(t)
	seeds := admissionFuzzSeeds(t)
	ctx := context.Background()
	createNamespace, updateNamespace := fw.Namespace(t), fw.Namespace(t)
	// A manager, to show that nothing invalid reaches the controller: no Job comes of a refused task.
	fw.StartManager(t, manager.Options{WatchNamespaces: []string{createNamespace, updateNamespace}})
	stored := storeBases(t, updateNamespace, gen.Stored)

	refused := map[string]bool{} // by constraint key
	variants := 0
	for i, seed := range seeds {
		made, problems := gen.Generate(seed, func(n int) string { return fmt.Sprintf("fuzz-%d-%d", i, n) })
		variants += len(made)
		for _, p := range problems {
			t.Errorf("seed %d: cannot break %s: %v", seed, p.Constraint, p.Err)
		}
		failed := false
		for j, err := range sendVariants(ctx, made, createNamespace, updateNamespace) {
			v := made[j]
			if err != nil {
				failed = true
				t.Errorf("seed %d: %s %s %s from %s, breaking %s (%s): %v", seed, v.Operation, v.Kind,
					v.Object["metadata"].(map[string]any)["name"], v.Base, v.Constraint, v.Change, err)
				continue
			}
			refused[v.Constraint.Key] = true
		}
		if failed || len(problems) > 0 {
			t.Logf("seed %d failed: keep it in testdata/admission-seeds.txt", seed)
		}
	}
	t.Logf("%d seeds, %d variants, %d constraints", len(seeds), variants, len(gen.API.Constraints))

	var untested []*schemafuzz.Constraint
	for _, c := range gen.API.Constraints {
		if !refused[c.Key] {
			untested = append(untested, c)
		}
	}
	schemafuzz.Sort(untested)
	for _, c := range untested {
		t.Errorf("constraint never refused by the kept seeds: %s", c)
	}

	for _, list := range []client.ObjectList{&longtaskv1.LongTaskList{}, &longtaskv1.LongTaskTemplateList{}, &batchv1.JobList{}} {
		if err := fw.Client.List(ctx, list, client.InNamespace(createNamespace)); err != nil {
			t.Fatal(err)
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(items); n > 0 {
			t.Errorf("%d invalid objects of %T were stored", n, list)
		}
	}
	jobs := &batchv1.JobList{}
	if err := fw.Client.List(ctx, jobs, client.InNamespace(updateNamespace)); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) > 0 {
		t.Errorf("the controller started %d Jobs for the stored (cancelled) tasks", len(jobs.Items))
	}
	for _, want := range stored {
		got := want.DeepCopy()
		if err := fw.Client.Get(ctx, client.ObjectKeyFromObject(want), got); err != nil {
			t.Fatal(err)
		}
		if got.GetGeneration() != want.GetGeneration() {
			t.Errorf("%s %s: generation %d, want %d: an update of its spec was accepted", got.GetKind(), got.GetName(), got.GetGeneration(), want.GetGeneration())
		}
	}
}

// admissionFuzzGenerator makes variants from the CRDs, config/samples and the bases in testdata.
func admissionFuzzGenerator(t *testing.T) *schemafuzz.Generator {
	t.Helper()
	crds, err := filepath.Glob(fw.Path("config", "crd", "bases", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs: %v", err)
	}
	api, err := schemafuzz.Load(crds...)
	if err != nil {
		t.Fatal(err)
	}
	samples, err := filepath.Glob(fw.Path("config", "samples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	bases, err := schemafuzz.LoadBases(append(samples, filepath.Join("testdata", "admission-bases.yaml"))...)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := schemafuzz.LoadBases(filepath.Join("testdata", "admission-stored.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	breakers, err := schemafuzz.LoadBreakers(filepath.Join("testdata", "admission-rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return &schemafuzz.Generator{API: api, Bases: bases, Stored: stored, Breakers: breakers}
}

// admissionFuzzSeeds are the kept seeds, and as many random ones as ADMISSION_FUZZ_SEEDS says.
func admissionFuzzSeeds(t *testing.T) []int64 {
	t.Helper()
	file, err := os.Open(filepath.Join("testdata", "admission-seeds.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = file.Close() }() // only read
	var seeds []int64
	lines := bufio.NewScanner(file)
	for lines.Scan() {
		line := strings.TrimSpace(strings.SplitN(lines.Text(), "#", 2)[0])
		if line == "" {
			continue
		}
		seed, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			t.Fatalf("admission-seeds.txt: %v", err)
		}
		seeds = append(seeds, seed)
	}
	if env := os.Getenv(admissionFuzzSeedsEnv); env != "" {
		n, err := strconv.Atoi(env)
		if err != nil {
			t.Fatalf("%s=%q: %v", admissionFuzzSeedsEnv, env, err)
		}
		for range n {
			seeds = append(seeds, rand.Int63())
		}
	}
	return seeds
}

// storeBases creates the objects that update variants change, and writes their status, and returns them
// as stored.
func storeBases(t *testing.T, namespace string, bases map[string][]schemafuzz.Base) []*unstructured.Unstructured {
	t.Helper()
	var stored []*unstructured.Unstructured
	for _, kind := range []string{"LongTask", "LongTaskTemplate"} {
		for _, base := range bases[kind] {
			obj := (&unstructured.Unstructured{Object: base.Object}).DeepCopy()
			obj.SetNamespace(namespace)
			fw.Create(t, obj) // without its status, which only the status subresource writes
			if status, ok := base.Object["status"]; ok {
				patch, err := json.Marshal(map[string]any{"status": status})
				if err != nil {
					t.Fatal(err)
				}
				if err := fw.Client.Status().Patch(context.Background(), obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
					t.Fatalf("writing the status of %s: %v", obj.GetName(), err)
				}
			}
			stored = append(stored, obj)
		}
	}
	return stored
}

// sendVariants sends each variant to the API server and returns, for each, why it is wrong: accepted,
// refused for another reason, or refused without naming the broken field.
func sendVariants(ctx context.Context, variants []schemafuzz.Variant, createNamespace, updateNamespace string) []error {
	errs := make([]error, len(variants))
	work := make(chan int)
	var wg sync.WaitGroup
	for range admissionFuzzParallel {
		wg.Go(func() {
			for i := range work {
				errs[i] = checkRefusal(&variants[i], sendVariant(ctx, &variants[i], createNamespace, updateNamespace))
			}
		})
	}
	for i := range variants {
		work <- i
	}
	close(work)
	wg.Wait()
	return errs
}

// sendVariant creates the variant, or patches the stored object to it.
func sendVariant(ctx context.Context, v *schemafuzz.Variant, createNamespace, updateNamespace string) error {
	obj := (&unstructured.Unstructured{Object: v.Object}).DeepCopy()
	var opts []client.CreateOption
	var patchOpts []client.PatchOption
	if v.Strict {
		opts = append(opts, client.FieldValidation(metav1.FieldValidationStrict))
		patchOpts = append(patchOpts, client.FieldValidation(metav1.FieldValidationStrict))
	}
	switch v.Operation {
	case schemafuzz.Create:
		obj.SetNamespace(createNamespace)
		return fw.Client.Create(ctx, obj, opts...)
	case schemafuzz.Update, schemafuzz.UpdateStatus:
		field := "spec"
		if v.Operation == schemafuzz.UpdateStatus {
			field = "status"
		}
		patch, err := json.Marshal([]map[string]any{{"op": "add", "path": "/" + field, "value": v.Object[field]}})
		if err != nil {
			return err
		}
		obj.SetNamespace(updateNamespace)
		if v.Operation == schemafuzz.UpdateStatus {
			return fw.Client.Status().Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch), subResourcePatchOptions(v.Strict)...)
		}
		return fw.Client.Patch(ctx, obj, client.RawPatch(types.JSONPatchType, patch), patchOpts...)
	}
	return fmt.Errorf("unknown operation %q", v.Operation)
}

func subResourcePatchOptions(strict bool) []client.SubResourcePatchOption {
	if !strict {
		return nil
	}
	return []client.SubResourcePatchOption{&client.SubResourcePatchOptions{PatchOptions: client.PatchOptions{FieldValidation: metav1.FieldValidationStrict}}}
}

// refusedAtTheRoot are rules, by message, on the object's root that the API server reports without a
// field path ("<nil>"), and the field their message names instead. A rule on metadata.name can only sit at
// the root: its fieldPath cannot be .metadata.name (the CRD is refused: the root's metadata has no schema
// of its own), and controller-gen writes no markers on ObjectMeta.
var refusedAtTheRoot = map[string]string{
	"metadata.name must be no more than 63 characters: it names the task's Job": "metadata.name",
}

// checkRefusal says what is wrong with the API server's answer err to v: nil when it refused v as
// invalid, naming one of the field paths v accepts.
func checkRefusal(v *schemafuzz.Variant, err error) error {
	if err == nil {
		return errors.New("accepted")
	}
	var status apierrors.APIStatus
	if !errors.As(err, &status) || !(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)) {
		return fmt.Errorf("refused, but not as invalid: %w", err)
	}
	if v.Strict && strings.Contains(err.Error(), fmt.Sprintf("unknown field %q", v.Path)) {
		// Strict field validation reports unknown fields in the message only, not as causes.
		return nil
	}
	if name, ok := refusedAtTheRoot[v.Constraint.Detail]; ok && strings.Contains(err.Error(), name) {
		return nil
	}
	var fields []string
	if details := status.Status().Details; details != nil {
		for _, cause := range details.Causes {
			fields = append(fields, cause.Field)
		}
	}
	for _, field := range fields {
		for _, accept := range v.Accept {
			if field == accept || (strings.HasSuffix(accept, "*") && strings.HasPrefix(field, strings.TrimSuffix(accept, "*"))) {
				return nil
			}
		}
	}
	return fmt.Errorf("refused without naming %s (causes name %q): %w", strings.Join(v.Accept, " or "), fields, err)
}
