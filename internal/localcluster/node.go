package localcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"text/template"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/longtask-dev/longtask/internal/images"
)

const (
	// NodeName is the name of the cluster's one node.
	NodeName = "longtask-node"
	// podStopGrace is how long the node's containers have to stop when the cluster stops.
	podStopGrace = 5 * time.Second
)

// The node is the real thing: containerd (Debian's, with runc) and the kubelet and kube-proxy built with
// the control plane, run in the node's network namespace and cgroup tree. What this machine needs of
// them, found by trying: the kubelet's failCgroupV1=false and cgroupfs driver (cgroup v1 here),
// containerd's restrict_oom_score_adj (processes here lack CAP_SYS_RESOURCE, so a pod's oom_score_adj of
// -998 would be refused), runc, and a pause image built here, since none can be pulled.

// nodeDirs are where the node keeps its files: state that survives a restart (images, the kubelet's
// records of its pods) under the state directory, and runtime state (sockets, IP allocations) under /run,
// where it is removed at stop.
type nodeDirs struct {
	state, run string
}

func (d nodeDirs) containerdRoot() string { return filepath.Join(d.state, "containerd") }
func (d nodeDirs) kubeletRoot() string    { return filepath.Join(d.state, "kubelet") }
func (d nodeDirs) podLogs() string        { return filepath.Join(d.state, "pod-logs") }
func (d nodeDirs) config() string         { return filepath.Join(d.state, "config") }
func (d nodeDirs) containerdSocket() string {
	return filepath.Join(d.run, "containerd.sock")
}

// writeNodeConfig writes the configuration files of containerd, the CNI plugins, the kubelet and
// kube-proxy.
func (c *Cluster) writeNodeConfig() error {
	d := c.node
	for _, dir := range []string{d.config(), filepath.Join(d.config(), "cni"), d.run, d.podLogs()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	values := map[string]any{
		"ContainerdRoot": d.containerdRoot(), "Run": d.run, "Socket": d.containerdSocket(), "Config": d.config(),
		"PodLogs": d.podLogs(), "Network": c.network, "CgroupRoot": c.cgroups.name, "PodSubnet": podSubnet,
		"ServiceSubnet": serviceSubnet, "PauseImage": c.images[images.Pause],
		"CA": c.certs.path("ca.crt"), "Certs": c.certs.dir, "NodeName": NodeName, "Registry": c.RegistryHost(),
	}
	files := map[string]string{
		"containerd.toml":              containerdConfig,
		"cni/10-longtask.conflist":     cniConfig,
		"kubelet.yaml":                 kubeletConfig,
		"kube-proxy.yaml":              kubeProxyConfig,
		"certs.d/docker.io/hosts.toml": registryHosts,
		fmt.Sprintf("certs.d/localhost:%d/hosts.toml", c.ports.Registry): registryHosts,
	}
	for name, text := range files {
		var out bytes.Buffer
		if err := template.Must(template.New(name).Parse(text)).Execute(&out, values); err != nil {
			return err
		}
		path := filepath.Join(d.config(), name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
			return err
		}
	}
	server := fmt.Sprintf("https://127.0.0.1:%d", c.ports.APIServer)
	for _, kc := range []struct{ file, cert string }{{"kubelet.kubeconfig", "node"}, {"kube-proxy.kubeconfig", "kube-proxy"}} {
		if err := c.writeKubeconfig(filepath.Join(d.config(), kc.file), server, kc.cert); err != nil {
			return err
		}
	}
	return nil
}

// containerdConfig keeps everything of containerd's in the cluster's directories, pulls through the
// cluster's registry, and mounts the pods' network namespaces under its state directory, where stopping
// the node finds them.
const containerdConfig = `version = 2
root = "{{.ContainerdRoot}}"
state = "{{.Run}}/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "{{.Socket}}"
[ttrpc]
  address = "{{.Socket}}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{{.ContainerdRoot}}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{{.PauseImage}}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{{.Config}}/cni"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{{.Config}}/certs.d"
`

// registryHosts sends pulls to the cluster's registry over plain HTTP, for its own name (localhost:PORT)
// and for Docker Hub, whose place it takes (busybox), as kind's local registry does. The "server" line
// makes the registry the fallback too, so a pull never goes further.
const registryHosts = `server = "http://{{.Registry}}"

[host."http://{{.Registry}}"]
  capabilities = ["pull", "resolve"]
`

// cniConfig puts the pods on a bridge in the node's namespace. Their only route is to the services:
// nothing else is reachable from a pod but other pods.
const cniConfig = `{
  "cniVersion": "1.0.0",
  "name": "longtask",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "{{.PodSubnet}}"}]],
        "routes": [{"dst": "{{.ServiceSubnet}}"}],
        "dataDir": "{{.Run}}/cni"
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`

// kubeletConfig: authentication and authorization by the API server, as on a real node; eviction and
// image garbage collection off, since a development machine's disk fills for other reasons; no DNS, as
// the cluster runs none and the host's resolvers are off limits.
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {{.Network.NodeIP}}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {{.CA}}
authorization:
  mode: Webhook
tlsCertFile: {{.Certs}}/kubelet-serving.crt
tlsPrivateKeyFile: {{.Certs}}/kubelet-serving.key
cgroupDriver: cgroupfs
cgroupRoot: {{.CgroupRoot}}
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://{{.Socket}}
podLogsDir: {{.PodLogs}}
resolvConf: ""
evictionHard:
  memory.available: "0%"
  nodefs.available: "0%"
  nodefs.inodesFree: "0%"
  imagefs.available: "0%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
`

// kubeProxyConfig leaves the machine's conntrack settings alone (they are not the node's to change) and
// masquerades service traffic, so that a pod reaching itself through a Service gets its answer.
const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: {{.Config}}/kube-proxy.kubeconfig
mode: iptables
clusterCIDR: {{.PodSubnet}}
hostnameOverride: {{.NodeName}}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
iptables:
  masqueradeAll: true
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`

// startNode starts containerd, the kubelet and kube-proxy in the node's namespace and cgroup tree, and
// waits until the node is Ready.
func (c *Cluster) startNode(ctx context.Context) error {
	client, err := c.client()
	if err != nil {
		return err
	}
	// The Node may still say Ready from before a stop (the control plane takes some 40s to notice that a
	// node is gone, and a stopped cluster never does): only a heartbeat newer than its last one counts.
	stale, err := readyHeartbeat(ctx, client)
	if err != nil {
		return err
	}
	nsenter := []string{"nsenter", "--net=" + c.network.NSPath(), "--"}
	cfg := c.node.config()
	steps := []struct {
		name  string
		argv  []string
		ready func(context.Context) error
	}{
		{"containerd", append(nsenter, "containerd", "--config", filepath.Join(cfg, "containerd.toml")), c.containerdReady},
		{"kubelet", append(nsenter, filepath.Join(c.opts.BinDir, "kubelet"),
			"--config="+filepath.Join(cfg, "kubelet.yaml"), "--kubeconfig="+filepath.Join(cfg, "kubelet.kubeconfig"),
			"--root-dir="+c.node.kubeletRoot(), "--hostname-override="+NodeName, "--node-ip="+c.network.NodeIP), nil},
		{"kube-proxy", append(nsenter, filepath.Join(c.opts.BinDir, "kube-proxy"), "--config="+filepath.Join(cfg, "kube-proxy.yaml")), nil},
	}
	for _, step := range steps {
		c.logf("starting %s", step.name)
		cmd, err := c.startProcess(step.name, step.argv)
		if err != nil {
			return err
		}
		if err := c.cgroups.adopt(cmd.Process.Pid); err != nil {
			return err
		}
		if step.ready != nil {
			if err := waitFor(ctx, 60*time.Second, step.ready); err != nil {
				return fmt.Errorf("%s did not become ready (see %s): %w", step.name, c.LogFile(step.name), err)
			}
		}
	}
	return c.waitNodeReady(ctx, client, stale)
}

// waitNodeReady waits until the kubelet says the node is Ready, in a heartbeat newer than after.
func (c *Cluster) waitNodeReady(ctx context.Context, client kubernetes.Interface, after time.Time) error {
	return waitFor(ctx, 120*time.Second, func(ctx context.Context) error {
		heartbeat, err := readyHeartbeat(ctx, client)
		if err != nil {
			return err
		}
		if !heartbeat.After(after) {
			return fmt.Errorf("node %s is not Ready (see %s)", NodeName, c.LogFile("kubelet"))
		}
		return nil
	})
}

// readyHeartbeat is when the kubelet last said the node is Ready (to the second), or zero if the Node
// is not Ready or does not exist.
func readyHeartbeat(ctx context.Context, client kubernetes.Interface) (time.Time, error) {
	node, err := client.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
			return cond.LastHeartbeatTime.Time, nil
		}
	}
	return time.Time{}, nil
}

func (c *Cluster) containerdReady(ctx context.Context) error {
	// The socket appears before containerd's CRI plugin has initialized, which takes seconds on a busy
	// machine; a kubelet started then exits ("server is not initialized yet"). Ask the CRI, as it will.
	conn, err := grpc.NewClient("unix://"+c.node.containerdSocket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }() // a probe's connection; the answer is all it was for
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = runtimeapi.NewRuntimeServiceClient(conn).Version(ctx, &runtimeapi.VersionRequest{})
	return err
}

// stopNode stops the node and removes what it left: the tasks' and Deployments' containers get SIGTERM
// and a few seconds to finish (a worker writes its last progress), then every process in the node's
// cgroup tree is killed, its mounts unmounted, and its network namespace deleted. The pods' records stay
// with the kubelet and containerd, so after a restart the kubelet treats them as after a reboot: it
// starts the containers of pods that restart again, and reports the others as failed.
func (c *Cluster) stopNode() error {
	for _, name := range []string{"kube-proxy", "kubelet", "containerd"} {
		c.stopComponent(name)
	}
	if c.cgroups.signal("kubepods", syscall.SIGTERM) > 0 {
		// Whatever is left after the grace period is killed below.
		_ = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, podStopGrace, true, func(context.Context) (bool, error) {
			return len(c.cgroups.pids("kubepods")) == 0, nil
		})
	}
	// Only now: the pods reach the API server through these until they end.
	for _, l := range c.listeners {
		_ = l.Close()
	}
	c.listeners = nil
	_, err := c.cleanUpNode()
	return err
}
