package localcluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// The node's network, inside its own network namespace, as a node container's is in kind:
//
//	host  <-- veth (linkSubnet) -->  node namespace: eth0 (the node IP), cni0 (the pods' bridge)
//
// Nothing is routed off this machine: the node namespace has routes only to the link, the pods' bridge
// and the service range, forwards nothing through eth0, and masquerades nothing; the host has no route to
// the pods. The kubelet and the pods reach the API server, and containerd the registry, through
// listeners that the cluster opens inside the namespace and joins to the host's loopback (netns.go).
const (
	// podSubnet is the pods' range on the node's bridge.
	podSubnet = "10.244.0.0/24"
	// serviceSubnet is the ClusterIP range; the first address is the API server's Service.
	serviceSubnet = "10.96.0.0/16"
	// linkPrefix is where the host-node links are numbered from: cluster N gets 10.250.N.0/30.
	linkPrefix = "10.250."
)

// network is one cluster's node network, kept in the state directory so that a restart recreates it
// with the same node IP.
type network struct {
	// Namespace is the name of the node's network namespace (ip netns).
	Namespace string
	// HostLink is the host's end of the veth pair.
	HostLink string
	// HostIP and NodeIP are the two ends' addresses.
	HostIP, NodeIP string
}

// NSPath is where the namespace is mounted.
func (n network) NSPath() string { return filepath.Join("/run/netns", n.Namespace) }

// loadNetwork reads the network from the state directory, or picks a link subnet that no address on
// this machine is in and keeps it there.
func loadNetwork(stateDir, id string) (network, error) {
	path := filepath.Join(stateDir, "network.json")
	var n network
	if data, err := os.ReadFile(path); err == nil {
		return n, json.Unmarshal(data, &n)
	} else if !errors.Is(err, os.ErrNotExist) {
		return n, err
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return n, err
	}
	for i := range 256 {
		_, subnet, _ := net.ParseCIDR(fmt.Sprintf("%s%d.0/24", linkPrefix, i))
		if !slices.ContainsFunc(addrs, func(a net.Addr) bool {
			ipnet, ok := a.(*net.IPNet)
			return ok && (subnet.Contains(ipnet.IP) || ipnet.Contains(subnet.IP))
		}) {
			n = network{
				Namespace: "longtask-" + id, HostLink: "lt-" + id,
				HostIP: fmt.Sprintf("%s%d.1", linkPrefix, i), NodeIP: fmt.Sprintf("%s%d.2", linkPrefix, i),
			}
			data, err := json.Marshal(n)
			if err != nil {
				return n, err
			}
			return n, os.WriteFile(path, data, 0o600)
		}
	}
	return n, fmt.Errorf("every subnet %s0.0/16 is in use on this machine", linkPrefix)
}

// create makes the namespace and the link, and the routes and rules described above.
func (n network) create() error {
	ns := n.Namespace
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", n.HostLink, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "addr", "add", n.HostIP + "/30", "dev", n.HostLink},
		{"ip", "link", "set", n.HostLink, "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", n.NodeIP + "/30", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		// A connection the node makes to a ClusterIP needs a route before kube-proxy's rules rewrite its
		// destination: the pods' bridge, made here before the CNI plugin would, leads nowhere else.
		{"ip", "-n", ns, "link", "add", "cni0", "type", "bridge"},
		{"ip", "-n", ns, "link", "set", "cni0", "up"},
		{"ip", "-n", ns, "route", "add", serviceSubnet, "dev", "cni0"},
		// The bridge plugin turns forwarding on for the pods; none of it may leave through the link.
		{"ip", "netns", "exec", ns, "iptables", "-I", "FORWARD", "-o", "eth0", "-j", "DROP"},
		{"ip", "netns", "exec", ns, "iptables", "-I", "FORWARD", "-i", "eth0", "-j", "DROP"},
	}
	for _, step := range steps {
		if out, err := exec.Command(step[0], step[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %w: %s", strings.Join(step, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// remove deletes the namespace, which takes the link, its routes and every rule inside with it, and says
// what it deleted. It is not an error if there is none.
func (n network) remove() ([]string, error) {
	var removed []string
	if _, err := os.Stat(n.NSPath()); err == nil {
		if out, err := exec.Command("ip", "netns", "delete", n.Namespace).CombinedOutput(); err != nil {
			return removed, fmt.Errorf("ip netns delete %s: %w: %s", n.Namespace, err, strings.TrimSpace(string(out)))
		}
		removed = append(removed, "network namespace "+n.Namespace)
	}
	// The link goes with the namespace, but not at once: the kernel frees a namespace in the background
	// (some 100ms after a node's, with its pods' namespaces), and not while anything still holds it. A start
	// that made the link again before then failed: "ip link add ...: RTNETLINK answers: File exists".
	if n.waitLinkGone(linkGoneTimeout) {
		return removed, nil
	}
	// Deleting one end of a veth pair deletes both, wherever the other is.
	out, err := exec.Command("ip", "link", "delete", n.HostLink).CombinedOutput()
	if n.waitLinkGone(linkGoneTimeout) {
		return append(removed, "link "+n.HostLink), nil
	}
	if err != nil {
		return removed, fmt.Errorf("ip link delete %s: %w: %s", n.HostLink, err, strings.TrimSpace(string(out)))
	}
	return removed, fmt.Errorf("link %s is still there after ip link delete", n.HostLink)
}

// linkGoneTimeout bounds the wait for the kernel to delete the host's link.
const linkGoneTimeout = 5 * time.Second

// waitLinkGone waits until the host has no link named HostLink, and says whether that happened in time.
func (n network) waitLinkGone(timeout time.Duration) bool {
	err := wait.PollUntilContextTimeout(context.Background(), waitForInterval/4, timeout, true, func(context.Context) (bool, error) {
		_, err := net.InterfaceByName(n.HostLink)
		return err != nil, nil
	})
	return err == nil
}
