package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"
)

// Faults let a test stop a part of the running cluster and start it again, to see what the operator
// makes of it. A part stopped this way is not a failure: the cluster keeps running without it.

// FaultComponents are the parts of the cluster a fault can stop and start.
var FaultComponents = []string{"kube-apiserver", "etcd", "node"}

// nodeComponents are the node's processes, in the order the node starts them.
var nodeComponents = []string{"containerd", "kubelet", "kube-proxy"}

// faultStopGrace is how long a stopped control-plane component has between SIGTERM and SIGKILL.
const faultStopGrace = 5 * time.Second

// StopFault stops a part of the cluster and says what happened. kube-apiserver and etcd get SIGTERM,
// then SIGKILL after a few seconds. The node loses power: every process of it is killed at once (see
// powerOffNode). Stopping a part that is stopped already does nothing.
func (c *Cluster) StopFault(ctx context.Context, component string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	begin := time.Now()
	switch component {
	case "node":
		if !slices.ContainsFunc(c.procs, isNodeComponent) {
			return "node was stopped already", nil
		}
		killed, err := c.powerOffNode()
		if err != nil {
			return "", fmt.Errorf("stopping node: %w", err)
		}
		return fmt.Sprintf("node powered off: %d processes killed in %s", killed, since(begin)), nil
	case "kube-apiserver", "etcd":
		p := c.component(component)
		if p == nil || p.hasExited() {
			return component + " was stopped already", nil
		}
		p.stop(faultStopGrace)
		return fmt.Sprintf("%s stopped in %s", component, since(begin)), nil
	}
	return "", unknownComponent(component)
}

// StartFault starts a part of the cluster that StopFault stopped, as the cluster first started it, and
// returns when it is ready again: etcd when it reports healthy, kube-apiserver when it reports ready, the
// node when its Node is Ready. Starting a part that runs just waits for it to be ready.
func (c *Cluster) StartFault(ctx context.Context, component string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	begin := time.Now()
	switch component {
	case "node":
		if err := c.bootNode(ctx); err != nil {
			return "", fmt.Errorf("starting node: %w", err)
		}
		return fmt.Sprintf("node started: Ready in %s", since(begin)), nil
	case "kube-apiserver", "etcd":
		ready := map[string]func(context.Context) error{"kube-apiserver": c.apiserverReady, "etcd": c.etcdReady}[component]
		if err := c.restartProcess(component); err != nil {
			return "", err
		}
		if err := waitFor(ctx, 60*time.Second, ready); err != nil {
			return "", fmt.Errorf("%s did not become ready (see %s): %w", component, c.LogFile(component), err)
		}
		return fmt.Sprintf("%s started: ready in %s", component, since(begin)), nil
	}
	return "", unknownComponent(component)
}

func unknownComponent(component string) error {
	return fmt.Errorf("unknown component %q: a fault stops or starts one of %v", component, FaultComponents)
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

func isNodeComponent(p *component) bool { return slices.Contains(nodeComponents, p.name) }

// component is the running or stopped component name, or nil if the cluster has none of that name.
func (c *Cluster) component(name string) *component {
	for _, p := range c.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

func (p *component) hasExited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// restartProcess starts a stopped component again with the same command line, in its place among the
// components, so that the cluster still stops them in the reverse order of their first start. A component
// that runs is left alone.
func (c *Cluster) restartProcess(name string) error {
	i := slices.IndexFunc(c.procs, func(p *component) bool { return p.name == name })
	if i < 0 {
		return fmt.Errorf("the cluster has no %s to start", name)
	}
	if !c.procs[i].hasExited() {
		return nil
	}
	c.logf("starting %s again", name)
	p, err := c.spawn(name, c.procs[i].cmd.Args)
	if err != nil {
		return err
	}
	c.procs[i] = p
	return nil
}

// powerOffNode does to the node what a power loss does: every process in its cgroup tree (containerd,
// its shims, the kubelet, kube-proxy and every container) is killed at once, and what does not outlive
// a power loss goes too: the mounts (containers' root file systems, pods' volumes and network
// namespaces), the node's /run directory and its cgroups. Its state stays (images, containerd's and the
// kubelet's records, pod logs), and so does its network namespace, which holds the cluster's listeners
// joining it to the API server and the registry. It says how many processes it killed.
func (c *Cluster) powerOffNode() (int, error) {
	var procs []*component
	c.procs = slices.DeleteFunc(c.procs, func(p *component) bool {
		if !isNodeComponent(p) {
			return false
		}
		p.stopping.Store(true)
		procs = append(procs, p)
		return true
	})
	killed, err := c.cgroups.killAll(10 * time.Second)
	for _, p := range procs {
		// In the tree, so killed already, unless it never got there.
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
	_, unmountErr := unmountUnder(c.node.state, c.node.run)
	return killed, errors.Join(err, unmountErr, os.RemoveAll(c.node.run), c.cgroups.remove())
}

// bootNode starts the node after powerOffNode, as the cluster first started it, and waits until it is
// Ready. A node that runs is only waited for; one that runs in part (a boot that failed) is powered off
// first.
func (c *Cluster) bootNode(ctx context.Context) error {
	running := 0
	for _, p := range c.procs {
		if isNodeComponent(p) && !p.hasExited() {
			running++
		}
	}
	if running == len(nodeComponents) {
		client, err := c.client()
		if err != nil {
			return err
		}
		return c.waitNodeReady(ctx, client, time.Time{})
	}
	if slices.ContainsFunc(c.procs, isNodeComponent) {
		if _, err := c.powerOffNode(); err != nil {
			return err
		}
	}
	if err := c.cgroups.create(); err != nil {
		return fmt.Errorf("creating the node's cgroups: %w", err)
	}
	if err := c.writeNodeConfig(); err != nil {
		return err
	}
	return c.startNode(ctx)
}
