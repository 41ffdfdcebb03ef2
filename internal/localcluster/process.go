package localcluster

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sync/atomic"
	"syscall"
	"time"
)

// component is a process the cluster started and waits for.
type component struct {
	name string
	cmd  *exec.Cmd
	// exited is closed when the process has exited; stopping says the cluster asked it to.
	exited   chan struct{}
	stopping atomic.Bool
}

// stopComponent stops one running component, if it runs.
func (c *Cluster) stopComponent(name string) {
	for i, p := range c.procs {
		if p.name == name {
			p.stop(10 * time.Second)
			c.procs = slices.Delete(c.procs, i, i+1)
			return
		}
	}
}

// stop stops the process: SIGTERM, then SIGKILL after grace.
func (p *component) stop(grace time.Duration) {
	p.stopping.Store(true)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// startProcess starts argv as the component name, its output going to the component's log file.
func (c *Cluster) startProcess(name string, argv []string) (*exec.Cmd, error) {
	p, err := c.spawn(name, argv)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p.cmd, nil
}

// spawn starts argv as the component name and watches it: if it exits without being stopped, Failed
// says so.
func (c *Cluster) spawn(name string, argv []string) (*component, error) {
	logFile, err := os.OpenFile(c.LogFile(name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	// The process has its own copy of the file once started; closing ours loses nothing it writes.
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Their own process group, so that Ctrl-C reaches only this program, which stops them in order; and
	// they die with it if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w (make dev and make test-e2e build and install what it needs)", name, err)
	}
	p := &component{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
		if !p.stopping.Load() {
			select {
			case c.failed <- name:
			default: // one is enough to say the cluster is broken
			}
		}
	}()
	return p, nil
}
