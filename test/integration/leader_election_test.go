package integration

import (
	"testing"

	"github.com/onsi/gomega"

	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
	"github.com/longtask-dev/longtask/test/integration/framework"
)

// Two managers with --leader-elect, as two replicas run: one is elected and runs the tasks, with the Role
// generated for the namespace it is installed in; when it stops, the other takes over (once the Lease
// expires: 15 s) and runs the next task.
func TestOneOfTwoManagersLeadsAndTheOtherTakesOver(t *testing.T) {
	ns := fw.Namespace(t)
	// The test's namespace stands for the one the managers are installed in, where their Lease is.
	fw.GrantManagerInstallRole(t, ns)
	opts := manager.Options{WatchNamespaces: []string{ns}, LeaderElection: true, LeaderElectionNamespace: ns}
	managers := []*framework.Manager{fw.StartManager(t, opts), fw.StartManager(t, opts)}
	elected := func() []int {
		var which []int
		for i, m := range managers {
			select {
			case <-m.Elected():
				which = append(which, i)
			default:
			}
		}
		return which
	}
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(elected()).To(gomega.HaveLen(1), "the managers elected")
	})
	leader := elected()[0]
	first := testutil.MakeLongTask("first", ns).Obj()
	fw.Create(t, first)
	fw.WaitForJob(t, first)
	gomega.NewWithT(t).Expect(elected()).To(gomega.Equal([]int{leader}), "the managers elected")

	managers[leader].Stop()
	framework.Eventually(t, func(g gomega.Gomega) {
		g.Expect(elected()).To(gomega.ContainElement(1-leader), "the managers elected")
	})
	second := testutil.MakeLongTask("second", ns).Obj()
	fw.Create(t, second)
	fw.WaitForJob(t, second)
}
