package main

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// parallelCreates is how many clients create the objects at once, as a script or a queue would.
const parallelCreates = 16

// startupResult is what one start-up run measured.
type startupResult struct {
	n, concurrency int
	// latencies are create → Job seen in a watch, one per task.
	latencies []time.Duration
	// total is from the first create to the last Job seen.
	total time.Duration
	// baseline is the time the same clients took to create n bare Jobs.
	baseline time.Duration
	// writes are the manager's requests other than reads (POST, PUT, PATCH, DELETE), Events included.
	writes int
	// cpu and peakRSS are the manager process's, over the whole run.
	cpu     time.Duration
	peakRSS int64
	// cpuProfile and apiserverProfile are the manager's and the API server's CPU profiles of the burst's
	// first profileSeconds.
	cpuProfile, apiserverProfile string
}

// profileSeconds is how long the manager's CPU is profiled from the first create.
const profileSeconds = 10

// runStartup starts a control plane (etcd and kube-apiserver, no Job controller, so no pod ever runs) and
// the manager binary, creates n bare Jobs as the baseline, then n LongTasks, and times each task's Job.
func runStartup(ctx context.Context, opts benchOptions, n, concurrency int) (startupResult, error) {
	res := startupResult{n: n, concurrency: concurrency}
	env, c, err := startControlPlane(opts)
	if err != nil {
		return res, err
	}
	defer func() { _ = env.Stop() }()
	for _, ns := range []string{"baseline", "bench"} {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return res, err
		}
	}

	// Baseline: the same clients create n Jobs directly.
	start := time.Now()
	err = createInParallel(ctx, n, func(ctx context.Context, i int) error {
		return c.Create(ctx, bareJob(i))
	})
	if err != nil {
		return res, fmt.Errorf("creating the baseline Jobs: %w", err)
	}
	res.baseline = time.Since(start)

	manager, err := startManager(ctx, opts, env, "--max-concurrent-reconciles", strconv.Itoa(concurrency))
	if err != nil {
		return res, err
	}
	defer manager.stop()

	jobs := &batchv1.JobList{}
	if err := c.List(ctx, jobs, client.InNamespace("bench")); err != nil {
		return res, err
	}
	w, err := c.Watch(ctx, &batchv1.JobList{}, client.InNamespace("bench"), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: jobs.ResourceVersion}})
	if err != nil {
		return res, err
	}
	defer w.Stop()
	var mu sync.Mutex
	created := make(map[string]time.Time, n)
	seen := make(map[string]time.Time, n)
	allSeen := make(chan struct{})
	go func() {
		for event := range w.ResultChan() {
			if event.Type != watch.Added {
				continue
			}
			job := event.Object.(*batchv1.Job)
			mu.Lock()
			if _, ok := seen[job.Name]; !ok {
				seen[job.Name] = time.Now()
				if len(seen) == n {
					close(allSeen)
				}
			}
			mu.Unlock()
		}
	}()

	// Profile the manager's and the API server's CPU through the burst, the first profileSeconds of it.
	profiled := make(chan error, 2)
	if opts.profiles != "" {
		go func() {
			path, err := manager.profile(ctx, opts.profiles, "profile", fmt.Sprintf("manager-startup-%d.cpu.pprof", concurrency), profileSeconds)
			res.cpuProfile = path
			profiled <- err
		}()
		go func() {
			path, err := apiserverProfile(ctx, env, opts.profiles, fmt.Sprintf("apiserver-startup-%d.cpu.pprof", concurrency))
			res.apiserverProfile = path
			profiled <- err
		}()
	} else {
		profiled <- nil
		profiled <- nil
	}
	start = time.Now()
	err = createInParallel(ctx, n, func(ctx context.Context, i int) error {
		task := benchTask(i)
		before := time.Now()
		if err := c.Create(ctx, task); err != nil {
			return err
		}
		mu.Lock()
		created[task.Name] = before
		mu.Unlock()
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("creating the LongTasks: %w", err)
	}
	select {
	case <-allSeen:
	case <-time.After(opts.timeout):
		mu.Lock()
		defer mu.Unlock()
		return res, fmt.Errorf("after %s only %d of %d tasks have a Job", opts.timeout, len(seen), n)
	case <-ctx.Done():
		return res, ctx.Err()
	}
	mu.Lock()
	var last time.Time
	for name, at := range seen {
		res.latencies = append(res.latencies, at.Sub(created[name]))
		if at.After(last) {
			last = at
		}
	}
	mu.Unlock()
	res.total = last.Sub(start)
	slices.Sort(res.latencies)

	// Let the status writes that follow the last Job land before counting.
	time.Sleep(2 * time.Second)
	if res.writes, err = manager.writes(ctx); err != nil {
		return res, err
	}
	for range 2 {
		if err := <-profiled; err != nil {
			return res, err
		}
	}
	res.cpu, _, res.peakRSS, err = manager.usage()
	return res, err
}

// startControlPlane starts etcd and kube-apiserver with LongTask's CRD installed, and returns a client of
// theirs.
func startControlPlane(opts benchOptions) (*envtest.Environment, client.WithWatch, error) {
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(opts.root, "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, nil, fmt.Errorf("starting the control plane: %w", err)
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, nil, err
	}
	return env, c, nil
}

// createInParallel calls create for 0..n-1 from parallelCreates goroutines.
func createInParallel(ctx context.Context, n int, create func(context.Context, int) error) error {
	next := make(chan int)
	errs := make(chan error, parallelCreates)
	var wg sync.WaitGroup
	for range parallelCreates {
		wg.Go(func() {
			for i := range next {
				if err := create(ctx, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case err := <-errs:
			close(next)
			wg.Wait()
			return err
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func bareJob(i int) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("job-%05d", i), Namespace: "baseline"},
		Spec: batchv1.JobSpec{
			Suspend:      ptr.To(true),
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever,
				Containers:    []corev1.Container{{Name: "task", Image: "busybox:1.35", Command: []string{"true"}}},
			}},
		},
	}
}

func benchTask(i int) *longtaskv1.LongTask {
	return &longtaskv1.LongTask{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("task-%05d", i), Namespace: "bench"},
		Spec:       longtaskv1.LongTaskSpec{TaskSpec: longtaskv1.TaskSpec{Command: []string{"longtask-worker", "demo", "--steps", "10"}}},
	}
}

// percentile is the p-th percentile (0-100) of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// apiserverProfile saves the API server's CPU profile of the next profileSeconds into dir.
func apiserverProfile(ctx context.Context, env *envtest.Environment, dir, name string) (string, error) {
	httpClient, err := rest.HTTPClientFor(env.Config)
	if err != nil {
		return "", err
	}
	url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimSuffix(env.Config.Host, "/"), profileSeconds)
	return saveProfile(ctx, httpClient, url, dir, name)
}
