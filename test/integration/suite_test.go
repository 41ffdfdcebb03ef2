// Package integration tests the controller and the worker against a real kube-apiserver and etcd, built
// by hack/build-controlplane.sh. envtest runs no Job controller, so tests set Job status themselves, as
// the Job controller would.
package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/yaml"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/controllers"
	"github.com/longtask-dev/longtask/internal/localcluster"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

const (
	timeout  = 30 * time.Second
	interval = 50 * time.Millisecond

	workerImage = "longtask-worker:integration"
)

var (
	scheme     = runtime.NewScheme()
	restConfig *rest.Config
	// k8sClient talks to the API server directly, never through the manager's cache.
	k8sClient client.WithWatch
	// kubeconfig is an admin kubeconfig file, for kubectl and the worker binary.
	kubeconfig string
	// managerConfig authenticates as the manager: a user with the manager's generated ClusterRole only.
	managerConfig *rest.Config
	// uiConfig authenticates as the UI: a user with the UI's generated ClusterRole only.
	uiConfig *rest.Config
	// writeBudget is the manager's progress write budget; unlimited unless a test sets it.
	writeBudget *controllers.WriteBudget
	// metricsURL is the manager's metrics endpoint: HTTPS, for tokens that may get /metrics, as deployed.
	metricsURL string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		fmt.Fprintln(os.Stderr, "integration tests need KUBEBUILDER_ASSETS pointing at etcd and kube-apiserver: run `make test`")
		return 1
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, longtaskv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}

	testEnv := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	if restConfig, err = testEnv.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "starting the control plane: %v\n", err)
		return 1
	}
	defer func() { _ = testEnv.Stop() }()

	if k8sClient, err = client.NewWithWatch(restConfig, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintf(os.Stderr, "creating a client: %v\n", err)
		return 1
	}
	if err := installAdmissionPolicies(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "installing the admission policies: %v\n", err)
		return 1
	}
	admin, err := testEnv.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, restConfig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "adding an admin user: %v\n", err)
		return 1
	}
	kubeconfigBytes, err := admin.KubeConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "writing a kubeconfig: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "longtask-integration-")
	if err != nil {
		panic(err)
	}
	defer func() { _ = os.RemoveAll(dir) }() // a temporary directory; the outcome is already decided
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kubeconfigBytes, 0o600); err != nil {
		panic(err)
	}

	if managerConfig, err = managerIdentity(testEnv); err != nil {
		fmt.Fprintf(os.Stderr, "giving the manager its RBAC: %v\n", err)
		return 1
	}
	if uiConfig, err = identity(testEnv, filepath.Join("..", "..", "config", "ui", "rbac", "role.yaml"), "longtask-ui"); err != nil {
		fmt.Fprintf(os.Stderr, "giving the UI its RBAC: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := startManager(ctx, managerConfig); err != nil {
		fmt.Fprintf(os.Stderr, "starting the manager: %v\n", err)
		return 1
	}
	return m.Run()
}

// managerIdentity returns the config of a user that has the manager's ClusterRole, as generated into
// config/rbac from the markers, and nothing else: the tests see what the deployed manager may and may not
// do (an admin would pass RBAC's escalation checks, for one, where the manager does not).
func managerIdentity(env *envtest.Environment) (*rest.Config, error) {
	return identity(env, filepath.Join("..", "..", "config", "rbac", "role.yaml"), "longtask-manager")
}

// identity is a user, named after the ClusterRole that the first object of roleFile is, bound to that role
// and to nothing else.
func identity(env *envtest.Environment, roleFile, roleName string) (*rest.Config, error) {
	data, err := os.ReadFile(roleFile)
	if err != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal([]byte(strings.Split(string(data), "\n---")[0]), role); err != nil {
		return nil, err
	}
	if role.Kind != "ClusterRole" || role.Name != roleName {
		return nil, fmt.Errorf("the first object of %s is %s %s, want the ClusterRole %s", roleFile, role.Kind, role.Name, roleName)
	}
	user := roleName
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: roleName + "-integration"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
	}
	for _, obj := range []client.Object{role, binding} {
		if err := k8sClient.Create(context.Background(), obj); err != nil {
			return nil, err
		}
	}
	manager, err := env.AddUser(envtest.User{Name: user}, restConfig)
	if err != nil {
		return nil, err
	}
	return manager.Config(), nil
}

// startManager runs the LongTask controller as cmd/manager does, with config's identity.
func startManager(ctx context.Context, config *rest.Config) error {
	ports, err := localcluster.FreePorts(1)
	if err != nil {
		return err
	}
	metricsAddress := fmt.Sprintf("127.0.0.1:%d", ports[0])
	metricsURL = "https://" + metricsAddress + "/metrics"
	mgr, err := ctrl.NewManager(config, ctrl.Options{
		Scheme:                 scheme,
		Cache:                  controllers.CacheOptions(),
		Metrics:                controllers.MetricsServerOptions(metricsAddress, true, ""),
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		return err
	}
	reconciler := controllers.NewLongTaskReconciler(mgr, controllers.JobOptions{WorkerImage: workerImage}, 0)
	writeBudget = reconciler.Budget
	if err := reconciler.SetupWithManager(mgr, 4); err != nil {
		return err
	}
	go func() {
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "manager stopped: %v\n", err)
			os.Exit(1)
		}
	}()
	return nil
}

// binaries are the commands the tests build once per run, by package, to run them as users and pods do.
var binaries sync.Map

// buildBinary builds the command of pkg, named name, once per test run, and returns its path.
func buildBinary(t *testing.T, name, pkg string) string {
	t.Helper()
	build, _ := binaries.LoadOrStore(pkg, sync.OnceValues(func() (string, error) {
		dir, err := os.MkdirTemp("", name+"-")
		if err != nil {
			return "", err
		}
		path := filepath.Join(dir, name)
		if out, err := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); err != nil {
			return "", fmt.Errorf("%w: %s", err, out)
		}
		return path, nil
	}))
	path, err := build.(func() (string, error))()
	if err != nil {
		t.Fatalf("building %s: %v", pkg, err)
	}
	return path
}

// newNamespace creates a namespace of the test's own.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "longtask-test-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() { _ = k8sClient.Delete(context.Background(), ns) })
	return ns.Name
}

// create creates obj, failing the test on error.
func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k8sClient.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// waitForJob waits for the controller to create the task's Job and returns it.
func waitForJob(t *testing.T, task *longtaskv1.LongTask) *batchv1.Job {
	t.Helper()
	job := &batchv1.Job{}
	gomega.NewWithT(t).Eventually(func() error {
		return k8sClient.Get(context.Background(), client.ObjectKeyFromObject(task), job)
	}, timeout, interval).Should(gomega.Succeed(), "the controller did not create the Job")
	return job
}

// startTask creates a task and marks its Job's pod started and ready, as the Job controller and the
// kubelet would, and returns the Job and when it started.
func startTask(t *testing.T, task *longtaskv1.LongTask) (*batchv1.Job, time.Time) {
	t.Helper()
	create(t, task)
	job := waitForJob(t, task)
	start := time.Now()
	setJobStatus(t, testutil.FromJob(job).Started(start).Ready().Obj())
	return job, start
}

// setJobStatus replaces the Job's status, as the Job controller would.
func setJobStatus(t *testing.T, job *batchv1.Job) {
	t.Helper()
	gomega.NewWithT(t).Eventually(func() error {
		current := &batchv1.Job{}
		if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(job), current); err != nil {
			return err
		}
		current.Status = job.Status
		return k8sClient.Status().Update(context.Background(), current)
	}, timeout, interval).Should(gomega.Succeed())
}

// eventuallyTask waits until check passes on the LongTask as the API server has it.
func eventuallyTask(t *testing.T, task *longtaskv1.LongTask, check func(g gomega.Gomega, task *longtaskv1.LongTask)) *longtaskv1.LongTask {
	t.Helper()
	got := &longtaskv1.LongTask{}
	gomega.NewWithT(t).Eventually(func(g gomega.Gomega) {
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(task), got)).To(gomega.Succeed())
		check(g, got)
	}, timeout, interval).Should(gomega.Succeed())
	return got
}
