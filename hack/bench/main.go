// Command bench runs LongTask's system benchmarks and writes docs/benchmarks.md: the machine, the command
// for each row, and for each figure what it is compared with, measured in the same run. `make bench` runs
// it after the Go micro-benchmarks, whose output it includes.
//
//	bench --manager bin/manager --micro FILE --out docs/benchmarks.md [--n 1000] [--concurrency 10] [--compare 1] [--latency-samples 500]
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
	root, manager, micro, out, workDir string
	n, concurrency, compare, samples   int
	timeout                            time.Duration
}

func main() {
	var opts benchOptions
	flag.StringVar(&opts.root, "root", ".", "the repository's root")
	flag.StringVar(&opts.manager, "manager", "bin/manager", "the manager binary")
	flag.StringVar(&opts.micro, "micro", "", "output of `go test -bench` to include")
	flag.StringVar(&opts.out, "out", "docs/benchmarks.md", "the report to write")
	flag.IntVar(&opts.n, "n", 1000, "how many tasks to create at once")
	flag.IntVar(&opts.concurrency, "concurrency", 10, "the manager's --max-concurrent-reconciles")
	flag.IntVar(&opts.compare, "compare", 1, "also run with this --max-concurrent-reconciles, to compare (0: don't)")
	flag.IntVar(&opts.samples, "latency-samples", 500, "how many writes the latency benchmark times, of each kind")
	flag.DurationVar(&opts.timeout, "timeout", 5*time.Minute, "how long the tasks may take to get their Jobs")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	for _, add := range []func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme, longtaskv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, opts); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, opts benchOptions) error {
	var err error
	if opts.workDir, err = os.MkdirTemp("", "longtask-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(opts.workDir)
	if opts.manager, err = filepath.Abs(opts.manager); err != nil {
		return err
	}
	var results []startupResult
	for _, concurrency := range []int{opts.concurrency, opts.compare} {
		if concurrency <= 0 {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: start-up of %d tasks, --max-concurrent-reconciles=%d\n", opts.n, concurrency)
		res, err := runStartup(ctx, opts, opts.n, concurrency)
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, res.summary())
		results = append(results, res)
	}
	fmt.Fprintf(os.Stderr, "bench: latency of %d progress writes and %d bare patches\n", opts.samples, opts.samples)
	latency, err := runLatency(ctx, opts, opts.samples)
	if err != nil {
		return err
	}
	var micro string
	if opts.micro != "" {
		data, err := os.ReadFile(opts.micro)
		if err != nil {
			return err
		}
		micro = string(data)
	}
	if err := os.MkdirAll(filepath.Dir(opts.out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(opts.out, []byte(report(opts, results, latency, micro)), 0o644)
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

// report renders docs/benchmarks.md.
func report(opts benchOptions, results []startupResult, latency latencyResult, micro string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (`hack/bench`) on %s. Every figure comes from one run on the machine below;\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "where a figure has a baseline, the baseline was measured in the same run, so compare ratios across machines,\nnot times.\n\n")
	fmt.Fprintf(&b, "## Machine\n\n%s\n", machine())

	fmt.Fprintf(&b, "## Start-up: %d tasks created at once\n\n", opts.n)
	fmt.Fprintf(&b, "Command: `make bench` (`BENCH_SCALE=%d`). A control plane of etcd and kube-apiserver (v1.36.3, from\n", opts.n)
	fmt.Fprintf(&b, "`bin/k8s`) with no Job controller, so no pod runs; the manager binary against it; %d clients create %d\n", parallelCreates, opts.n)
	fmt.Fprintf(&b, "LongTasks at once, and a watch on Jobs times each task from its create to its Job. Baseline: the same %d\n", parallelCreates)
	fmt.Fprintf(&b, "clients creating %d bare Jobs, just before. API writes are the manager's POST, PUT, PATCH and DELETE\n", opts.n)
	fmt.Fprintf(&b, "requests (its `rest_client_requests_total`), Events included. CPU and peak RSS are the manager process's\n(`/proc`), for the whole run.\n\n")
	fmt.Fprintf(&b, "| --max-concurrent-reconciles | create → Job p50 | p99 | max | tasks/s | all %d tasks | bare Jobs (baseline) | ratio | API writes per task | manager CPU | manager peak RSS |\n", opts.n)
	fmt.Fprintf(&b, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %.0f | %s | %s | %.1f× | %.1f | %s | %d MiB |\n", r.concurrency,
			round(percentile(r.latencies, 50)), round(percentile(r.latencies, 99)), round(percentile(r.latencies, 100)),
			r.tasksPerSecond(), round(r.total), round(r.baseline), r.total.Seconds()/r.baseline.Seconds(),
			float64(r.writes)/float64(r.n), round(r.cpu), r.peakRSS>>20)
	}
	fmt.Fprintf(&b, "\nTargets (issue 8): p99 create → Job ≤ 10 s, ≥ 100 tasks/s.\n\n")

	fmt.Fprintf(&b, "## Latency: a progress write to a watcher\n\n")
	fmt.Fprintf(&b, "Command: `make bench`. On its own control plane, %d progress writes made with the worker's own write path\n", len(latency.progress))
	fmt.Fprintf(&b, "(`worker.StatusWriter`: a merge patch of a LongTask's status), each timed until a watch on the LongTask\n")
	fmt.Fprintf(&b, "delivers it; alternating with as many bare merge patches of a ConfigMap, timed the same way: the floor.\n\n")
	fmt.Fprintf(&b, "| write → watch | p50 | p95 | p99 | p99 against the floor |\n| --- | ---: | ---: | ---: | ---: |\n")
	floor99 := percentile(latency.floor, 99)
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"progress write (LongTask status)", latency.progress}, {"bare ConfigMap patch (floor)", latency.floor}} {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %.2f× |\n", row.name, round(percentile(row.d, 50)), round(percentile(row.d, 95)),
			round(percentile(row.d, 99)), percentile(row.d, 99).Seconds()/floor99.Seconds())
	}
	fmt.Fprintf(&b, "\nTarget (issue 8): the progress write's p99 ≤ 1.5× the floor's.\n\n")

	if micro != "" {
		fmt.Fprintf(&b, "## Micro-benchmarks\n\nCommand: `go test ./controllers/... ./internal/... ./pkg/... -run '^$' -bench . -benchmem`. Ratios are reported by the benchmarks\n")
		fmt.Fprintf(&b, "themselves against a baseline measured in the same benchmark (`x-passthrough`: the worker's parsing against\npassing the same lines through untouched; `writes/report`: status writes per progress report).\n\n")
		fmt.Fprintf(&b, "```\n%s```\n", keepBenchLines(micro))
	}
	return b.String()
}

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
