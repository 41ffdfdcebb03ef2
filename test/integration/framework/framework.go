// Package framework is what the integration tests run on, as kueue's test/integration/framework is: one
// control plane per test binary (etcd and kube-apiserver, built by hack/build-controlplane.sh) with the
// CRDs and admission policies installed, users with the manager's and the UI's generated RBAC, and, for
// each test, namespaces, managers and UIs of its own, started as cmd/manager and cmd/ui start them and
// stopped when the test ends. envtest runs no Job controller: tests set Job status themselves, as the Job
// controller would (SetJobStatus).
package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

const (
	// Timeout and Interval are how long, and how often, the tests' Eventually look.
	Timeout  = 30 * time.Second
	Interval = 50 * time.Millisecond

	// WorkerImage is the worker image the tests' managers put in Jobs.
	WorkerImage = "longtask-worker:integration"
)

// Framework is a running control plane and the identities the tests use on it.
type Framework struct {
	// Root is the repository's root, from the tests' directory.
	Root   string
	Scheme *runtime.Scheme
	// Config is an administrator's; Client talks to the API server with it directly, never through a cache.
	Config *rest.Config
	Client client.WithWatch
	// Kubeconfig is a file with the administrator's credentials, for kubectl, helm and the binaries.
	Kubeconfig string
	// ManagerConfig authenticates as a user with the manager's generated ClusterRole only, and UIConfig
	// as one with the UI's: the tests see what the deployed manager and UI may and may not do (an admin
	// would pass RBAC's escalation checks, for one, where the manager does not).
	ManagerConfig, UIConfig *rest.Config

	env *envtest.Environment
	dir string
}

// Start starts a control plane with the CRDs of config/crd and the admission policies of config/admission
// installed; root is the repository's root. Stop stops it.
func Start(root string) (*Framework, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, errors.New("integration tests need KUBEBUILDER_ASSETS pointing at etcd and kube-apiserver: run `make test`")
	}
	f := &Framework{Root: root, Scheme: runtime.NewScheme(), env: &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}}
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, longtaskv1.AddToScheme} {
		if err := add(f.Scheme); err != nil {
			return nil, err
		}
	}
	var err error
	if f.Config, err = f.env.Start(); err != nil {
		return nil, fmt.Errorf("starting the control plane: %w", err)
	}
	if err := f.setUp(); err != nil {
		f.Stop()
		return nil, err
	}
	return f, nil
}

// setUp makes the client, the kubeconfig and the users, and installs the admission policies.
func (f *Framework) setUp() error {
	var err error
	if f.Client, err = client.NewWithWatch(f.Config, client.Options{Scheme: f.Scheme}); err != nil {
		return fmt.Errorf("creating a client: %w", err)
	}
	if err := f.installAdmissionPolicies(context.Background()); err != nil {
		return fmt.Errorf("installing the admission policies: %w", err)
	}
	admin, err := f.env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, f.Config)
	if err != nil {
		return fmt.Errorf("adding an admin user: %w", err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return fmt.Errorf("writing a kubeconfig: %w", err)
	}
	if f.dir, err = os.MkdirTemp("", "longtask-integration-"); err != nil {
		return err
	}
	f.Kubeconfig = filepath.Join(f.dir, "kubeconfig")
	if err := os.WriteFile(f.Kubeconfig, kubeconfig, 0o600); err != nil {
		return err
	}
	if f.ManagerConfig, err = f.identity(managerRBAC); err != nil {
		return fmt.Errorf("giving the manager its RBAC: %w", err)
	}
	if f.UIConfig, err = f.identity(uiRBAC); err != nil {
		return fmt.Errorf("giving the UI its RBAC: %w", err)
	}
	return nil
}

// Stop stops the control plane and forgets the kubeconfig.
func (f *Framework) Stop() {
	// A temporary directory and a control plane that the tests are done with: the outcome is decided.
	_ = f.env.Stop()
	if f.dir != "" {
		_ = os.RemoveAll(f.dir)
	}
}

// Path is a file of the repository, from the tests' directory.
func (f *Framework) Path(elem ...string) string {
	return filepath.Join(append([]string{f.Root}, elem...)...)
}

// installAdmissionPolicies creates the ValidatingAdmissionPolicies and bindings of
// config/admission/policy.yaml, as config/default and the chart do.
func (f *Framework) installAdmissionPolicies(ctx context.Context) error {
	file := f.Path("config", "admission", "policy.yaml")
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	decoder := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		obj := &unstructured.Unstructured{}
		if err := decoder.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s: %w", file, err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		if err := f.Client.Create(ctx, obj); err != nil {
			return fmt.Errorf("creating %s %s: %w", obj.GetKind(), obj.GetName(), err)
		}
	}
}
