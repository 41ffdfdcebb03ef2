package localcluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A cluster that was killed (kill -9, a crash, a write to a closed terminal before it handled SIGPIPE)
// leaves its node behind: containerd's shims and the containers under them, their mounts, the network
// namespace and the host's end of its link, the cgroups. The next start on the same state directory
// removes all of it first, and says what it found. The state directory's lock tells such leftovers from a
// cluster that is still running there.

// lockState takes the state directory's lock, which a running cluster holds until it stops or dies (the
// kernel drops the lock with the last file descriptor, and none is passed to the cluster's processes),
// and writes this process's ID in it. A second start on the same state directory must not take the first
// one's node apart as leftovers: it gets an error naming the process that runs the cluster.
func lockState(stateDir string) (*os.File, error) {
	path := filepath.Join(stateDir, "lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path) // only for the message
		_ = f.Close()                  // never written
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("a cluster is already running with the state directory %s (process %s): stop it first", stateDir, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return f, nil
}

// leftovers are what a cleanup of the node found and removed.
type leftovers struct {
	// processes is how many processes were killed in the node's cgroup tree.
	processes int
	// mounts is how many mounts were unmounted under the node's directories.
	mounts int
	// network names the network namespace and host link that were deleted.
	network []string
	// cgroups is the cgroup tree, if it was there.
	cgroups string
}

// String says what was removed, or "" if nothing was.
func (l leftovers) String() string {
	var what []string
	if l.processes > 0 {
		what = append(what, fmt.Sprintf("%d processes", l.processes))
	}
	if l.mounts > 0 {
		what = append(what, fmt.Sprintf("%d mounts", l.mounts))
	}
	what = append(what, l.network...)
	if l.cgroups != "" {
		what = append(what, "cgroup "+l.cgroups)
	}
	return strings.Join(what, ", ")
}

// cleanUpNode removes everything a node may have left, whether it stopped or crashed: processes, mounts,
// the network namespace and its link, and the cgroup tree, and says what it found. It is what a start
// does first, too.
func (c *Cluster) cleanUpNode() (leftovers, error) {
	var left leftovers
	var errs []error
	if c.cgroups.exists() {
		left.cgroups = c.cgroups.name
	}
	var err error
	left.processes, err = c.cgroups.killAll(10 * time.Second)
	errs = append(errs, err)
	left.mounts, err = unmountUnder(c.node.state, c.node.run)
	errs = append(errs, err)
	left.network, err = c.network.remove()
	errs = append(errs, err)
	errs = append(errs, c.cgroups.remove(), os.RemoveAll(c.node.run))
	_ = os.Remove(filepath.Dir(c.node.run)) // when no other cluster runs
	errs = append(errs, c.removeKubeletLeftovers())
	if err := errors.Join(errs...); err != nil {
		return left, fmt.Errorf("cleaning up the node: %w", err)
	}
	return left, nil
}

// The kubelet keeps two things at fixed places, whatever its root directory: a link to each container's
// log in /var/log/containers (for log collectors), and its device plugin socket.
const (
	containerLogLinks   = "/var/log/containers"
	devicePluginsSocket = "/var/lib/kubelet/device-plugins/kubelet.sock"
)

// removeKubeletLeftovers removes the node's links to its container logs and the kubelet's device plugin
// socket if no kubelet serves it, and their directories when nothing else is in them.
func (c *Cluster) removeKubeletLeftovers() error {
	links, err := os.ReadDir(containerLogLinks)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	for _, link := range links {
		path := filepath.Join(containerLogLinks, link.Name())
		if target, err := os.Readlink(path); err == nil && strings.HasPrefix(target, c.node.podLogs()+"/") {
			if err := os.Remove(path); err != nil {
				return err
			}
		}
	}
	// Another cluster's kubelet (another state directory) may be serving it: only a socket nobody answers
	// on is a leftover.
	if conn, err := net.DialTimeout("unix", devicePluginsSocket, time.Second); err == nil {
		_ = conn.Close() // a probe's connection
	} else if err := os.Remove(devicePluginsSocket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// Removing a directory that is not empty fails, and that is as it should be: something else uses it.
	for _, dir := range []string{containerLogLinks, filepath.Dir(devicePluginsSocket), filepath.Dir(filepath.Dir(devicePluginsSocket))} {
		_ = os.Remove(dir)
	}
	return nil
}
