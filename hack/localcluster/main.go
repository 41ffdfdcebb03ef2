// Command localcluster runs a Kubernetes cluster on this machine without Docker or a kubelet: etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler on loopback, and a local node that runs pods
// as host processes. It can deploy kustomize directories and apply manifests once the cluster is up, and
// runs until interrupted.
//
//	localcluster up --state-dir DIR --k8s-bin DIR [--image IMAGE=BINARY]... [--deploy DIR]... [--apply FILE]...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/longtask-dev/longtask/internal/localcluster"
	"github.com/longtask-dev/longtask/internal/localnode"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "container-exec" {
		err := localnode.ContainerExec(os.Args[2])
		fmt.Fprintf(os.Stderr, "localnode: %v\n", err)
		os.Exit(localnode.ExitCode(err))
	}
	if len(os.Args) < 2 || os.Args[1] != "up" {
		fmt.Fprintln(os.Stderr, "usage: localcluster up --state-dir DIR --k8s-bin DIR [--image IMAGE=BINARY]... [--deploy DIR]... [--apply FILE]...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	stateDir := fs.String("state-dir", ".dev", "directory for the cluster's state; kept across restarts")
	binDir := fs.String("k8s-bin", "bin/k8s", "directory with etcd, kube-apiserver, kube-controller-manager and kube-scheduler")
	images := map[string]string{}
	fs.Func("image", "IMAGE=BINARY: run BINARY for containers of IMAGE (repeatable)", func(s string) error {
		image, binary, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("want IMAGE=BINARY, got %q", s)
		}
		abs, err := filepath.Abs(binary)
		images[image] = abs
		return err
	})
	var deploy, apply, say []string
	fs.Func("deploy", "kustomize directory to apply once the cluster is up, waiting for its Deployments (repeatable)", func(s string) error { deploy = append(deploy, s); return nil })
	fs.Func("apply", "manifest to apply after the deployments (repeatable)", func(s string) error { apply = append(apply, s); return nil })
	fs.Func("say", "a line to print with the instructions once the cluster is up (repeatable)", func(s string) error { say = append(say, s); return nil })
	_ = fs.Parse(os.Args[2:])

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := up(ctx, *stateDir, *binDir, images, deploy, apply, say); err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: %v\n", err)
		os.Exit(1)
	}
}

func sayLines(lines []string) string {
	var b strings.Builder
	for _, line := range lines {
		b.WriteString("\n  " + line + "\n")
	}
	return b.String()
}

func up(ctx context.Context, stateDir, binDir string, images map[string]string, deploy, apply, say []string) error {
	stateDir, err := filepath.Abs(stateDir)
	if err != nil {
		return err
	}
	if binDir, err = filepath.Abs(binDir); err != nil {
		return err
	}
	cluster, err := localcluster.Start(ctx, localcluster.Options{StateDir: stateDir, BinDir: binDir, Log: os.Stderr})
	if err != nil {
		return err
	}
	defer cluster.Stop()

	restConfig, err := clientcmd.BuildConfigFromFlags("", cluster.Kubeconfig())
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	helper, err := os.Executable()
	if err != nil {
		return err
	}
	node := localnode.New(localnode.Options{
		NodeName: "localnode", Client: client, StateDir: filepath.Join(stateDir, "node"), Images: images,
		APIServerHost: "127.0.0.1", APIServerPort: cluster.APIServerPort(), Helper: helper,
		LogsPort: cluster.NodePort(), Log: os.Stderr,
	})
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- node.Run(ctx) }()

	kubectl := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", cluster.Kubeconfig()}, args...)...)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		return cmd.Run()
	}
	for _, dir := range deploy {
		fmt.Fprintf(os.Stderr, "localcluster: deploying %s\n", dir)
		if err := kubectl("apply", "--server-side", "--force-conflicts", "-k", dir); err != nil {
			return fmt.Errorf("deploying %s: %w", dir, err)
		}
	}
	if len(deploy) > 0 {
		if err := kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"); err != nil {
			return err
		}
		if err := kubectl("wait", "--for=condition=Available", "deployment", "--all", "--all-namespaces", "--timeout=180s"); err != nil {
			return fmt.Errorf("waiting for the deployments (logs in %s): %w", filepath.Join(stateDir, "node", "pods"), err)
		}
	}
	for _, file := range apply {
		if err := kubectl("apply", "-f", file); err != nil {
			return fmt.Errorf("applying %s: %w", file, err)
		}
	}
	ready := filepath.Join(stateDir, "ready")
	if err := os.WriteFile(ready, []byte(time.Now().Format(time.RFC3339)), 0o600); err != nil {
		return err
	}
	defer os.Remove(ready)
	fmt.Fprintf(os.Stderr, `
The cluster is up. In another terminal:

  export KUBECONFIG=%s
  kubectl get longtasks -w
%s
Component logs are in %s. Press Ctrl-C to stop; the state is kept, so the next start resumes.
`, cluster.Kubeconfig(), sayLines(say), filepath.Join(stateDir, "logs"))

	select {
	case <-ctx.Done():
	case err := <-nodeDone:
		return fmt.Errorf("the local node stopped: %w", err)
	}
	fmt.Fprintln(os.Stderr, "localcluster: stopping")
	<-nodeDone
	return nil
}
