package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/localcluster"
	"github.com/longtask-dev/longtask/internal/worker"
	"github.com/longtask-dev/longtask/pkg/progress"
)

// reportEvery is how often each simulated task's program prints a progress line: far more often than the
// write budget lets the workers write, as a chatty task does.
const reportEvery = time.Second

// liveResult is what the live-load run measured.
type liveResult struct {
	n int
	// running is from the first create to the last task Running.
	running time.Duration
	// interval is the effective progress interval the manager gave each task under the budget.
	interval time.Duration
	budget   float64
	// window is how long the steady state was measured, after every worker had started.
	window time.Duration
	// writes are the workers' progress writes in the window; peakWrites the most in one second of it.
	writes, peakWrites, failedWrites int
	// managerCPU is the manager's CPU time in the window; RSS at its end, and the peak over the run.
	managerCPU                 time.Duration
	managerRSS, managerPeakRSS int64
	uiCPU                      time.Duration
	uiRSS, uiPeakRSS           int64
	// listPageBytes is the size of the UI's first list page (HTML), listRequests the /api/tasks pages
	// served per second to listClients clients, streamEvents the list stream's events in the window.
	listPageBytes, listJSONBytes, streamEvents, streamBytes int
	listRequestsPerSecond                                   float64
	heapProfile                                             string
}

// listClients is how many clients fetch the UI's list at once in the throughput measurement.
const listClients = 4

// runLive starts n tasks on a kwok cluster, plays each task's worker with the worker's own write path
// (publisher, tracker and status writer, at the interval the manager gives it), and measures the steady
// state: progress writes against the budget, the manager's and the UI's CPU and memory, the UI's list.
func runLive(ctx context.Context, opts benchOptions, n int) (liveResult, error) {
	res := liveResult{n: n, budget: opts.budget}
	k, err := startKwokCluster(ctx, opts)
	if err != nil {
		return res, err
	}
	defer k.stop()
	manager, err := startManager(ctx, opts, k.env, "--max-concurrent-reconciles", strconv.Itoa(opts.concurrency),
		"--progress-write-budget", strconv.FormatFloat(opts.budget, 'f', -1, 64))
	if err != nil {
		return res, err
	}
	defer manager.stop()
	ui, err := startUI(ctx, opts, k.env)
	if err != nil {
		return res, err
	}
	defer ui.stop()
	c := k.c
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}); err != nil {
		return res, err
	}

	start := time.Now()
	if err := createInParallel(ctx, n, func(ctx context.Context, i int) error { return c.Create(ctx, benchTask(i)) }); err != nil {
		return res, fmt.Errorf("creating the LongTasks: %w", err)
	}
	if res.interval, err = waitRunning(ctx, opts, c, n); err != nil {
		return res, err
	}
	res.running = time.Since(start)

	// The workers start spread over one interval, as tasks that started at different times would be,
	// then the window measures the steady state for at least one whole interval.
	stagger := max(res.interval, time.Second)
	res.window = max(res.interval, 30*time.Second)
	fmt.Fprintf(opts.log, "bench: %d workers start over %s, then %s of steady state is measured\n", n, stagger, res.window)
	workers, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	counter := newWriteCounter()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			key := types.NamespacedName{Namespace: "bench", Name: benchTask(i).Name}
			if sleep(workers, time.Duration(i)*stagger/time.Duration(n)) {
				simulateWorker(workers, c, key, counter)
			}
		})
	}
	if !sleep(ctx, stagger) {
		return res, ctx.Err()
	}

	cpuBefore, _, _, err := manager.usage()
	if err != nil {
		return res, err
	}
	uiCPUBefore, _, _, err := ui.usage()
	if err != nil {
		return res, err
	}
	counter.start()
	stream := ui.countListStream(workers)
	if res.listPageBytes, err = ui.size(ctx, "/"); err != nil {
		return res, err
	}
	if res.listJSONBytes, err = ui.size(ctx, "/api/tasks"); err != nil {
		return res, err
	}
	res.listRequestsPerSecond, err = ui.throughput(ctx, "/api/tasks", listClients, 5*time.Second)
	if err != nil {
		return res, err
	}
	if !sleep(ctx, res.window-time.Since(counter.started)) {
		return res, ctx.Err()
	}
	res.writes, res.peakWrites, res.failedWrites = counter.stop()
	cpuAfter, rss, peak, err := manager.usage()
	if err != nil {
		return res, err
	}
	res.managerCPU, res.managerRSS, res.managerPeakRSS = cpuAfter-cpuBefore, rss, peak
	uiCPUAfter, uiRSS, uiPeak, err := ui.usage()
	if err != nil {
		return res, err
	}
	res.uiCPU, res.uiRSS, res.uiPeakRSS = uiCPUAfter-uiCPUBefore, uiRSS, uiPeak
	if opts.profiles != "" {
		if res.heapProfile, err = manager.profile(ctx, opts.profiles, "heap", fmt.Sprintf("manager-live-%d.heap.pprof", n), 0); err != nil {
			return res, err
		}
	}
	stopWorkers()
	res.streamEvents, res.streamBytes = stream()
	wg.Wait()
	return res, nil
}

// waitRunning waits until n tasks of the bench namespace are Running, following them with a watch (a
// list of thousands of tasks every second would load the API server more than the tasks do), and returns
// the longest effective progress interval they were given.
func waitRunning(ctx context.Context, opts benchOptions, c client.WithWatch, n int) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	w, err := c.Watch(ctx, &longtaskv1.LongTaskList{}, client.InNamespace("bench"))
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	running := map[string]time.Duration{}
	report := time.NewTicker(10 * time.Second)
	defer report.Stop()
	for len(running) < n {
		select {
		case event, ok := <-w.ResultChan():
			if !ok {
				return 0, fmt.Errorf("the watch of the tasks ended with %d of %d Running", len(running), n)
			}
			task, ok := event.Object.(*longtaskv1.LongTask)
			if !ok {
				return 0, fmt.Errorf("watching the tasks: %v", event.Object)
			}
			if task.Status.Phase == longtaskv1.PhaseRunning && task.Status.EffectiveProgressInterval != nil {
				running[task.Name] = task.Status.EffectiveProgressInterval.Duration
			}
		case <-report.C:
			fmt.Fprintf(opts.log, "bench: %d of %d tasks Running\n", len(running), n)
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for the tasks to run on kwok's node (see %s): %d of %d Running: %w", opts.workDir, len(running), n, ctx.Err())
		}
	}
	var interval time.Duration
	for _, d := range running {
		interval = max(interval, d)
	}
	return interval, nil
}

// simulateWorker plays a task's worker until ctx ends: it reads its task, follows the interval the
// manager asks for, and writes the progress a chatty program reports through the worker's own publisher,
// tracker and status writer.
func simulateWorker(ctx context.Context, c client.Client, key types.NamespacedName, counter *writeCounter) {
	task := &longtaskv1.LongTask{}
	if err := c.Get(ctx, key, task); err != nil {
		counter.failed()
		return
	}
	var publisher *worker.Publisher
	follow := func(task *longtaskv1.LongTask) { publisher.Follow(task, task.Spec.Interval()) }
	write := worker.StatusWriter(c, key, follow)
	publisher = worker.NewPublisher(task.Spec.Interval(), func(ctx context.Context, snap worker.Snapshot) error {
		err := write(ctx, snap)
		if err == nil {
			counter.wrote()
		} else if ctx.Err() == nil {
			counter.failed()
		}
		return err
	})
	follow(task)
	tracker := &worker.Tracker{Attempt: 1}
	publisher.BeforeWrite = tracker.Derive
	publisher.Update(func(s *worker.Snapshot) { tracker.Start(s, task.Status.Progress, time.Now()) })
	go publisher.Run(ctx)

	const total = 1_000_000
	ticker := time.NewTicker(reportEvery)
	defer ticker.Stop()
	for step := 1; ; step++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		line, ok := progress.Parse(fmt.Sprintf("::progress %d/%d processed item %d", step, total, step))
		if !ok {
			panic("the benchmark's progress line does not parse")
		}
		now := time.Now()
		publisher.Update(func(s *worker.Snapshot) { tracker.Apply(s, line, now) })
	}
}

// writeCounter counts the workers' writes in a window, and the most in any one second of it.
type writeCounter struct {
	counting      atomic.Bool
	started       time.Time
	mu            sync.Mutex
	perSecond     map[int64]int
	total, errors int
}

func newWriteCounter() *writeCounter { return &writeCounter{perSecond: map[int64]int{}} }

func (w *writeCounter) start() {
	w.mu.Lock()
	w.started = time.Now()
	w.mu.Unlock()
	w.counting.Store(true)
}

func (w *writeCounter) wrote() {
	if !w.counting.Load() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.total++
	w.perSecond[time.Since(w.started).Milliseconds()/1000]++
}

func (w *writeCounter) failed() {
	if !w.counting.Load() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errors++
}

func (w *writeCounter) stop() (total, peak, errors int) {
	w.counting.Store(false)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, count := range w.perSecond {
		peak = max(peak, count)
	}
	return w.total, peak, w.errors
}

// uiProcess is the UI binary, run against a benchmark's control plane.
type uiProcess struct {
	*process
	url string
}

func startUI(ctx context.Context, opts benchOptions, env *envtest.Environment) (*uiProcess, error) {
	kubeconfig, err := adminKubeconfig(opts, env, "ui")
	if err != nil {
		return nil, err
	}
	ports, err := localcluster.FreePorts(2)
	if err != nil {
		return nil, err
	}
	address, probe := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	p, err := startProcessWithEnv(opts, "ui", []string{deployedGoMemLimit}, opts.ui, "--kubeconfig", kubeconfig, "--bind-address", address, "--health-probe-bind-address", probe)
	if err != nil {
		return nil, fmt.Errorf("%w (make bench builds it)", err)
	}
	u := &uiProcess{process: p, url: "http://" + address}
	if err := waitReady(ctx, p, u.url+"/healthz"); err != nil {
		u.stop()
		return nil, err
	}
	return u, nil
}

// size is the size of the page at path.
func (u *uiProcess) size(ctx context.Context, path string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	return int(n), err
}

// throughput is how many times a second clients fetching path one after another get it whole.
func (u *uiProcess) throughput(ctx context.Context, path string, clients int, d time.Duration) (float64, error) {
	deadline := time.Now().Add(d)
	var served atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if _, err := u.size(ctx, path); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
				served.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(served.Load()) / d.Seconds(), firstErr
}

// countListStream follows the list's event stream until ctx ends; the function it returns says how many
// events and bytes came.
func (u *uiProcess) countListStream(ctx context.Context) func() (events, bytes int) {
	var mu sync.Mutex
	var events, total int
	done := make(chan struct{})
	go func() {
		defer close(done)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url+"/api/tasks/events", nil)
		if err != nil {
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		scanner := bufio.NewScanner(resp.Body)
		scanner.Buffer(make([]byte, 1<<20), 1<<24)
		for scanner.Scan() {
			mu.Lock()
			total += len(scanner.Bytes()) + 1
			if strings.HasPrefix(scanner.Text(), "event: list") {
				events++
			}
			mu.Unlock()
		}
	}()
	return func() (int, int) {
		<-done
		mu.Lock()
		defer mu.Unlock()
		return events, total
	}
}

// sleep waits for d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(max(d, 0)):
		return true
	}
}

func (r liveResult) summary() string {
	return fmt.Sprintf("bench: %d live tasks: Running after %s, interval %s, %.1f progress writes/s (budget %g, busiest second %d, %d failed); manager %.2f cores, RSS %d MiB (peak %d); UI %.2f cores, RSS %d MiB (peak %d); list page %d B, /api/tasks %d B, %.0f/s",
		r.n, round(r.running), r.interval, float64(r.writes)/r.window.Seconds(), r.budget, r.peakWrites, r.failedWrites,
		r.managerCPU.Seconds()/r.window.Seconds(), r.managerRSS>>20, r.managerPeakRSS>>20,
		r.uiCPU.Seconds()/r.window.Seconds(), r.uiRSS>>20, r.uiPeakRSS>>20, r.listPageBytes, r.listJSONBytes, r.listRequestsPerSecond)
}
