package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/worker"
)

// latencyResult is how long a write took to reach a watcher, one duration per write, sorted.
type latencyResult struct {
	progress, floor []time.Duration
	// reports are the program line → watch and → UI latencies, one per progress interval.
	reports []reportLatencyResult
}

// reportIntervals are the progress intervals the report latency is measured at, and for how long.
var reportIntervals = []struct{ interval, duration time.Duration }{
	{100 * time.Millisecond, 10 * time.Second},
	{time.Second, 20 * time.Second},
}

// runLatency times writes from the writer to a watcher of the object: a worker's progress write (the
// worker's own StatusWriter, a merge patch of a LongTask's status) against the floor, a bare merge patch
// of a ConfigMap, alternating in the same control plane.
func runLatency(ctx context.Context, opts benchOptions, samples int) (latencyResult, error) {
	var res latencyResult
	env, c, err := startControlPlane(opts)
	if err != nil {
		return res, err
	}
	defer func() { _ = env.Stop() }()
	const ns, name = "default", "latency"
	task := benchTask(0)
	task.Name, task.Namespace = name, ns
	if err := c.Create(ctx, task); err != nil {
		return res, err
	}
	configMap := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if err := c.Create(ctx, configMap); err != nil {
		return res, err
	}
	byName := &client.ListOptions{Namespace: ns, FieldSelector: fields.OneTermEqualSelector("metadata.name", name)}
	taskWatch, err := c.Watch(ctx, &longtaskv1.LongTaskList{}, byName)
	if err != nil {
		return res, err
	}
	defer taskWatch.Stop()
	configMapWatch, err := c.Watch(ctx, &corev1.ConfigMapList{}, byName)
	if err != nil {
		return res, err
	}
	defer configMapWatch.Stop()

	write := worker.StatusWriter(c, types.NamespacedName{Namespace: ns, Name: name}, func(*longtaskv1.LongTask) {})
	for i := range samples {
		step := int64(i + 1)
		start := time.Now()
		err := write(ctx, worker.Snapshot{Progress: &longtaskv1.Progress{Current: step, Message: "step " + strconv.Itoa(i)}})
		if err != nil {
			return res, fmt.Errorf("writing progress: %w", err)
		}
		d, err := waitForEvent(taskWatch, start, func(obj any) bool {
			p := obj.(*longtaskv1.LongTask).Status.Progress
			return p != nil && p.Current == step
		})
		if err != nil {
			return res, err
		}
		res.progress = append(res.progress, d)

		start = time.Now()
		patch := fmt.Sprintf(`{"data":{"step":"%d"}}`, step)
		if err := c.Patch(ctx, configMap, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
			return res, err
		}
		d, err = waitForEvent(configMapWatch, start, func(obj any) bool {
			return obj.(*corev1.ConfigMap).Data["step"] == strconv.FormatInt(step, 10)
		})
		if err != nil {
			return res, err
		}
		res.floor = append(res.floor, d)
	}
	slices.Sort(res.progress)
	slices.Sort(res.floor)

	// Then from the program's line to a watch and to the UI, with the manager and the UI running.
	manager, err := startManager(ctx, opts, env)
	if err != nil {
		return res, err
	}
	defer manager.stop()
	ui, err := startUI(ctx, opts, env)
	if err != nil {
		return res, err
	}
	defer ui.stop()
	kubeconfig, err := adminKubeconfig(opts, env, "worker")
	if err != nil {
		return res, err
	}
	for _, r := range reportIntervals {
		fmt.Fprintf(opts.log, "bench: program line → watch and → UI at progressInterval %s\n", r.interval)
		report, err := runReportLatency(ctx, opts, c, ui, kubeconfig, r.interval, r.duration)
		if err != nil {
			return res, err
		}
		res.reports = append(res.reports, report)
	}
	return res, nil
}

// waitForEvent waits for the watch to deliver a modification that matches and says how long it has been
// since start.
func waitForEvent(w watch.Interface, start time.Time, matches func(any) bool) (time.Duration, error) {
	timeout := time.After(10 * time.Second)
	for {
		select {
		case event, ok := <-w.ResultChan():
			if !ok {
				return 0, fmt.Errorf("the watch ended")
			}
			if event.Type == watch.Modified && matches(event.Object) {
				return time.Since(start), nil
			}
		case <-timeout:
			return 0, fmt.Errorf("the write did not reach the watch in 10s")
		}
	}
}
