//go:build e2e

// Package e2e tests LongTask end to end, through a real cluster: hack/localcluster's control plane (with
// the real Job controller, garbage collector and service account controllers), its registry, and its
// node (containerd, runc, the kubelet and kube-proxy), with the operator installed by `helm install` of
// charts/longtask (which renders what config/default deploys: test/chart) with the images make images
// built, and driven with kubectl as a user types it. Run it with `make test-e2e`, which builds what it needs.
package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitTimeout bounds each kubectl wait; the tasks here take seconds.
const waitTimeout = "180s"

var (
	root     = filepath.Join("..", "..")
	stateDir string
	// uiURL is where the deployed UI's Service is served on the host (localcluster --forward).
	uiURL string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	bin := filepath.Join(root, "bin")
	for _, b := range []string{"images/index.json", "localcluster", "k8s/kube-apiserver", "k8s/kubelet", "helm"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: %s is missing: run `make test-e2e`, which builds it\n", filepath.Join(bin, b))
			return 1
		}
	}
	var err error
	if stateDir, err = os.MkdirTemp("", "longtask-e2e-"); err != nil {
		panic(err)
	}
	defer func() { _ = os.RemoveAll(stateDir) }() // a temporary directory; the outcome is already decided

	clusterLog, err := os.Create(filepath.Join(stateDir, "localcluster.log"))
	if err != nil {
		panic(err)
	}
	// localcluster has its own copy of the file; closing ours loses nothing it writes.
	defer func() { _ = clusterLog.Close() }()
	uiPort, err := freePort()
	if err != nil {
		panic(err)
	}
	uiURL = fmt.Sprintf("http://127.0.0.1:%d", uiPort)
	cluster = &localCluster{bin: bin, log: clusterLog, uiPort: uiPort}
	if err := cluster.start(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: the local cluster did not come up: %v\n", err)
		printLogs()
		return 1
	}
	defer cluster.stop()
	if err := os.Setenv("KUBECONFIG", filepath.Join(stateDir, "kubeconfig")); err != nil {
		panic(err)
	}
	code := m.Run()
	if code != 0 {
		printLogs()
	}
	return code
}

// cluster is the local cluster the tests run against.
var cluster *localCluster

// localCluster runs hack/localcluster with the operator deployed.
type localCluster struct {
	bin    string
	log    *os.File
	uiPort int
	cmd    *exec.Cmd
	exited chan error
	// terminal is the reading end of localcluster's output, copied to log as `| tee` does.
	terminal *os.File
}

// start starts the cluster, keeping the state of an earlier start, and waits until it is up.
func (c *localCluster) start() error {
	c.cmd = exec.Command(filepath.Join(c.bin, "localcluster"), "up",
		"--state-dir", stateDir, "--k8s-bin", filepath.Join(c.bin, "k8s"), "--images", filepath.Join(c.bin, "images"),
		"--helm", "longtask="+filepath.Join(root, "charts", "longtask"), "--helm-bin", helmBin(),
		"--forward", fmt.Sprintf("%d=longtask-system/longtask-ui:8090", c.uiPort))
	// A cluster that was killed left its ready marker.
	if err := os.Remove(filepath.Join(stateDir, "ready")); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	c.cmd.Stdout, c.cmd.Stderr = w, w
	err = c.cmd.Start()
	_ = w.Close() // localcluster has its own copy
	if err != nil {
		_ = r.Close() // never read
		return err
	}
	c.terminal = r
	go func() { _, _ = io.Copy(c.log, r) }() // ends when localcluster exits or the terminal is closed
	c.exited = make(chan error, 1)
	go func() { c.exited <- c.cmd.Wait() }()
	return waitReady(c.exited)
}

// closeTerminal closes localcluster's output as a terminal that goes away does: in
// `make dev 2>&1 | tee dev.log`, Ctrl-C ends tee before localcluster has stopped the cluster.
func (c *localCluster) closeTerminal() { _ = c.terminal.Close() }

// kill kills localcluster with SIGKILL, which leaves its node running.
func (c *localCluster) kill() {
	_ = c.cmd.Process.Kill()
	<-c.exited //nolint:errcheck // killed, so its exit status says only that
}

// stop stops the cluster as Ctrl-C does.
func (c *localCluster) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.exited: //nolint:errcheck // after SIGINT its exit status says only that it was stopped
	case <-time.After(60 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited //nolint:errcheck // after SIGKILL likewise
	}
}

// waitReady waits for localcluster to say the cluster is up and the operator deployed.
func waitReady(exited <-chan error) error {
	deadline := time.After(5 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(stateDir, "ready")); err == nil {
			return nil
		}
		select {
		case err := <-exited:
			if err == nil {
				return errors.New("localcluster exited")
			}
			return fmt.Errorf("localcluster exited: %w", err)
		case <-deadline:
			return errors.New("timed out after 5 minutes")
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// helmBin is the helm that make test-e2e passes in HELM, or make helm's.
func helmBin() string {
	if helm := os.Getenv("HELM"); helm != "" {
		return helm
	}
	return filepath.Join(root, "bin", "helm")
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// printLogs prints the end of every component's log and of every container's log on the node.
func printLogs() {
	files, _ := filepath.Glob(filepath.Join(stateDir, "logs", "*.log"))
	pods, _ := filepath.Glob(filepath.Join(stateDir, "node", "pod-logs", "*", "*", "*.log"))
	files = append(append([]string{filepath.Join(stateDir, "localcluster.log")}, files...), pods...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		fmt.Fprintf(os.Stderr, "\n===== %s (last %d lines) =====\n%s\n", f, min(len(lines), 40), strings.Join(lines[max(0, len(lines)-40):], "\n"))
	}
}

// kubectl runs kubectl in a namespace and returns its output, failing the test on error.
func kubectl(t *testing.T, namespace string, args ...string) string {
	t.Helper()
	out, err := kubectlCmd(namespace, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func kubectlCmd(namespace string, args ...string) *exec.Cmd {
	if namespace != "" {
		args = append([]string{"--namespace", namespace}, args...)
	}
	return exec.Command("kubectl", args...)
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("e2e-%s-%d", strings.ToLower(strings.TrimPrefix(t.Name(), "Test"))[:min(20, len(t.Name())-4)], time.Now().UnixNano()%100000)
	kubectl(t, "", "create", "namespace", name)
	return name
}

// sample is the path of a sample manifest.
func sample(name string) string {
	return filepath.Join(root, "config", "samples", name+".yaml")
}

// jsonpath reads one field of a LongTask.
func jsonpath(t *testing.T, ns, task, path string) string {
	t.Helper()
	return kubectl(t, ns, "get", "longtask", task, "-o", "jsonpath={"+path+"}")
}

// applyManifest applies a manifest given inline, as `kubectl apply -f -` does.
func applyManifest(t *testing.T, ns, manifest string) {
	t.Helper()
	cmd := kubectlCmd(ns, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, out)
	}
}

// expectStatus checks fields of a LongTask, by JSONPath, against what they should say.
func expectStatus(t *testing.T, ns, task string, want map[string]string) {
	t.Helper()
	for path, value := range want {
		if got := jsonpath(t, ns, task, path); got != value {
			t.Errorf("%s of %s is %q, want %q", path, task, got, value)
		}
	}
}

// watchLines runs `kubectl get longtasks -w` and sends each line it prints, until ctx ends.
func watchLines(ctx context.Context, t *testing.T, ns string) <-chan string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "kubectl", "--namespace", ns, "get", "longtasks", "-w")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1000)
	go func() {
		defer close(lines)
		scanner := bufio.NewScanner(out)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
		_ = cmd.Wait()
	}()
	return lines
}
