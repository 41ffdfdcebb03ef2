package integration

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	"k8s.io/client-go/tools/clientcmd"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/manager"
	testutil "github.com/longtask-dev/longtask/internal/testing"
)

// flakyProxy forwards TCP connections to the API server while it is up; while it is down it drops every
// connection, as an unreachable API server would look to a worker.
type flakyProxy struct {
	listener net.Listener
	target   string

	mu    sync.Mutex
	up    bool
	conns map[net.Conn]struct{}
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{listener: listener, target: target, up: true, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { listener.Close(); p.setUp(false) })
	go p.serve()
	return p
}

func (p *flakyProxy) serve() {
	for {
		client, err := p.listener.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		if up {
			p.conns[client] = struct{}{}
		}
		p.mu.Unlock()
		if !up {
			client.Close()
			continue
		}
		go func() {
			server, err := net.Dial("tcp", p.target)
			if err != nil {
				client.Close()
				return
			}
			p.mu.Lock()
			p.conns[server] = struct{}{}
			p.mu.Unlock()
			go func() { _, _ = io.Copy(server, client); server.Close() }()
			_, _ = io.Copy(client, server)
			client.Close()
		}()
	}
}

// setUp brings the proxy up or down; going down cuts the open connections too.
func (p *flakyProxy) setUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]struct{}{}
	}
}

func TestWorkerWritesTheFinalStateWhenTheAPIServerComesBack(t *testing.T) {
	t.Parallel()
	ns := fw.ManagedNamespace(t, manager.Options{})
	marker := filepath.Join(t.TempDir(), "first-report")
	program := fmt.Sprintf(`echo "::progress 1/3 started"; touch %s; sleep 2; echo "::progress 3/3 done"; echo '::result {"ok": true}'`, marker)
	task := testutil.MakeLongTask("outage", ns).ProgressInterval(100*time.Millisecond).Command("sh", "-c", program).Obj()
	fw.Create(t, task)
	job := fw.WaitForJob(t, task)

	apiServer, err := url.Parse(fw.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newFlakyProxy(t, apiServer.Host)
	config, err := clientcmd.LoadFromFile(fw.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, cluster := range config.Clusters {
		cluster.Server = "https://" + proxy.listener.Addr().String()
	}
	proxied := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*config, proxied); err != nil {
		t.Fatal(err)
	}

	cmd := taskContainerCommand(t, job)
	useKubeconfig(cmd, proxied)
	var output strings.Builder
	cmd.Stdout, cmd.Stderr = &output, &output
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()

	// The API server goes away once the task is under way, and comes back after the task ended.
	waitForFile(t, marker)
	time.Sleep(300 * time.Millisecond)
	proxy.setUp(false)
	time.Sleep(3 * time.Second)
	proxy.setUp(true)

	if err := <-done; err != nil {
		t.Fatalf("the worker failed: %v\n%s", err, output.String())
	}
	if !strings.Contains(output.String(), "will retry") {
		t.Errorf("the worker never saw the API server go away; output:\n%s", output.String())
	}
	fw.EventuallyTask(t, task, func(g gomega.Gomega, got *longtaskv1.LongTask) {
		g.Expect(got.Status.Progress).NotTo(gomega.BeNil())
		g.Expect(got.Status.Progress.Summary).To(gomega.Equal("3/3 (100%)"), "the final state was lost")
		g.Expect(got.Status.Result).To(gomega.Equal(`{"ok": true}`), "the result was lost")
	})
}
