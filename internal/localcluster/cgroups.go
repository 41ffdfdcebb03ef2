package localcluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// cgroupTree is the cgroup the node lives in, in every hierarchy: its own processes (containerd and the
// shims it starts, the kubelet, kube-proxy) in the "node" child, and the kubelet's pods in the
// "kubepods" child (the kubelet's cgroupRoot is the tree's root). One tree holding everything is what
// lets the cluster stop every process it started, shims and pods included, and leave nothing behind.
type cgroupTree struct {
	// name is the tree's path below each hierarchy's root, with a leading slash: the kubelet's cgroupRoot.
	name string
	// hierarchies are the mount points of the cgroup v1 hierarchies, or the one cgroup v2 mount.
	hierarchies []string
	v2          bool
	// hybridUnified is the cgroup v2 mount of a hybrid machine: the node does not use it, but runc puts
	// each container there too, so the tree is removed from it with the rest.
	hybridUnified string
}

// findCgroupTree finds this machine's cgroup hierarchies from the mount table. On a hybrid machine the
// kubelet uses the v1 hierarchies, so they win over the unified one.
func findCgroupTree(name string) (cgroupTree, error) {
	mounts, err := readMountInfo()
	if err != nil {
		return cgroupTree{}, err
	}
	tree := cgroupTree{name: name}
	var unified string
	for _, m := range mounts {
		switch m.fsType {
		case "cgroup":
			tree.hierarchies = append(tree.hierarchies, m.mountPoint)
		case "cgroup2":
			unified = m.mountPoint
		}
	}
	switch {
	case len(tree.hierarchies) > 0:
		tree.hybridUnified = unified
	case unified != "":
		tree.hierarchies, tree.v2 = []string{unified}, true
	default:
		return cgroupTree{}, errors.New("no cgroup file system is mounted")
	}
	slices.Sort(tree.hierarchies)
	return tree, nil
}

// create makes the tree and its "node" child in every hierarchy.
func (t cgroupTree) create() error {
	for _, h := range t.hierarchies {
		root := filepath.Join(h, t.name)
		if err := os.MkdirAll(filepath.Join(root, "node"), 0o755); err != nil {
			return err
		}
		if t.v2 {
			// The kubelet creates kubepods below the root; the controllers it needs must be enabled for it.
			controllers, err := os.ReadFile(filepath.Join(h, "cgroup.subtree_control"))
			if err != nil {
				return err
			}
			var enable []string
			for _, c := range strings.Fields(string(controllers)) {
				enable = append(enable, "+"+c)
			}
			if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0o644); err != nil {
				return fmt.Errorf("enabling cgroup controllers in %s: %w", root, err)
			}
			continue
		}
		// A new v1 cpuset starts with no CPUs and no memory nodes, and no process can join it until it
		// has some: give the tree and its node child those of the hierarchy's root.
		if filepath.Base(h) == "cpuset" {
			for _, dir := range []string{root, filepath.Join(root, "node")} {
				for _, file := range []string{"cpuset.cpus", "cpuset.mems"} {
					value, err := os.ReadFile(filepath.Join(h, file))
					if err != nil {
						return err
					}
					if err := os.WriteFile(filepath.Join(dir, file), value, 0o644); err != nil {
						return fmt.Errorf("setting %s of %s: %w", file, dir, err)
					}
				}
			}
		}
	}
	return nil
}

// adopt moves a process into the tree's node child, in every hierarchy; its children are born there.
func (t cgroupTree) adopt(pid int) error {
	for _, h := range t.hierarchies {
		procs := filepath.Join(h, t.name, "node", "cgroup.procs")
		if err := os.WriteFile(procs, []byte(strconv.Itoa(pid)), 0o644); err != nil {
			return fmt.Errorf("moving process %d into %s: %w", pid, procs, err)
		}
	}
	return nil
}

// pids lists every process in the tree's child sub ("" for the whole tree), as the first hierarchy
// sees them (each process is in every hierarchy).
func (t cgroupTree) pids(sub string) []int {
	var pids []int
	root := filepath.Join(t.hierarchies[0], t.name, sub)
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
			return nil
		}
		data, _ := os.ReadFile(path)
		for _, field := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(field); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids
}

// signal sends sig to every process in the tree's child sub ("" for the whole tree) and says how many
// there were.
func (t cgroupTree) signal(sub string, sig syscall.Signal) int {
	pids := t.pids(sub)
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
	return len(pids)
}

// killAll kills every process in the tree and waits until none is left, for up to timeout: a process
// may fork while the others are being killed, so it looks again until the tree is empty. It says how many
// it killed.
func (t cgroupTree) killAll(timeout time.Duration) (int, error) {
	killed := map[int]bool{}
	err := wait.PollUntilContextTimeout(context.Background(), killAllInterval, timeout, true, func(context.Context) (bool, error) {
		pids := t.pids("")
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			killed[pid] = true
		}
		return len(pids) == 0, nil
	})
	if err != nil {
		return len(killed), fmt.Errorf("processes still in cgroup %s after %s: %v", t.name, timeout, t.pids(""))
	}
	return len(killed), nil
}

// exists says whether the tree is there, in the first hierarchy.
func (t cgroupTree) exists() bool {
	_, err := os.Stat(filepath.Join(t.hierarchies[0], t.name))
	return err == nil
}

// killAllInterval is how often killAll looks for processes left, or forked meanwhile.
const killAllInterval = 50 * time.Millisecond

// remove removes the tree's cgroups, deepest first, in every hierarchy. They must be empty.
func (t cgroupTree) remove() error {
	var errs []error
	hierarchies := t.hierarchies
	if t.hybridUnified != "" {
		hierarchies = append(slices.Clone(hierarchies), t.hybridUnified)
	}
	for _, h := range hierarchies {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(h, t.name), func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := os.Remove(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct {
	mountPoint, fsType string
}

func readMountInfo() ([]mountInfo, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // only read
	var mounts []mountInfo
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
		fields := strings.Fields(scanner.Text())
		sep := slices.Index(fields, "-")
		if len(fields) < 5 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		mounts = append(mounts, mountInfo{mountPoint: unescapeMountPath(fields[4]), fsType: fields[sep+1]})
	}
	return mounts, scanner.Err()
}

// unescapeMountPath undoes the octal escapes (\040 for a space) the kernel writes in mountinfo paths.
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder unmounts every mount at or below the given directories, deepest first, and says how many
// there were. Detached (lazy) unmounts, so that a busy mount still goes from the tree at once.
func unmountUnder(dirs ...string) (int, error) {
	mounts, err := readMountInfo()
	if err != nil {
		return 0, err
	}
	var points []string
	for _, m := range mounts {
		for _, dir := range dirs {
			if m.mountPoint == dir || strings.HasPrefix(m.mountPoint, dir+"/") {
				points = append(points, m.mountPoint)
				break
			}
		}
	}
	// Deepest first: a longer path cannot be the parent of a shorter one.
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, p := range points {
		if err := syscall.Unmount(p, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", p, err))
		}
	}
	return len(points), errors.Join(errs...)
}
