package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// report renders docs/benchmarks.md from what the parts that ran measured.
func report(opts benchOptions, res results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "Written by `make bench` (`hack/bench`) on %s. Every figure comes from one run on the machine below;\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&b, "where a figure has a baseline, the baseline was measured in the same run, so compare ratios across machines,\nnot times.\n\n")
	fmt.Fprintf(&b, "## Machine\n\n%s\n", machine())
	if len(res.startup) > 0 {
		reportStartup(&b, opts, res.startup)
	}
	if res.live != nil {
		reportLive(&b, opts, *res.live)
	}
	if res.latency != nil {
		reportLatency(&b, *res.latency)
	}
	if res.micro != "" {
		fmt.Fprintf(&b, "## Micro-benchmarks\n\nCommand: `go test ./controllers/... ./internal/... ./pkg/... -run '^$' -bench . -benchmem`. Ratios are reported by the benchmarks\n")
		fmt.Fprintf(&b, "themselves against a baseline measured in the same benchmark (`x-passthrough`: the worker's parsing against\npassing the same lines through untouched; `writes/report`: status writes per progress report; `allocs/task`: the\nUI's allocations for a page of 50, per task it sorted).\n\n")
		fmt.Fprintf(&b, "```\n%s```\n", keepBenchLines(res.micro))
	}
	return b.String()
}

func reportStartup(b *strings.Builder, opts benchOptions, results []startupResult) {
	fmt.Fprintf(b, "## Start-up: %d tasks created at once\n\n", opts.n)
	fmt.Fprintf(b, "Command: `make bench` (`BENCH_SCALE=%d`). A control plane of etcd and kube-apiserver (v1.36.3, from\n", opts.n)
	fmt.Fprintf(b, "`bin/k8s`) with no Job controller, so no pod runs; the manager binary against it; %d clients create %d\n", parallelCreates, opts.n)
	fmt.Fprintf(b, "LongTasks at once, and a watch on Jobs times each task from its create to its Job. Baseline: the same %d\n", parallelCreates)
	fmt.Fprintf(b, "clients creating %d bare Jobs, just before. API writes are the manager's POST, PUT, PATCH and DELETE\n", opts.n)
	fmt.Fprintf(b, "requests (its `rest_client_requests_total`), Events included. CPU and peak RSS are the manager process's\n(`/proc`), for the whole run.\n\n")
	fmt.Fprintf(b, "| --max-concurrent-reconciles | create → Job p50 | p99 | max | tasks/s | all %d tasks | bare Jobs (baseline) | ratio | API writes per task | manager CPU | manager peak RSS |\n", opts.n)
	fmt.Fprintf(b, "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range results {
		fmt.Fprintf(b, "| %d | %s | %s | %s | %.0f | %s | %s | %.1f× | %.1f | %s | %d MiB |\n", r.concurrency,
			round(percentile(r.latencies, 50)), round(percentile(r.latencies, 99)), round(percentile(r.latencies, 100)),
			r.tasksPerSecond(), round(r.total), round(r.baseline), r.total.Seconds()/r.baseline.Seconds(),
			float64(r.writes)/float64(r.n), round(r.cpu), r.peakRSS>>20)
	}
	fmt.Fprintf(b, "\nTargets (issue 8): p99 create → Job ≤ 10 s, ≥ 100 tasks/s.\n\n")
	if path := results[0].cpuProfile; path != "" {
		fmt.Fprintf(b, "Where the manager's CPU went in the first %d s of the burst (`--max-concurrent-reconciles=%d`; `go tool pprof -top %s`):\n\n", profileSeconds, results[0].concurrency, relative(opts, path))
		fmt.Fprintf(b, "```\n%s```\n\n", pprofTop(path, "-top"))
	}
	if path := results[0].apiserverProfile; path != "" {
		fmt.Fprintf(b, "And the API server's, in the same %d s, by cumulative time (`go tool pprof -top -cum %s`):\n\n", profileSeconds, relative(opts, path))
		fmt.Fprintf(b, "```\n%s```\n\n", pprofTop(path, "-top", "-cum"))
	}
}

func reportLive(b *strings.Builder, opts benchOptions, r liveResult) {
	fmt.Fprintf(b, "## Live load: %d tasks running and reporting\n\n", r.n)
	fmt.Fprintf(b, "Command: `make bench` (`BENCH_SCALE=%d`). etcd, kube-apiserver, the Job controller (kube-controller-manager\n", r.n)
	fmt.Fprintf(b, "`--controllers=job-controller`) and kube-scheduler, v1.36.3; kwok v0.8.0 plays one node, on which every pod is\n")
	fmt.Fprintf(b, "Running and Ready and nothing runs. The manager (`--progress-write-budget=%g`) and the UI binaries, with the\n", r.budget)
	fmt.Fprintf(b, "GOMEMLIMIT their deployments set (%s, their memory limit). %d tasks are\n", strings.TrimPrefix(deployedGoMemLimit, "GOMEMLIMIT="), r.n)
	fmt.Fprintf(b, "created at once; when all are Running, the benchmark plays each task's worker with the worker's own code\n")
	fmt.Fprintf(b, "(`worker.Publisher`, `worker.Tracker`, `worker.StatusWriter`; one client for all), reading the task and\n")
	fmt.Fprintf(b, "following the interval the manager gives it, for a program that prints a progress line every %s. The\n", reportEvery)
	fmt.Fprintf(b, "workers start spread over one interval, then the steady state is measured for %s.\n\n", round(r.window))
	seconds := r.window.Seconds()
	rows := [][2]string{
		{"create → all tasks Running", round(r.running).String()},
		{"effective progress interval given to each task", r.interval.String()},
		{"progress writes/s, average over the window (budget)", fmt.Sprintf("%.1f (%g)", float64(r.writes)/seconds, r.budget)},
		{"progress writes in the busiest second", fmt.Sprintf("%d", r.peakWrites)},
		{"failed progress writes", fmt.Sprintf("%d", r.failedWrites)},
		{"manager CPU in the window", fmt.Sprintf("%.2f cores", r.managerCPU.Seconds()/seconds)},
		{"manager RSS at the end (peak over the run)", fmt.Sprintf("%d MiB (%d MiB)", r.managerRSS>>20, r.managerPeakRSS>>20)},
		{"UI CPU in the window", fmt.Sprintf("%.2f cores", r.uiCPU.Seconds()/seconds)},
		{"UI RSS at the end (peak over the run)", fmt.Sprintf("%d MiB (%d MiB)", r.uiRSS>>20, r.uiPeakRSS>>20)},
		{"UI list page, first page (HTML)", fmt.Sprintf("%.1f KB", float64(r.listPageBytes)/1000)},
		{"UI `/api/tasks`, first page (JSON)", fmt.Sprintf("%.1f KB", float64(r.listJSONBytes)/1000)},
		{fmt.Sprintf("UI `/api/tasks` pages served/s to %d clients", listClients), fmt.Sprintf("%.0f", r.listRequestsPerSecond)},
		{"UI list stream (`/api/tasks/events`), one open list", fmt.Sprintf("%.1f events/s, %.1f KB/s", float64(r.streamEvents)/seconds, float64(r.streamBytes)/1000/seconds)},
	}
	fmt.Fprintf(b, "| at %d live tasks | |\n| --- | ---: |\n", r.n)
	for _, row := range rows {
		fmt.Fprintf(b, "| %s | %s |\n", row[0], row[1])
	}
	fmt.Fprintf(b, "\nTargets (issue 8): progress writes/s ≤ the budget; manager < 200 MB and < 1 core; UI < 200 MB; a list page\n< 100 KB; open lists updated by a stream.\n\n")
	if r.heapProfile != "" {
		fmt.Fprintf(b, "What the manager's heap holds at the end (`go tool pprof -sample_index=inuse_space -top %s`):\n\n", relative(opts, r.heapProfile))
		fmt.Fprintf(b, "```\n%s```\n\n", pprofTop(r.heapProfile, "-sample_index=inuse_space", "-top"))
	}
}

// relative is path relative to the repository's root, as the report shows it.
func relative(opts benchOptions, path string) string {
	root, err := filepath.Abs(opts.root)
	if err != nil {
		return path
	}
	if rel, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return path
}

// pprofTop is the head of `go tool pprof`'s report of a profile.
func pprofTop(path string, args ...string) string {
	out, err := exec.Command("go", append(append([]string{"tool", "pprof", "-nodecount=12"}, args...), path)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof: %v\n%s", err, out)
	}
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		// Leave out the lines that say where and when the profile was taken.
		if strings.HasPrefix(line, "File:") || strings.HasPrefix(line, "Build ID:") || strings.HasPrefix(line, "Type:") || strings.HasPrefix(line, "Time:") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.TrimLeft(strings.Join(keep, "\n"), "\n")
}

func reportLatency(b *strings.Builder, latency latencyResult) {
	fmt.Fprintf(b, "## Latency: a progress write to a watcher\n\n")
	fmt.Fprintf(b, "Command: `make bench`. On its own control plane, %d progress writes made with the worker's own write path\n", len(latency.progress))
	fmt.Fprintf(b, "(`worker.StatusWriter`: a merge patch of a LongTask's status), each timed until a watch on the LongTask\n")
	fmt.Fprintf(b, "delivers it; alternating with as many bare merge patches of a ConfigMap, timed the same way: the floor.\n\n")
	fmt.Fprintf(b, "| write → watch | p50 | p95 | p99 | p99 against the floor |\n| --- | ---: | ---: | ---: | ---: |\n")
	floor99 := percentile(latency.floor, 99)
	for _, row := range []struct {
		name string
		d    []time.Duration
	}{{"progress write (LongTask status)", latency.progress}, {"bare ConfigMap patch (floor)", latency.floor}} {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %.2f× |\n", row.name, round(percentile(row.d, 50)), round(percentile(row.d, 95)),
			round(percentile(row.d, 99)), percentile(row.d, 99).Seconds()/floor99.Seconds())
	}
	fmt.Fprintf(b, "\nTarget (issue 8): the progress write's p99 ≤ 1.5× the floor's.\n\n")
	if len(latency.reports) == 0 {
		return
	}
	fmt.Fprintf(b, "## Latency: a program's progress line to a watch and to the UI\n\n")
	fmt.Fprintf(b, "Command: `make bench`. On the same control plane, with the manager and the UI running: the worker binary\n")
	fmt.Fprintf(b, "runs a program that prints progress lines a random 0-20 ms apart, for a LongTask of each progressInterval.\n")
	fmt.Fprintf(b, "Each line is timed from its print until a watch on the LongTask, and a viewer of the UI's event stream\n")
	fmt.Fprintf(b, "(`/api/tasks/NS/NAME/events`), first see it or a later line. The worker writes at most once per interval,\n")
	fmt.Fprintf(b, "so a line waits up to one interval for its write: the bound is the interval plus the floor above.\n\n")
	fmt.Fprintf(b, "| progressInterval | lines (updates seen) | seen by | p50 | p95 | p99 | max | p99 − interval |\n| ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, r := range latency.reports {
		for _, row := range []struct {
			name string
			d    []time.Duration
		}{{"a watch", r.watch}, {"the UI's stream", r.ui}} {
			fmt.Fprintf(b, "| %s | %d (%d) | %s | %s | %s | %s | %s | %s |\n", r.interval, r.lines, r.updates, row.name,
				round(percentile(row.d, 50)), round(percentile(row.d, 95)), round(percentile(row.d, 99)), round(percentile(row.d, 100)),
				round(percentile(row.d, 99)-r.interval))
		}
	}
	fmt.Fprintf(b, "\nTarget (issue 8): a report is visible in the UI's stream within the interval + 50 ms at p99.\n\n")
}
