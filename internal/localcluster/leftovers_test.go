package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// killedRunEnv, when set, makes the test binary play a cluster that is about to be killed with kill -9,
// on the state directory the variable names (runKilledCluster).
const killedRunEnv = "LOCALCLUSTER_TEST_KILLED_RUN"

func TestMain(m *testing.M) {
	if stateDir := os.Getenv(killedRunEnv); stateDir != "" {
		if err := runKilledCluster(stateDir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// runKilledCluster opens the state directory as a start does and makes what a running node has that
// outlives the cluster's process: the network namespace and its link, the cgroups, a containerd whose
// shim and container live on without it (the shim in the node's namespace, the container in a namespace
// of its own with a veth on the node's bridge, as the CNI plugin makes it), and mounts under the node's
// directories. It prints the PIDs of the shim and the container, and waits to be killed.
func runKilledCluster(stateDir string) error {
	c, err := open(Options{StateDir: stateDir, Log: os.Stderr})
	if err != nil {
		return err
	}
	if err := c.network.create(); err != nil {
		return err
	}
	if err := c.cgroups.create(); err != nil {
		return err
	}
	if err := os.MkdirAll(c.node.run, 0o700); err != nil {
		return err
	}
	// Forks only once it is in the node's cgroup, as containerd starts its shims later.
	pids := filepath.Join(c.node.run, "pids")
	// The container says its PID once it is in its own namespace.
	script := fmt.Sprintf(`until grep -q %s /proc/$$/cgroup; do sleep 0.01; done
sleep 600 & echo $! >%[2]s.shim
unshare --net sh -c 'echo $$ >%[2]s.container; exec sleep 600' &
until [ -s %[2]s.container ]; do sleep 0.01; done
cat %[2]s.shim %[2]s.container >%[2]s.tmp; mv %[2]s.tmp %[2]s; wait`, c.cgroups.name, pids)
	containerd, err := c.startProcess("containerd", []string{"nsenter", "--net=" + c.network.NSPath(), "--", "sh", "-c", script})
	if err != nil {
		return err
	}
	if err := c.cgroups.adopt(containerd.Process.Pid); err != nil {
		return err
	}
	var shim, container int
	if err := waitFor(context.Background(), 10*time.Second, func(context.Context) error {
		data, err := os.ReadFile(pids)
		if err != nil {
			return err
		}
		_, err = fmt.Sscan(string(data), &shim, &container)
		return err
	}); err != nil {
		return err
	}
	for _, step := range [][]string{
		{"ip", "-n", c.network.Namespace, "link", "add", "veth-pod", "type", "veth", "peer", "name", "eth0", "netns", strconv.Itoa(container)},
		{"ip", "-n", c.network.Namespace, "link", "set", "veth-pod", "master", "cni0", "up"},
	} {
		if out, err := exec.Command(step[0], step[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(step, " "), err, out)
		}
	}
	// A container's shared memory and a pod's volume.
	for _, dir := range []string{filepath.Join(c.node.run, "containerd", "shm"), filepath.Join(c.node.kubeletRoot(), "pods", "p", "volumes", "v")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		if err := unix.Mount("tmpfs", dir, "tmpfs", 0, ""); err != nil {
			return fmt.Errorf("mounting %s: %w", dir, err)
		}
	}
	fmt.Println("running", shim, container)
	select {}
}

// requireRoot skips a test that needs root: network namespaces, cgroups, mounts.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, for network namespaces, cgroups and mounts")
	}
}

// TestStartAfterKillClearsWhatTheNodeLeft: a cluster killed with kill -9 leaves its node (processes that
// outlive it, mounts, the network namespace and its link, cgroups). While it runs, a second start on its
// state directory is refused and touches nothing; once it is dead, the next start removes all of it, says
// so, and can make the node's network again at once: it failed with "ip link add ...: File exists".
func TestStartAfterKillClearsWhatTheNodeLeft(t *testing.T) {
	requireRoot(t)
	stateDir := t.TempDir()
	run := exec.Command(os.Args[0], "-test.run=^$")
	run.Env = append(os.Environ(), killedRunEnv+"="+stateDir)
	var stderr bytes.Buffer
	run.Stderr = &stderr
	stdout, err := run.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	// Whatever happens to the test, nothing stays: the killed cluster's leftovers are cleared by a start
	// that stops at once.
	t.Cleanup(func() {
		_ = run.Process.Kill()
		_ = run.Wait() // killed
		if c, err := open(Options{StateDir: stateDir}); err == nil {
			c.Stop()
		}
	})
	var shim, container int
	if _, err := fmt.Fscanf(bufio.NewReader(stdout), "running %d %d\n", &shim, &container); err != nil {
		t.Fatalf("the cluster to be killed did not start: %v\n%s", err, stderr.String())
	}

	_, err = open(Options{StateDir: stateDir})
	want := fmt.Sprintf("a cluster is already running with the state directory %s (process %d)", stateDir, run.Process.Pid)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a second start while the cluster runs: error %v, want %q", err, want)
	}
	for _, pid := range []int{shim, container} {
		if !alive(pid) {
			t.Fatalf("process %d of the running cluster is gone after a second start was refused", pid)
		}
	}

	if err := run.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = run.Wait() // killed
	var said bytes.Buffer
	c, err := open(Options{StateDir: stateDir, Log: &said})
	if err != nil {
		t.Fatalf("starting after kill -9: %v", err)
	}
	t.Cleanup(c.Stop)
	if err := c.network.create(); err != nil {
		t.Fatalf("making the node's network after kill -9 and the clean-up: %v", err)
	}

	for _, want := range []string{
		"an earlier run of " + stateDir + " did not stop cleanly; removed what it left: ",
		" processes, 2 mounts, network namespace " + c.network.Namespace + ", cgroup " + c.cgroups.name,
	} {
		if !strings.Contains(said.String(), want) {
			t.Errorf("the start said %q, want it to say %q", said.String(), want)
		}
	}
	for _, pid := range []int{shim, container} {
		if alive(pid) {
			t.Errorf("process %d, left by the killed cluster, is still running", pid)
		}
	}
	mounts, err := readMountInfo()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mounts {
		if strings.HasPrefix(m.mountPoint, stateDir+"/") || strings.HasPrefix(m.mountPoint, c.node.run+"/") {
			t.Errorf("still mounted: %s", m.mountPoint)
		}
	}
}

// alive says whether the process pid runs: it exists and is not a zombie waiting for its parent.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// PID (COMMAND) STATE ...; the command may hold spaces and parentheses.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
