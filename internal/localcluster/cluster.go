package localcluster

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configure a local cluster.
type Options struct {
	// StateDir holds everything the cluster keeps: certificates, etcd's data, the registry's blobs, the
	// node's images and records, kubeconfigs and logs.
	StateDir string
	// BinDir holds etcd and the Kubernetes components (hack/build-controlplane.sh).
	BinDir string
	// Images is an OCI image layout (make images) whose images the cluster's registry serves.
	Images string
	// Log receives what the cluster is doing, for people.
	Log io.Writer
}

// Cluster is a running local cluster: a control plane on loopback, a registry, and one node.
type Cluster struct {
	opts Options
	// lock is the state directory's, held while the cluster runs (lockState).
	lock *os.File
	// mu serializes faults with each other and with Stop: they all change procs.
	mu      sync.Mutex
	certs   certs
	ports   ports
	network network
	cgroups cgroupTree
	node    nodeDirs
	// procs are the running components, in the order they started.
	procs []*component
	// failed receives the name of the first component that exits without being stopped.
	failed chan string
	// listeners join the node's network namespace to the host's loopback.
	listeners []net.Listener
	registry  *http.Server
	images    map[string]string
}

// ports are the loopback ports the components listen on; kept in the state directory so that a
// restarted cluster answers where its kubeconfig says.
type ports struct {
	EtcdClient, EtcdPeer, APIServer, ControllerManager, Scheduler, Registry int
}

// Start starts the control plane, the registry and the node, pushes the images, and returns when the node
// is Ready. It first removes whatever an earlier run that did not stop cleanly left behind, and says so;
// it refuses to start while another cluster runs with the same state directory.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c, err := open(opts)
	if err != nil {
		return nil, err
	}
	if err := c.start(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	c.logf("cluster ready: API server %s, registry %s, node %s (%s)", c.APIServerURL(), c.RegistryName(), NodeName, c.network.NodeIP)
	return c, nil
}

// open takes the state directory for a cluster that is about to start: its lock, and what it keeps there,
// and removes what an earlier run left of the node. Stop undoes it.
func open(opts Options) (*Cluster, error) {
	stateDir, err := filepath.Abs(opts.StateDir)
	if err != nil {
		return nil, err
	}
	opts.StateDir = stateDir
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	lock, err := lockState(stateDir)
	if err != nil {
		return nil, err
	}
	// Names on the machine (network namespace, cgroup, /run directory) come from the state directory,
	// so that two clusters with different state never meet.
	sum := sha256.Sum256([]byte(stateDir))
	id := hex.EncodeToString(sum[:3])
	c := &Cluster{
		opts:   opts,
		lock:   lock,
		failed: make(chan string, 1),
		certs:  certs{dir: filepath.Join(stateDir, "pki")},
		node:   nodeDirs{state: filepath.Join(stateDir, "node"), run: filepath.Join("/run/longtask", id)},
	}
	if err := c.prepare(id); err != nil {
		_ = lock.Close() // releases the lock; nothing was written through it since
		return nil, err
	}
	return c, nil
}

// prepare reads or makes what the cluster keeps in its state directory (ports, network, certificates,
// kubeconfigs), and removes what an earlier run left of the node.
func (c *Cluster) prepare(id string) error {
	stateDir := c.opts.StateDir
	for _, dir := range []string{"logs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(stateDir, dir), 0o700); err != nil {
			return err
		}
	}
	if err := c.loadPorts(); err != nil {
		return err
	}
	var err error
	if c.network, err = loadNetwork(stateDir, id); err != nil {
		return err
	}
	if c.cgroups, err = findCgroupTree("/longtask-" + id); err != nil {
		return err
	}
	if err := c.certs.ensure(c.network.NodeIP); err != nil {
		return fmt.Errorf("creating certificates: %w", err)
	}
	for _, kc := range []struct{ file, cert string }{{"kubeconfig", "admin"}, {"controller-manager.kubeconfig", "controller-manager"}, {"scheduler.kubeconfig", "scheduler"}} {
		if err := c.writeKubeconfig(filepath.Join(stateDir, kc.file), c.APIServerURL(), kc.cert); err != nil {
			return err
		}
	}
	left, err := c.cleanUpNode()
	if err != nil {
		return fmt.Errorf("removing what an earlier run left: %w", err)
	}
	if what := left.String(); what != "" {
		c.logf("an earlier run of %s did not stop cleanly; removed what it left: %s", stateDir, what)
	}
	return nil
}

func (c *Cluster) start(ctx context.Context) error {
	if err := c.network.create(); err != nil {
		return fmt.Errorf("creating the node's network: %w", err)
	}
	if err := c.cgroups.create(); err != nil {
		return fmt.Errorf("creating the node's cgroups: %w", err)
	}
	if err := c.startRegistry(); err != nil {
		return err
	}
	// The kubelet and kube-proxy reach the API server at 127.0.0.1 in the node's namespace, and the pods
	// at the node IP (the address the API server advertises for its Service); containerd reaches the
	// registry at its host address.
	for _, join := range []struct{ nodeAddr, hostAddr string }{
		{fmt.Sprintf("0.0.0.0:%d", c.ports.APIServer), fmt.Sprintf("127.0.0.1:%d", c.ports.APIServer)},
		{c.RegistryHost(), c.RegistryHost()},
	} {
		l, err := listenIn(c.network.NSPath(), join.nodeAddr)
		if err != nil {
			return fmt.Errorf("listening in the node's network namespace: %w", err)
		}
		c.listeners = append(c.listeners, l)
		hostAddr := join.hostAddr
		go forward(l, func(ctx context.Context) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", hostAddr)
		}, c.logf)
	}

	steps := []struct {
		name  string
		args  []string
		ready func(context.Context) error
	}{
		{"etcd", c.etcdArgs(), c.etcdReady},
		{"kube-apiserver", c.apiserverArgs(), c.apiserverReady},
		{"kube-controller-manager", c.controllerManagerArgs(), nil},
		{"kube-scheduler", c.schedulerArgs(), nil},
	}
	for _, step := range steps {
		c.logf("starting %s", step.name)
		if _, err := c.startProcess(step.name, append([]string{filepath.Join(c.opts.BinDir, step.name)}, step.args...)); err != nil {
			return err
		}
		if step.ready == nil {
			continue
		}
		if err := waitFor(ctx, 60*time.Second, step.ready); err != nil {
			return fmt.Errorf("%s did not become ready (see %s): %w", step.name, c.LogFile(step.name), err)
		}
	}

	if err := c.pushImages(ctx); err != nil {
		return err
	}
	if err := c.writeNodeConfig(); err != nil {
		return err
	}
	return c.startNode(ctx)
}

// Kubeconfig is the path of an admin kubeconfig for the cluster.
func (c *Cluster) Kubeconfig() string { return filepath.Join(c.opts.StateDir, "kubeconfig") }

// APIServerURL is where the API server listens.
func (c *Cluster) APIServerURL() string {
	return fmt.Sprintf("https://127.0.0.1:%d", c.ports.APIServer)
}

// StateDir is the cluster's state directory, as an absolute path.
func (c *Cluster) StateDir() string { return c.opts.StateDir }

// Failed receives the name of a component (etcd, the kubelet, containerd, ...) that exited while the
// cluster runs: the cluster is then broken, and its log says why.
func (c *Cluster) Failed() <-chan string { return c.failed }

func (c *Cluster) client() (kubernetes.Interface, error) {
	config, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig())
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(config)
}

// LogFile is where a component's output goes.
func (c *Cluster) LogFile(component string) string {
	return filepath.Join(c.opts.StateDir, "logs", component+".log")
}

// Stop stops the node, cleaning up after it, then the control plane in the reverse order of its start
// (SIGTERM, then SIGKILL after 10s), then the registry.
func (c *Cluster) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.stopNode(); err != nil {
		c.logf("%v", err)
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		c.procs[i].stop(10 * time.Second)
	}
	c.procs = nil
	c.stopRegistry()
	if c.lock != nil {
		_ = c.lock.Close() // releases the lock; the process ID in it was written at start
		c.lock = nil
	}
}

func (c *Cluster) etcdArgs() []string {
	client := fmt.Sprintf("http://127.0.0.1:%d", c.ports.EtcdClient)
	peer := fmt.Sprintf("http://127.0.0.1:%d", c.ports.EtcdPeer)
	return []string{
		"--name=longtask-dev", "--data-dir=" + filepath.Join(c.opts.StateDir, "etcd"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=longtask-dev=" + peer,
		// A development cluster trades durability on power loss for speed.
		"--unsafe-no-fsync",
	}
}

func (c *Cluster) apiserverArgs() []string {
	return []string{
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", c.ports.EtcdClient),
		// The API server listens on the host's loopback only; the node IP it advertises for its Service
		// (which pods reach it by) is joined to that in the node's namespace.
		"--bind-address=127.0.0.1", "--advertise-address=" + c.network.NodeIP,
		fmt.Sprintf("--secure-port=%d", c.ports.APIServer),
		"--tls-cert-file=" + c.certs.path("apiserver.crt"), "--tls-private-key-file=" + c.certs.path("apiserver.key"),
		"--client-ca-file=" + c.certs.path("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.certs.path("sa.pub"),
		"--service-account-signing-key-file=" + c.certs.path("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		// For kubectl logs, exec and port-forward: the API server reaches the kubelet at the node IP, checks
		// its serving certificate, and shows its own client certificate, which the kubelet authorizes.
		"--kubelet-client-certificate=" + c.certs.path("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + c.certs.path("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + c.certs.path("ca.crt"),
		"--kubelet-preferred-address-types=InternalIP",
	}
}

func (c *Cluster) controllerManagerArgs() []string {
	kubeconfig := filepath.Join(c.opts.StateDir, "controller-manager.kubeconfig")
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", c.ports.ControllerManager),
		"--service-account-private-key-file=" + c.certs.path("sa.key"),
		"--root-ca-file=" + c.certs.path("ca.crt"),
		"--use-service-account-credentials=true",
	}
}

func (c *Cluster) schedulerArgs() []string {
	kubeconfig := filepath.Join(c.opts.StateDir, "scheduler.kubeconfig")
	return []string{
		"--kubeconfig=" + kubeconfig,
		"--authentication-kubeconfig=" + kubeconfig, "--authorization-kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", c.ports.Scheduler),
	}
}

func (c *Cluster) etcdReady(ctx context.Context) error {
	return httpGet(ctx, http.DefaultClient, fmt.Sprintf("http://127.0.0.1:%d/health", c.ports.EtcdClient))
}

func (c *Cluster) apiserverReady(ctx context.Context) error {
	client, err := c.adminHTTPClient()
	if err != nil {
		return err
	}
	return httpGet(ctx, client, c.APIServerURL()+"/readyz")
}

func (c *Cluster) adminHTTPClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(c.certs.path("admin.crt"), c.certs.path("admin.key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(c.certs.path("ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12,
	}}}, nil
}

func httpGet(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return fmt.Errorf("%s: %s: %s", url, resp.Status, body)
	}
	return nil
}

func waitFor(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, waitForInterval, timeout, true, func(ctx context.Context) (bool, error) {
		last = check(ctx)
		return last == nil, nil
	})
	if err != nil && last != nil {
		return last
	}
	return err
}

// waitForInterval is how often waitFor checks.
const waitForInterval = 200 * time.Millisecond

// writeKubeconfig writes a kubeconfig for server that authenticates with one of the cluster's client
// certificates.
func (c *Cluster) writeKubeconfig(path, server, cert string) error {
	config := clientcmdapi.NewConfig()
	config.Clusters["longtask-dev"] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: c.certs.path("ca.crt")}
	config.AuthInfos[cert] = &clientcmdapi.AuthInfo{ClientCertificate: c.certs.path(cert + ".crt"), ClientKey: c.certs.path(cert + ".key")}
	config.Contexts["longtask-dev"] = &clientcmdapi.Context{Cluster: "longtask-dev", AuthInfo: cert}
	config.CurrentContext = "longtask-dev"
	return clientcmd.WriteToFile(*config, path)
}

// loadPorts reads the ports from the state directory and picks a free one for any it does not have yet
// (a state directory from an older version lacks some).
func (c *Cluster) loadPorts() error {
	path := filepath.Join(c.opts.StateDir, "ports.json")
	data, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(data, &c.ports); err != nil {
			return fmt.Errorf("reading %s: %w", path, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fields := []*int{&c.ports.EtcdClient, &c.ports.EtcdPeer, &c.ports.APIServer, &c.ports.ControllerManager, &c.ports.Scheduler, &c.ports.Registry}
	// Twice as many as needed, so that the ones a stopped cluster keeps but does not listen on now
	// can be skipped.
	free, err := FreePorts(2 * len(fields))
	if err != nil {
		return err
	}
	for _, port := range fields {
		for *port == 0 {
			if p := free[0]; !slices.ContainsFunc(fields, func(f *int) bool { return *f == p }) {
				*port = p
			}
			free = free[1:]
		}
	}
	data, err = json.Marshal(c.ports)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// FreePorts asks the kernel for n free loopback ports. Holding the listeners until all are chosen keeps
// the ports distinct.
func FreePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			_ = l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (c *Cluster) logf(format string, a ...any) {
	if c.opts.Log != nil {
		fmt.Fprintf(c.opts.Log, "localcluster: "+format+"\n", a...)
	}
}
