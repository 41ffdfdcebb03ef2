// Command localcluster runs a Kubernetes cluster on this machine without Docker: etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler on loopback, an image registry, and one node (containerd,
// runc, the kubelet and kube-proxy) in a network namespace of its own. It pushes LongTask's images to the
// registry, deploys kustomize directories or installs Helm charts with those images, applies manifests, and runs until
// interrupted (Ctrl-C, SIGTERM, or its terminal closing); then it stops everything and removes what the
// node left (processes, mounts, the network namespace and its rules, cgroups). The stop finishes even when
// its terminal has gone first (`make dev | tee` on Ctrl-C), and what it says is kept in
// logs/localcluster.log in the state directory too. A start first removes what an earlier run that was
// killed left, and says so; it refuses to start on a state directory a running cluster uses.
//
//	localcluster up --state-dir DIR --k8s-bin DIR --images DIR [--deploy DIR]... [--helm RELEASE=CHART]...
//	    [--helm-bin FILE] [--set KEY=VALUE]... [--apply FILE]... [--forward PORT=NAMESPACE/SERVICE:PORT]... [--say LINE]...
//
// While it runs, `localcluster fault` stops and starts parts of it from another process, for tests of
// what the operator does when they fail:
//
//	localcluster fault --state-dir DIR stop|start|restart kube-apiserver|etcd|node
//
// stop kube-apiserver or etcd sends SIGTERM, then SIGKILL after 5s; stop node kills every process of the
// node at once, as a power loss would, keeping the Node and its pods in the API server. start runs it
// again as the cluster first did, and returns when it is ready: etcd healthy, the API server ready, the
// Node Ready. restart is stop, then start. The cluster keeps running meanwhile.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/longtask-dev/longtask/internal/localcluster"
)

const usage = `usage: localcluster up --state-dir DIR --k8s-bin DIR --images DIR [--deploy DIR]... [--helm RELEASE=CHART]... [--helm-bin FILE] [--set KEY=VALUE]... [--apply FILE]... [--forward PORT=NAMESPACE/SERVICE:PORT]... [--say LINE]...
       localcluster fault --state-dir DIR stop|start|restart kube-apiserver|etcd|node
           stop: kube-apiserver and etcd get SIGTERM, then SIGKILL after 5s; the node loses power (all its processes killed)
           start: runs it again and returns when it is ready (etcd healthy, API server ready, Node Ready)`

// helmNamespace is where --helm installs charts: the namespace config/ deploys into, labelled as it does.
const helmNamespace = "longtask-system"

// options are the flags of `localcluster up`.
type options struct {
	cluster                        localcluster.Options
	deploy, apply, say, helmValues []string
	charts                         []chart
	helmBin                        string
	forwards                       []forward
}

// chart is a Helm chart to install as a release.
type chart struct {
	release, path string
}

// forward is a Service port served on the host's loopback.
type forward struct {
	hostPort, port  int
	namespace, name string
}

func main() {
	if len(os.Args) < 2 || (os.Args[1] != "up" && os.Args[1] != "fault") {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if os.Args[1] == "fault" {
		cmd, err := parseFault(os.Args[2:])
		if err != nil {
			fmt.Fprintf(os.Stderr, "localcluster fault: %v\n%s\n", err, usage)
			os.Exit(2)
		}
		ctx, stop := notifyStop()
		err = runFault(ctx, cmd, os.Stdout)
		stop()
		if err != nil {
			fmt.Fprintf(os.Stderr, "localcluster fault: %v\n", err)
			os.Exit(1)
		}
		return
	}
	var opts options
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	fs.StringVar(&opts.cluster.StateDir, "state-dir", "bin/dev", "directory for the cluster's state; kept across restarts")
	fs.StringVar(&opts.cluster.BinDir, "k8s-bin", "bin/k8s", "directory with etcd and the Kubernetes components")
	fs.StringVar(&opts.cluster.Images, "images", "bin/images", "OCI image layout with LongTask's images (make images)")
	fs.Func("deploy", "kustomize directory to deploy with the registry's images, waiting for its Deployments (repeatable)", func(s string) error { opts.deploy = append(opts.deploy, s); return nil })
	fs.Func("helm", "RELEASE=CHART: install a Helm chart into "+helmNamespace+" with the registry's images, waiting for its Deployments (repeatable)", func(s string) error {
		release, path, ok := strings.Cut(s, "=")
		if !ok || release == "" || path == "" {
			return fmt.Errorf("want RELEASE=CHART, got %q", s)
		}
		opts.charts = append(opts.charts, chart{release: release, path: path})
		return nil
	})
	fs.StringVar(&opts.helmBin, "helm-bin", "bin/helm", "the helm binary (make helm)")
	fs.Func("set", "KEY=VALUE: a value for every --helm chart (repeatable)", func(s string) error { opts.helmValues = append(opts.helmValues, "--set", s); return nil })
	fs.Func("apply", "manifest to apply after the deployments (repeatable)", func(s string) error { opts.apply = append(opts.apply, s); return nil })
	fs.Func("say", "a line to print with the instructions once the cluster is up (repeatable)", func(s string) error { opts.say = append(opts.say, s); return nil })
	fs.Func("forward", "PORT=NAMESPACE/SERVICE:PORT: serve a Service's port on 127.0.0.1:PORT (repeatable)", func(s string) error {
		f, err := parseForward(s)
		opts.forwards = append(opts.forwards, f)
		return err
	})
	_ = fs.Parse(os.Args[2:])
	os.Exit(runUp(opts, up))
}

// runUp runs up (which starts the cluster, runs it until ctx ends or the cluster fails, and stops it) and
// returns the exit code. What it says goes to stderr and to logs/localcluster.log in the state directory.
func runUp(opts options, up func(context.Context, options, *output) error) int {
	outliveTerminal()
	out, err := openOutput(os.Stderr, filepath.Join(opts.cluster.StateDir, "logs", "localcluster.log"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "localcluster: %v\n", err)
		return 1
	}
	defer func() { _ = out.Close() }() // every line went straight to the file; nothing is buffered to lose
	ctx, stop := notifyStop()
	defer stop()
	if err := up(ctx, opts, out); err != nil {
		out.Printf("%v", err)
		return 1
	}
	return 0
}

func parseForward(s string) (forward, error) {
	hostPort, target, ok1 := strings.Cut(s, "=")
	service, port, ok2 := strings.Cut(target, ":")
	namespace, name, ok3 := strings.Cut(service, "/")
	var f forward
	var err1, err2 error
	f.hostPort, err1 = strconv.Atoi(hostPort)
	f.port, err2 = strconv.Atoi(port)
	if !ok1 || !ok2 || !ok3 || err1 != nil || err2 != nil {
		return f, fmt.Errorf("want PORT=NAMESPACE/SERVICE:PORT, got %q", s)
	}
	f.namespace, f.name = namespace, name
	return f, nil
}

func up(ctx context.Context, opts options, out *output) error {
	opts.cluster.Log = out
	cluster, err := localcluster.Start(ctx, opts.cluster)
	if err != nil {
		return err
	}
	defer func() {
		out.Printf("stopping")
		cluster.Stop()
		out.Printf("stopped")
	}()
	// Closed before the cluster stops (defers run last first), which cancels a fault in progress.
	stopControl, err := cluster.ServeControl(ctx)
	if err != nil {
		return err
	}
	defer stopControl()
	stateDir := cluster.StateDir()

	kubectl := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", cluster.Kubeconfig()}, args...)...)
		cmd.Stdout, cmd.Stderr = out, out
		return cmd.Run()
	}
	for i, dir := range opts.deploy {
		overlay := filepath.Join(stateDir, "deploy", strconv.Itoa(i))
		if err := cluster.WriteDeployOverlay(overlay, dir); err != nil {
			return err
		}
		out.Printf("deploying %s with the images of %s", dir, cluster.RegistryName())
		if err := kubectl("apply", "--server-side", "--force-conflicts", "-k", overlay); err != nil {
			return fmt.Errorf("deploying %s: %w", dir, err)
		}
	}
	if len(opts.charts) > 0 {
		if err := installCharts(ctx, cluster, opts, out); err != nil {
			return err
		}
	}
	if len(opts.deploy) > 0 || len(opts.charts) > 0 {
		if err := kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"); err != nil {
			return err
		}
		if err := kubectl("wait", "--for=condition=Available", "deployment", "--all", "--all-namespaces", "--timeout=180s"); err != nil {
			return fmt.Errorf("waiting for the deployments (kubectl describe pods -A says why): %w", err)
		}
	}
	for _, f := range opts.forwards {
		if err := cluster.Forward(fmt.Sprintf("127.0.0.1:%d", f.hostPort), f.namespace, f.name, f.port); err != nil {
			return err
		}
	}
	for _, file := range opts.apply {
		if err := kubectl("apply", "-f", file); err != nil {
			return fmt.Errorf("applying %s: %w", file, err)
		}
	}
	ready := filepath.Join(stateDir, "ready")
	if err := os.WriteFile(ready, []byte(time.Now().Format(time.RFC3339)), 0o600); err != nil {
		return err
	}
	// Removing the file just written into our own state directory fails only if the directory is gone.
	defer func() { _ = os.Remove(ready) }()
	fmt.Fprintf(out, `
The cluster is up. In another terminal:

  export KUBECONFIG=%s
  kubectl get longtasks -w
%s
Its log and its components' are in %s. Press Ctrl-C to stop; the state is kept, so the next start resumes.
`, cluster.Kubeconfig(), sayLines(opts.say), filepath.Join(stateDir, "logs"))
	select {
	case <-ctx.Done():
		return nil
	case name := <-cluster.Failed():
		return fmt.Errorf("%s stopped (see %s); stopping the cluster", name, cluster.LogFile(name))
	}
}

// installCharts installs (or upgrades) each --helm chart into helmNamespace, which it labels for the
// restricted Pod Security Standard as config/ does.
func installCharts(ctx context.Context, cluster *localcluster.Cluster, opts options, out *output) error {
	namespace := fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n    pod-security.kubernetes.io/enforce: restricted\n", helmNamespace)
	apply := exec.CommandContext(ctx, "kubectl", "--kubeconfig", cluster.Kubeconfig(), "apply", "-f", "-")
	apply.Stdin, apply.Stdout, apply.Stderr = strings.NewReader(namespace), out, out
	if err := apply.Run(); err != nil {
		return fmt.Errorf("creating the namespace %s: %w", helmNamespace, err)
	}
	images, err := cluster.HelmImageValues()
	if err != nil {
		return err
	}
	for _, c := range opts.charts {
		out.Printf("installing %s as %s with the images of %s", c.path, c.release, cluster.RegistryName())
		args := append([]string{"upgrade", "--install", c.release, c.path, "--namespace", helmNamespace,
			"--kubeconfig", cluster.Kubeconfig(), "--wait", "--timeout", "3m"}, images...)
		helm := exec.CommandContext(ctx, opts.helmBin, append(args, opts.helmValues...)...)
		helm.Stdout, helm.Stderr = out, out
		if err := helm.Run(); err != nil {
			return fmt.Errorf("installing %s (kubectl describe pods -A says why): %w", c.path, err)
		}
	}
	return nil
}

func sayLines(lines []string) string {
	var b strings.Builder
	for _, line := range lines {
		b.WriteString("\n  " + line + "\n")
	}
	return b.String()
}
