package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/longtask-dev/longtask/internal/localcluster"
)

// process is a program the benchmark started, logging to a file of the work directory.
type process struct {
	name string
	cmd  *exec.Cmd
	log  string
}

// deployedGoMemLimit is the GOMEMLIMIT the manager and the UI run with as config/ deploys them: their
// containers' memory limit.
const deployedGoMemLimit = "GOMEMLIMIT=256MiB"

func startProcess(opts benchOptions, name string, argv ...string) (*process, error) {
	return startProcessWithEnv(opts, name, nil, argv...)
}

func startProcessWithEnv(opts benchOptions, name string, env []string, argv ...string) (*process, error) {
	logPath := filepath.Join(opts.workDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	// The process has its own copy of the file once started; closing ours loses nothing it writes.
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	return &process{name: name, cmd: cmd, log: logPath}, nil
}

// usage reads the process's CPU time, resident memory and peak resident memory from /proc.
func (p *process) usage() (cpu time.Duration, rss, peakRSS int64, err error) {
	pid := p.cmd.Process.Pid
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	// The fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticksPerSecond = 100 // USER_HZ, fixed on Linux
	cpu = time.Duration(utime+stime) * time.Second / ticksPerSecond
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kib, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kib * 1024
		case "VmHWM:":
			peakRSS = kib * 1024
		}
	}
	return cpu, rss, peakRSS, nil
}

func (p *process) stop() {
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
}

// waitReady waits until url answers 200.
func waitReady(ctx context.Context, p *process, url string) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		resp, err := http.Get(url)
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	if err != nil {
		return fmt.Errorf("%s did not become ready (see %s): %w", p.name, p.log, err)
	}
	return nil
}

// adminKubeconfig writes a kubeconfig of a cluster administrator of env into the work directory.
func adminKubeconfig(opts benchOptions, env *envtest.Environment, name string) (string, error) {
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "longtask-bench-" + name, Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return "", err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return "", err
	}
	path := filepath.Join(opts.workDir, name+".kubeconfig")
	return path, os.WriteFile(path, kubeconfig, 0o600)
}

// managerProcess is the manager binary, run against a benchmark's control plane.
type managerProcess struct {
	*process
	metricsURL, pprofURL string
}

// startManager starts the manager binary with the flags the benchmark sets and the extra ones.
func startManager(ctx context.Context, opts benchOptions, env *envtest.Environment, extra ...string) (*managerProcess, error) {
	kubeconfig, err := adminKubeconfig(opts, env, "manager")
	if err != nil {
		return nil, err
	}
	ports, err := localcluster.FreePorts(3)
	if err != nil {
		return nil, err
	}
	metrics, probe, pprof := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1]), fmt.Sprintf("127.0.0.1:%d", ports[2])
	// Plain HTTP on loopback: the benchmark scrapes rest_client_requests_total without a token.
	argv := append([]string{opts.manager, "--kubeconfig", kubeconfig, "--metrics-bind-address", metrics, "--metrics-secure=false",
		"--health-probe-bind-address", probe, "--pprof-bind-address", pprof, "--worker-image", "longtask-worker:bench"}, extra...)
	p, err := startProcessWithEnv(opts, "manager", []string{deployedGoMemLimit}, argv...)
	if err != nil {
		return nil, fmt.Errorf("%w (make bench builds it)", err)
	}
	m := &managerProcess{process: p, metricsURL: "http://" + metrics + "/metrics", pprofURL: "http://" + pprof + "/debug/pprof/"}
	if err := waitReady(ctx, p, "http://"+probe+"/readyz"); err != nil {
		m.stop()
		return nil, err
	}
	return m, nil
}

// writes sums the manager's client requests that change something, from its rest_client_requests_total.
func (m *managerProcess) writes(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.metricsURL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scraping the manager's metrics: %w", err)
	}
	defer resp.Body.Close()
	total := 0
	scanner := bufio.NewScanner(resp.Body)
	for scanner.Scan() {
		line := scanner.Text()
		if !strings.HasPrefix(line, "rest_client_requests_total{") {
			continue
		}
		if !strings.Contains(line, `method="POST"`) && !strings.Contains(line, `method="PUT"`) &&
			!strings.Contains(line, `method="PATCH"`) && !strings.Contains(line, `method="DELETE"`) {
			continue
		}
		fields := strings.Fields(line)
		value, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			return 0, fmt.Errorf("reading %q: %w", line, err)
		}
		total += int(value)
	}
	return total, scanner.Err()
}

// profile saves the manager's profile of that kind (cpu: over seconds; heap: now) into dir and returns
// the file's path.
func (m *managerProcess) profile(ctx context.Context, dir, kind, name string, seconds int) (string, error) {
	url := m.pprofURL + kind
	if kind == "profile" {
		url += fmt.Sprintf("?seconds=%d", seconds)
	}
	return saveProfile(ctx, http.DefaultClient, url, dir, name)
}

// saveProfile saves the profile at url into dir, as name, and returns the file's path.
func saveProfile(ctx context.Context, httpClient *http.Client, url, dir, name string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("profiling: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("profiling %s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, resp.Body)
	// Close is where a write the file system deferred fails: a profile cut short must not pass as saved.
	return path, errors.Join(err, f.Close())
}
