package localcluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Options configure a local cluster.
type Options struct {
	// StateDir holds everything the cluster keeps: certificates, etcd's data, kubeconfigs and logs.
	StateDir string
	// BinDir holds etcd, kube-apiserver, kube-controller-manager and kube-scheduler.
	BinDir string
	// Log receives what the cluster is doing, for people.
	Log io.Writer
}

// Cluster is a running local control plane.
type Cluster struct {
	opts  Options
	certs certs
	ports ports
	procs []*exec.Cmd
}

// ports are the loopback ports the components listen on; kept in the state directory so that a
// restarted cluster answers where its kubeconfig says.
type ports struct {
	EtcdClient, EtcdPeer, APIServer, ControllerManager, Scheduler int
	// Node is where the local node serves container logs.
	Node int
}

// Start starts etcd, kube-apiserver, kube-controller-manager and kube-scheduler and returns when the
// API server is ready.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	c := &Cluster{opts: opts, certs: certs{dir: filepath.Join(opts.StateDir, "pki")}}
	for _, dir := range []string{"logs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(opts.StateDir, dir), 0o700); err != nil {
			return nil, err
		}
	}
	if err := c.certs.ensure(); err != nil {
		return nil, fmt.Errorf("creating certificates: %w", err)
	}
	if err := c.loadPorts(); err != nil {
		return nil, err
	}
	for _, kc := range []struct{ file, cert string }{{"kubeconfig", "admin"}, {"controller-manager.kubeconfig", "controller-manager"}, {"scheduler.kubeconfig", "scheduler"}} {
		if err := c.writeKubeconfig(filepath.Join(opts.StateDir, kc.file), kc.cert); err != nil {
			return nil, err
		}
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
		if err := c.start(step.name, step.args); err != nil {
			c.Stop()
			return nil, err
		}
		if step.ready == nil {
			continue
		}
		if err := waitFor(ctx, 60*time.Second, step.ready); err != nil {
			c.Stop()
			return nil, fmt.Errorf("%s did not become ready (see %s): %w", step.name, c.LogFile(step.name), err)
		}
	}
	c.logf("control plane ready at %s", c.APIServerURL())
	return c, nil
}

// Kubeconfig is the path of an admin kubeconfig for the cluster.
func (c *Cluster) Kubeconfig() string { return filepath.Join(c.opts.StateDir, "kubeconfig") }

// APIServerURL is where the API server listens.
func (c *Cluster) APIServerURL() string {
	return fmt.Sprintf("https://127.0.0.1:%d", c.ports.APIServer)
}

// APIServerPort is the API server's port on 127.0.0.1.
func (c *Cluster) APIServerPort() int { return c.ports.APIServer }

// NodePort is a free port kept for the local node's log server.
func (c *Cluster) NodePort() int { return c.ports.Node }

// CAFile is the cluster CA's certificate.
func (c *Cluster) CAFile() string { return c.certs.path("ca.crt") }

// AdminCert returns the admin client certificate and key files, which the API server also presents to
// the local node when it asks for logs.
func (c *Cluster) AdminCert() (string, string) {
	return c.certs.path("admin.crt"), c.certs.path("admin.key")
}

// LogFile is where a component's output goes.
func (c *Cluster) LogFile(component string) string {
	return filepath.Join(c.opts.StateDir, "logs", component+".log")
}

// Stop stops the components in the reverse order of their start: SIGTERM, then SIGKILL after 10s.
func (c *Cluster) Stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		stopProcess(c.procs[i], 10*time.Second)
	}
	c.procs = nil
}

func stopProcess(cmd *exec.Cmd, grace time.Duration) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (c *Cluster) start(name string, args []string) error {
	logFile, err := os.OpenFile(c.LogFile(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.opts.BinDir, name), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Their own process group, so that Ctrl-C reaches only this program, which stops them in order; and
	// they die with it if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting %s: %w (run make controlplane to build it)", name, err)
	}
	logFile.Close()
	c.procs = append(c.procs, cmd)
	return nil
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
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", c.ports.APIServer),
		"--tls-cert-file=" + c.certs.path("apiserver.crt"), "--tls-private-key-file=" + c.certs.path("apiserver.key"),
		"--client-ca-file=" + c.certs.path("ca.crt"),
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.certs.path("sa.pub"),
		"--service-account-signing-key-file=" + c.certs.path("sa.key"),
		"--service-cluster-ip-range=10.96.0.0/16",
		"--authorization-mode=Node,RBAC",
		"--allow-privileged=true",
		// For kubectl logs: the API server reaches the local node as a client with the admin certificate.
		"--kubelet-client-certificate=" + c.certs.path("admin.crt"), "--kubelet-client-key=" + c.certs.path("admin.key"),
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
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) writeKubeconfig(path, cert string) error {
	config := clientcmdapi.NewConfig()
	config.Clusters["longtask-dev"] = &clientcmdapi.Cluster{Server: c.APIServerURL(), CertificateAuthority: c.certs.path("ca.crt")}
	config.AuthInfos[cert] = &clientcmdapi.AuthInfo{ClientCertificate: c.certs.path(cert + ".crt"), ClientKey: c.certs.path(cert + ".key")}
	config.Contexts["longtask-dev"] = &clientcmdapi.Context{Cluster: "longtask-dev", AuthInfo: cert}
	config.CurrentContext = "longtask-dev"
	return clientcmd.WriteToFile(*config, path)
}

func (c *Cluster) loadPorts() error {
	path := filepath.Join(c.opts.StateDir, "ports.json")
	data, err := os.ReadFile(path)
	if err == nil {
		if err := json.Unmarshal(data, &c.ports); err != nil || c.ports.Node != 0 {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	free, err := freePorts(6)
	if err != nil {
		return err
	}
	if c.ports.APIServer == 0 {
		c.ports = ports{EtcdClient: free[0], EtcdPeer: free[1], APIServer: free[2], ControllerManager: free[3], Scheduler: free[4]}
	}
	c.ports.Node = free[5]
	data, err = json.Marshal(c.ports)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// freePorts asks the kernel for n free loopback ports. Holding the listeners until all are chosen keeps
// the ports distinct.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func (c *Cluster) logf(format string, a ...any) {
	if c.opts.Log != nil {
		fmt.Fprintf(c.opts.Log, "localcluster: "+format+"\n", a...)
	}
}
