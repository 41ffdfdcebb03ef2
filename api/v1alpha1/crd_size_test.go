package v1alpha1

import (
	"os"
	"path/filepath"
	"testing"
)

// maxCRDBytes is the budget of each generated CRD file. The API server refuses a request over 1.5 MiB, so a
// CRD past it cannot be installed at all; the budget leaves room for the fields still to come. An embedded
// Kubernetes type (the pod template is 600 KB of schema) is written out in full wherever it is used: one
// used twice takes the CRD over budget.
const maxCRDBytes = 700 * 1000

// TestGeneratedCRDsFitTheirBudget holds every generated CRD, in config/ and in the chart, to maxCRDBytes.
func TestGeneratedCRDsFitTheirBudget(t *testing.T) {
	var files []string
	for _, dir := range []string{"config/crd/bases", "charts/longtask/crds"} {
		found, err := filepath.Glob(filepath.Join("..", "..", dir, "*.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if len(found) == 0 {
			t.Fatalf("no CRDs in %s", dir)
		}
		files = append(files, found...)
	}
	for _, file := range files {
		info, err := os.Stat(file)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() > maxCRDBytes {
			t.Errorf("%s is %d bytes, over the %d-byte budget of a CRD: is an embedded type's schema written out twice? "+
				"Keep one copy validated and mark the other +kubebuilder:validation:Schemaless", file, info.Size(), maxCRDBytes)
		}
	}
}
