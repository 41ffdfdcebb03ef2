package framework

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// Eventually retries check until it passes, for Timeout; the failure says what check last found, and
// explain, when given, what was awaited.
func Eventually(t *testing.T, check func(g gomega.Gomega), explain ...any) {
	t.Helper()
	gomega.NewWithT(t).Eventually(check, Timeout, Interval).Should(gomega.Succeed(), explain...)
}

// Namespace creates a namespace of the test's own, deleted when the test ends.
func (f *Framework) Namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "longtask-test-"}}
	if err := f.Client.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() { _ = f.Client.Delete(context.Background(), ns) })
	return ns.Name
}

// ManagedNamespace is a namespace of the test's own with a manager of its own watching it, started with
// opts.
func (f *Framework) ManagedNamespace(t *testing.T, opts manager.Options) string {
	t.Helper()
	ns := f.Namespace(t)
	opts.WatchNamespaces = []string{ns}
	f.StartManager(t, opts)
	return ns
}

// Create creates obj, failing the test on error.
func (f *Framework) Create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := f.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// EventuallyTask waits until check passes on the LongTask as the API server has it, and returns it.
func (f *Framework) EventuallyTask(t *testing.T, task *longtaskv1.LongTask, check func(g gomega.Gomega, task *longtaskv1.LongTask)) *longtaskv1.LongTask {
	t.Helper()
	got := &longtaskv1.LongTask{}
	Eventually(t, func(g gomega.Gomega) {
		g.Expect(f.Client.Get(context.Background(), client.ObjectKeyFromObject(task), got)).To(gomega.Succeed())
		check(g, got)
	})
	return got
}

// WaitForJob waits for the controller to create the task's Job and returns it.
func (f *Framework) WaitForJob(t *testing.T, task *longtaskv1.LongTask) *batchv1.Job {
	t.Helper()
	job := &batchv1.Job{}
	Eventually(t, func(g gomega.Gomega) {
		g.Expect(f.Client.Get(context.Background(), client.ObjectKeyFromObject(task), job)).To(gomega.Succeed())
	}, "the controller did not create the Job")
	return job
}

// StartTask creates a task and marks its Job's pod started and ready, as the Job controller and the
// kubelet would, and returns the Job and when it started.
func (f *Framework) StartTask(t *testing.T, task *longtaskv1.LongTask) (*batchv1.Job, time.Time) {
	t.Helper()
	f.Create(t, task)
	job := f.WaitForJob(t, task)
	start := time.Now()
	f.SetJobStatus(t, testutil.FromJob(job).Started(start).Ready().Obj())
	return job, start
}

// SetJobStatus replaces the Job's status, as the Job controller would.
func (f *Framework) SetJobStatus(t *testing.T, job *batchv1.Job) {
	t.Helper()
	Eventually(t, func(g gomega.Gomega) {
		current := &batchv1.Job{}
		g.Expect(f.Client.Get(context.Background(), client.ObjectKeyFromObject(job), current)).To(gomega.Succeed())
		current.Status = job.Status
		g.Expect(f.Client.Status().Update(context.Background(), current)).To(gomega.Succeed())
	})
}

// CreatePod creates pod with the status it was built with, as the kubelet would set it after it ran.
func (f *Framework) CreatePod(t *testing.T, pod *corev1.Pod) {
	t.Helper()
	status := pod.Status
	f.Create(t, pod) // creating a pod drops its status
	pod.Status = status
	if err := f.Client.Status().Update(context.Background(), pod); err != nil {
		t.Fatalf("setting the pod's status: %v", err)
	}
}

// Token returns a token of the ServiceAccount name in namespace, as `kubectl create token` would. It makes
// the account unless it exists (a task's worker account exists once its Job does), and, when rules are
// given, a Role of the account's name with those rules, bound to it.
func (f *Framework) Token(t *testing.T, namespace, name string, rules ...rbacv1.PolicyRule) string {
	t.Helper()
	ctx := context.Background()
	objects := []client.Object{&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}}}
	if len(rules) > 0 {
		objects = append(objects,
			&rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace}, Rules: rules},
			&rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}},
			})
	}
	for _, obj := range objects {
		if err := f.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatalf("creating %T %s: %v", obj, name, err)
		}
	}
	request := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}
	if err := f.Client.SubResource("token").Create(ctx, objects[0], request); err != nil {
		t.Fatalf("creating a token of %s: %v", name, err)
	}
	return request.Status.Token
}

// ConfigWithToken is the API server's config with token as its only credential.
func (f *Framework) ConfigWithToken(token string) *rest.Config {
	config := rest.AnonymousClientConfig(f.Config)
	config.BearerToken = token
	return config
}

// ClientWithToken is a client that authenticates with token only.
func (f *Framework) ClientWithToken(t *testing.T, token string) client.Client {
	t.Helper()
	c, err := client.New(f.ConfigWithToken(token), client.Options{Scheme: f.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Kubectl is kubectl as the administrator, in a namespace.
func (f *Framework) Kubectl(namespace string, args ...string) *exec.Cmd {
	return exec.Command("kubectl", append([]string{"--kubeconfig", f.Kubeconfig, "--namespace", namespace}, args...)...)
}

// binaries are the commands the tests build once per run, by package, to run them as users and pods do.
var binaries sync.Map

// Binary builds the repository's cmd/command, named name, once per test run, and returns its path: tests
// run the binaries as users and pods do.
func (f *Framework) Binary(t *testing.T, command, name string) string {
	t.Helper()
	pkg := f.Path("cmd", command)
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
