//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// What only a real node shows: images pulled from the registry, the init container that brings the
// worker into any image, memory limits enforced by the kernel, logs kept by the kubelet, and the
// operator's own pods run as their images and Deployments say.

// workerImage is the worker image the deployed manager gives tasks, as the cluster's registry holds it.
func workerImage(t *testing.T) string {
	t.Helper()
	return kubectl(t, "longtask-system", "get", "deployment", "longtask-manager", "-o",
		`jsonpath={.spec.template.spec.containers[0].env[?(@.name=="WORKER_IMAGE")].value}`)
}

func TestTaskInAStockImageGetsTheWorkerFromItsInitContainer(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	kubectl(t, ns, "apply", "-f", sample("failing"))
	kubectl(t, ns, "wait", "--for=condition=Failed", "longtask/failing", "--timeout="+waitTimeout)
	pod := "-l longtask.dev/name=failing"
	get := func(path string) string {
		return kubectl(t, ns, append(strings.Fields("get pods "+pod), "-o", "jsonpath={.items[0]"+path+"}")...)
	}

	// busybox has no longtask-worker: the init container copied it from the worker image, pulled from the
	// cluster's registry, into the volume the task runs it from.
	if got, want := get(".spec.initContainers[0].image"), workerImage(t); got != want {
		t.Errorf("the init container ran %q, want the worker image %q", got, want)
	}
	if got := get(".status.initContainerStatuses[0].state.terminated.exitCode"); got != "0" {
		t.Errorf("the init container exited with %q, want 0", got)
	}
	if got := get(".status.containerStatuses[0].image"); !strings.Contains(got, "busybox:1.35") {
		t.Errorf("the task ran in %q, want busybox:1.35", got)
	}
	if got := get(".spec.nodeName"); got != "longtask-node" {
		t.Errorf("the pod ran on node %q, want longtask-node", got)
	}
	events := kubectl(t, ns, "get", "events", "--field-selector", "reason=Pulled", "-o", "jsonpath={.items[*].message}")
	if !strings.Contains(events, "busybox:1.35") {
		t.Errorf("no Pulled event for busybox; Pulled events: %s", events)
	}

	// The kubelet keeps the container's output: kubectl logs shows what the task printed that was not a
	// progress report.
	if logs := kubectl(t, ns, append(strings.Fields("logs "+pod), "-c", "task")...); !strings.Contains(logs, "error: input.csv: no such file or directory") {
		t.Errorf("kubectl logs shows %q, want the task's error line", logs)
	}
}

func TestTaskOverItsMemoryLimitFailsOOMKilled(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	// dd allocates its whole block at once: 256 MiB in a container allowed 32 MiB.
	applyManifest(t, ns, `apiVersion: longtask.dev/v1alpha1
kind: LongTask
metadata:
  name: hungry
spec:
  image: busybox:1.35
  command: ["sh", "-c", "echo '::progress 1/2 allocating'; dd if=/dev/zero of=/dev/null bs=256M count=1"]
  resources:
    limits:
      memory: 32Mi
`)
	kubectl(t, ns, "wait", "--for=condition=Failed", "longtask/hungry", "--timeout="+waitTimeout)
	expectStatus(t, ns, "hungry", map[string]string{
		".status.failure.reason":   "OOMKilled",
		".status.progress.summary": "1/2 (50%)",
	})
	// The worker saw it too, from the container's cgroup (v1's memory.oom_control on this machine), and
	// says so in the task's log.
	if logs := kubectl(t, ns, "logs", "-l", "longtask.dev/name=hungry", "-c", "task"); !strings.Contains(logs, "ran out of memory") {
		t.Errorf("kubectl logs shows %q, want the worker saying the program ran out of memory", logs)
	}
}

// TestOperatorPodsRunAsTheirImagesSay looks at the manager's and the UI's processes from the host: the
// containers run the images from the cluster's registry, as the image's non-root user, on a read-only
// root file system.
func TestOperatorPodsRunAsTheirImagesSay(t *testing.T) {
	t.Parallel()
	registry := strings.Split(workerImage(t), "/")[0]
	for _, app := range []string{"longtask-manager", "longtask-ui"} {
		t.Run(app, func(t *testing.T) {
			selector := "app.kubernetes.io/name=" + app
			image := kubectl(t, "longtask-system", "get", "pods", "-l", selector, "-o", "jsonpath={.items[0].status.containerStatuses[0].imageID}")
			if !strings.HasPrefix(image, registry+"/"+app+"@sha256:") {
				t.Errorf("%s runs image %q, want %s/%s by digest", app, image, registry, app)
			}
			containerID := kubectl(t, "longtask-system", "get", "pods", "-l", selector, "-o", "jsonpath={.items[0].status.containerStatuses[0].containerID}")
			pid := containerPID(t, strings.TrimPrefix(containerID, "containerd://"))
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				t.Fatal(err)
			}
			if uid := field(string(status), "Uid:"); uid != "65532" {
				t.Errorf("%s runs as uid %q, want 65532 (the image's nonroot user)", app, uid)
			}
			mounts, err := os.ReadFile(fmt.Sprintf("/proc/%d/mounts", pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(mounts), "\n") {
				if f := strings.Fields(line); len(f) >= 4 && f[1] == "/" {
					if !strings.HasPrefix(f[3], "ro") {
						t.Errorf("%s's root file system is mounted %q, want read-only", app, f[3])
					}
				}
			}
		})
	}
}

// containerPID finds the main process of a container from the host, asking containerd (ctr task ls).
func containerPID(t *testing.T, id string) int {
	t.Helper()
	sockets, _ := filepath.Glob("/run/longtask/*/containerd.sock")
	for _, socket := range sockets {
		out, _ := exec.Command("ctr", "--address", socket, "--namespace", "k8s.io", "task", "ls").Output()
		for _, line := range strings.Split(string(out), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == id {
				pid, err := strconv.Atoi(f[1])
				if err != nil {
					t.Fatal(err)
				}
				return pid
			}
		}
	}
	t.Fatalf("no containerd in %v knows container %s", sockets, id)
	return 0
}

// field is the first value after a "Key:" line's key in a /proc status file.
func field(status, key string) string {
	for _, line := range strings.Split(status, "\n") {
		if strings.HasPrefix(line, key) {
			if f := strings.Fields(line); len(f) > 1 {
				return f[1]
			}
		}
	}
	return ""
}
