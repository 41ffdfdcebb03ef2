//go:build e2e

package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// The operator every test here runs on was installed by `helm install` of charts/longtask, as a user
// installs it, and Helm knows it as a deployed release.
func TestOperatorIsInstalledByHelm(t *testing.T) {
	out, err := exec.Command(helmBin(), "list", "--namespace", "longtask-system", "-o", "json").CombinedOutput()
	if err != nil {
		t.Fatalf("helm list: %v\n%s", err, out)
	}
	var releases []struct{ Name, Status, Chart string }
	if err := json.Unmarshal(out, &releases); err != nil {
		t.Fatalf("helm list -o json: %v\n%s", err, out)
	}
	if len(releases) != 1 || releases[0].Name != "longtask" || releases[0].Status != "deployed" || !strings.HasPrefix(releases[0].Chart, "longtask-") {
		t.Errorf("helm list in longtask-system: %+v; want the release longtask of the chart longtask, deployed", releases)
	}
	deployments := kubectl(t, "longtask-system", "get", "deployments", "-l", "app.kubernetes.io/managed-by=Helm,app.kubernetes.io/instance=longtask", "-o", "name")
	if got, want := strings.Fields(deployments), []string{"deployment.apps/longtask-manager", "deployment.apps/longtask-ui"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Helm's Deployments %v, want %v", got, want)
	}
}
