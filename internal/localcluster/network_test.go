package localcluster

import (
	"net"
	"strings"
	"testing"
)

// TestLoadNetworkKeepsItsAddresses checks what a restart relies on: the node keeps its IP, and the link
// is in a subnet no address of this machine is in.
func TestLoadNetworkKeepsItsAddresses(t *testing.T) {
	dir := t.TempDir()
	first, err := loadNetwork(dir, "abc123")
	if err != nil {
		t.Fatal(err)
	}
	if first.Namespace != "longtask-abc123" || first.HostLink != "lt-abc123" {
		t.Errorf("got namespace %q and link %q, want them named after the cluster", first.Namespace, first.HostLink)
	}
	if len(first.HostLink) > 15 {
		t.Errorf("link name %q is longer than the 15 bytes Linux allows", first.HostLink)
	}
	nodeIP := net.ParseIP(first.NodeIP)
	if nodeIP == nil || nodeIP.IsLoopback() || !strings.HasPrefix(first.NodeIP, linkPrefix) {
		t.Errorf("node IP %q, want a non-loopback address in %s0.0/16", first.NodeIP, linkPrefix)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipnet, ok := a.(*net.IPNet); ok && ipnet.Contains(nodeIP) {
			t.Errorf("node IP %s is in %s, which this machine already has", nodeIP, ipnet)
		}
	}
	again, err := loadNetwork(dir, "other")
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("after a restart the network is %+v, want %+v as before", again, first)
	}
}

func TestUnescapeMountPath(t *testing.T) {
	for in, want := range map[string]string{
		"/run/netns/longtask-1":  "/run/netns/longtask-1",
		`/tmp/with\040space/dir`: "/tmp/with space/dir",
		`/a\011tab\134back`:      "/a\ttab\\back",
	} {
		if got := unescapeMountPath(in); got != want {
			t.Errorf("unescapeMountPath(%q) = %q, want %q", in, got, want)
		}
	}
}
