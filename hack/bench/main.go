// Command bench runs LongTask's system benchmarks and writes docs/benchmarks.md: the machine, the command
// for each row, and for each figure what it is compared with, measured in the same run. `make bench` runs
// it after the Go micro-benchmarks, whose output it includes.
//
//	bench --manager bin/manager --ui bin/ui --worker bin/longtask-worker --kwok bin/kwok --micro FILE \
//		--out docs/benchmarks.md [--n 1000] [--concurrency 10] [--compare 1] [--latency-samples 500] [--only PART,...]
//
// Benchmarks report; they never fail on a time.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

var scheme = k8sruntime.NewScheme()

// benchOptions are the flags.
type benchOptions struct {
	root, manager, ui, worker, kwok, k8sBin, micro, out, profiles, workDir string
	n, concurrency, compare, samples                                       int
	budget                                                                 float64
	timeout                                                                time.Duration
	only                                                                   map[string]bool
	log                                                                    io.Writer
}

// The parts of the benchmark, which --only picks from.
const (
	partStartup = "startup"
	partLive    = "live"
	partLatency = "latency"
)

func (o benchOptions) runs(part string) bool { return len(o.only) == 0 || o.only[part] }

func main() {
	if len(os.Args) > 1 && os.Args[1] == emitCommand {
		if err := emit(os.Args[2:]); err != nil {
			fmt.Fprintf(os.Stderr, "bench %s: %v\n", emitCommand, err)
			os.Exit(1)
		}
		return
	}
	var opts benchOptions
	flag.StringVar(&opts.root, "root", ".", "the repository's root")
	flag.StringVar(&opts.manager, "manager", "bin/manager", "the manager binary")
	flag.StringVar(&opts.ui, "ui", "bin/ui", "the UI binary")
	flag.StringVar(&opts.worker, "worker", "bin/longtask-worker", "the worker binary")
	flag.StringVar(&opts.kwok, "kwok", "bin/kwok", "kwok's binary (sigs.k8s.io/kwok/cmd/kwok)")
	flag.StringVar(&opts.k8sBin, "k8s-bin", os.Getenv("KUBEBUILDER_ASSETS"), "where kube-controller-manager and kube-scheduler are (hack/build-controlplane.sh)")
	flag.StringVar(&opts.profiles, "profiles", "bin/bench", "where the manager's profiles are saved; empty: none")
	flag.Float64Var(&opts.budget, "budget", 100, "the manager's --progress-write-budget in the live-load run")
	flag.StringVar(&opts.micro, "micro", "", "output of `go test -bench` to include")
	flag.StringVar(&opts.out, "out", "docs/benchmarks.md", "the report to write")
	flag.IntVar(&opts.n, "n", 1000, "how many tasks to create at once")
	flag.IntVar(&opts.concurrency, "concurrency", 10, "the manager's --max-concurrent-reconciles")
	flag.IntVar(&opts.compare, "compare", 1, "also run with this --max-concurrent-reconciles, to compare (0: don't)")
	flag.IntVar(&opts.samples, "latency-samples", 500, "how many writes the latency benchmark times, of each kind")
	flag.DurationVar(&opts.timeout, "timeout", 5*time.Minute, "how long the tasks may take to get their Jobs, or to run")
	only := flag.String("only", "", "run only these parts, comma-separated: "+strings.Join([]string{partStartup, partLive, partLatency}, ","))
	flag.Parse()
	opts.log = os.Stderr
	if *only != "" {
		opts.only = map[string]bool{}
		for _, part := range strings.Split(*only, ",") {
			opts.only[part] = true
		}
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, longtaskv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, opts)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

// results are what the parts that ran measured.
type results struct {
	startup []startupResult
	live    *liveResult
	latency *latencyResult
	micro   string
}

func run(ctx context.Context, opts benchOptions) error {
	var err error
	if opts.workDir, err = os.MkdirTemp("", "longtask-bench-"); err != nil {
		return err
	}
	for _, path := range []*string{&opts.manager, &opts.ui, &opts.worker, &opts.kwok, &opts.k8sBin} {
		if *path, err = filepath.Abs(*path); err != nil {
			return err
		}
	}
	res, err := measure(ctx, opts)
	if err != nil {
		return fmt.Errorf("%w (logs in %s)", err, opts.workDir)
	}
	_ = os.RemoveAll(opts.workDir)
	if opts.micro != "" {
		data, err := os.ReadFile(opts.micro)
		if err != nil {
			return err
		}
		res.micro = string(data)
	}
	if err := os.MkdirAll(filepath.Dir(opts.out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(opts.out, []byte(report(opts, res)), 0o644)
}

func measure(ctx context.Context, opts benchOptions) (results, error) {
	var res results
	if opts.runs(partStartup) {
		for _, concurrency := range []int{opts.concurrency, opts.compare} {
			if concurrency <= 0 {
				continue
			}
			fmt.Fprintf(opts.log, "bench: start-up of %d tasks, --max-concurrent-reconciles=%d\n", opts.n, concurrency)
			r, err := runStartup(ctx, opts, opts.n, concurrency)
			if err != nil {
				return res, err
			}
			fmt.Fprintln(opts.log, r.summary())
			res.startup = append(res.startup, r)
		}
	}
	if opts.runs(partLive) {
		fmt.Fprintf(opts.log, "bench: live load of %d tasks on kwok's fake node\n", opts.n)
		r, err := runLive(ctx, opts, opts.n)
		if err != nil {
			return res, err
		}
		fmt.Fprintln(opts.log, r.summary())
		res.live = &r
	}
	if opts.runs(partLatency) {
		fmt.Fprintf(opts.log, "bench: latency of %d progress writes and %d bare patches\n", opts.samples, opts.samples)
		r, err := runLatency(ctx, opts, opts.samples)
		if err != nil {
			return res, err
		}
		res.latency = &r
	}
	return res, nil
}

func (r startupResult) summary() string {
	return fmt.Sprintf("bench: %d tasks, concurrency %d: create → Job p50 %s p99 %s max %s; %.0f tasks/s; %.1f writes/task; baseline %s; manager CPU %s, peak RSS %d MiB",
		r.n, r.concurrency, round(percentile(r.latencies, 50)), round(percentile(r.latencies, 99)), round(percentile(r.latencies, 100)),
		r.tasksPerSecond(), float64(r.writes)/float64(r.n), round(r.baseline), round(r.cpu), r.peakRSS>>20)
}

func (r startupResult) tasksPerSecond() float64 { return float64(r.n) / r.total.Seconds() }

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 100*time.Millisecond:
		return d.Round(time.Millisecond)
	default:
		return d.Round(100 * time.Microsecond)
	}
}

func flagSet(name string) *flag.FlagSet { return flag.NewFlagSet(name, flag.ContinueOnError) }

// keepBenchLines keeps the lines of `go test -bench` output that are results or say where they come from.
func keepBenchLines(out string) string {
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg:") || strings.HasPrefix(line, "cpu:") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// machine describes this machine in a few lines of Markdown.
func machine() string {
	model := "unknown"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				model = strings.TrimSpace(value)
				break
			}
		}
	}
	memory := "unknown"
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(data), "\n", 2)[0]); len(f) >= 2 {
			memory = f[1] + " kB"
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("- CPU: %s, %d cores\n- Memory: %s\n- Kernel: %s\n- Go: %s\n", model, runtime.NumCPU(), memory, strings.TrimSpace(string(kernel)), runtime.Version())
}
