// Package integration tests the controller, the worker, the UI and the kubectl plugin against a real
// kube-apiserver and etcd, through the framework in ./framework: each test makes its own namespace, and
// starts its own manager and UI with the options it needs.
package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/longtask-dev/longtask/test/integration/framework"
)

// fw is the control plane the tests share.
var fw *framework.Framework

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true)))
	var err error
	if fw, err = framework.Start(filepath.Join("..", "..")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	fw.Stop()
	os.Exit(code)
}
