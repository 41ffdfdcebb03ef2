package main

import (
	"context"
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// kwokStages are the lifecycles kwok plays: fake nodes become Ready, and pods scheduled to them Running
// and Ready, and stay so.
//
//go:embed kwok-stages.yaml
var kwokStages []byte

// kwokCluster is a control plane (etcd, kube-apiserver) with the Job controller, the scheduler and kwok:
// Jobs get pods, the scheduler puts them on a fake node, and kwok reports them Running and Ready, but no
// container runs. The benchmark plays the workers.
type kwokCluster struct {
	env   *envtest.Environment
	c     client.WithWatch
	procs []*process
}

// kwokNode is the fake node every pod runs on; kwok gives it room for a million pods.
const kwokNode = "kwok-node"

func startKwokCluster(ctx context.Context, opts benchOptions) (*kwokCluster, error) {
	env, c, err := startControlPlane(opts)
	if err != nil {
		return nil, err
	}
	k := &kwokCluster{env: env, c: c}
	if err := k.start(ctx, opts); err != nil {
		k.stop()
		return nil, err
	}
	return k, nil
}

func (k *kwokCluster) start(ctx context.Context, opts benchOptions) error {
	kubeconfig, err := adminKubeconfig(opts, k.env, "kwok-cluster")
	if err != nil {
		return err
	}
	stages := filepath.Join(opts.workDir, "kwok-stages.yaml")
	if err := os.WriteFile(stages, kwokStages, 0o644); err != nil {
		return err
	}
	// As kwokctl's --disable-qps-limits: the client-side limits of the Job controller and the scheduler
	// (20 and 50 requests a second by default) would make them, not LongTask, the bottleneck.
	unlimited := []string{"--kube-api-qps=5000", "--kube-api-burst=10000"}
	for _, argv := range [][]string{
		// The Job controller alone: no other controller is needed, and each would cost CPU the benchmark
		// measures the operator with.
		{filepath.Join(opts.k8sBin, "kube-controller-manager"), "--kubeconfig=" + kubeconfig, "--controllers=job-controller",
			"--leader-elect=false", "--secure-port=0", unlimited[0], unlimited[1]},
		{filepath.Join(opts.k8sBin, "kube-scheduler"), "--kubeconfig=" + kubeconfig, "--leader-elect=false", "--secure-port=0", unlimited[0], unlimited[1]},
		{opts.kwok, "--kubeconfig=" + kubeconfig, "--config=" + stages, "--manage-single-node=" + kwokNode,
			"--server-address=", "--node-ip=10.0.0.1", "--cidr=10.0.0.1/8"},
	} {
		p, err := startProcess(opts, filepath.Base(argv[0]), argv...)
		if err != nil {
			return err
		}
		k.procs = append(k.procs, p)
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: kwokNode}, // kwok manages it by name (--manage-single-node)
	}
	if err := k.c.Create(ctx, node); err != nil {
		return fmt.Errorf("creating the fake node: %w", err)
	}
	// The API server taints a new node not-ready; the node lifecycle controller, which would lift the
	// taint once kwok reports the node Ready, does not run here, so the benchmark lifts it.
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := k.c.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
			return false, err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("kwok did not make its node Ready (see %s): %w", k.procs[len(k.procs)-1].log, err)
	}
	node.Spec.Taints = nil
	if err := k.c.Update(ctx, node); err != nil {
		return fmt.Errorf("lifting the fake node's not-ready taint: %w", err)
	}
	return nil
}

func (k *kwokCluster) stop() {
	for i := len(k.procs) - 1; i >= 0; i-- {
		k.procs[i].stop()
	}
	_ = k.env.Stop()
}
