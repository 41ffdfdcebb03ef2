package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
)

// The program the report-latency benchmark runs under the worker binary is this benchmark itself:
//
//	bench emit --lines N --every D --log FILE
//
// prints N progress lines, a random 0 to 2×D apart, and writes to FILE when it printed each.
const emitCommand = "emit"

func emit(args []string) error {
	flags := flagSet(emitCommand)
	lines := flags.Int("lines", 1000, "how many progress lines to print")
	every := flags.Duration("every", 10*time.Millisecond, "the mean time between two lines")
	logPath := flags.String("log", "", "where to write when each line was printed")
	if err := flags.Parse(args); err != nil {
		return err
	}
	printed := make([]int64, *lines)
	for i := range *lines {
		time.Sleep(time.Duration(rand.Int64N(int64(2 * *every))))
		printed[i] = time.Now().UnixNano()
		fmt.Printf("::progress %d/%d line %d\n", i+1, *lines, i+1)
	}
	var b strings.Builder
	for i, at := range printed {
		fmt.Fprintf(&b, "%d %d\n", i+1, at)
	}
	return os.WriteFile(*logPath, []byte(b.String()), 0o644)
}

// reportLatencyResult is, for one progress interval, how long each line the program printed took to be
// visible (it, or a later line) to a watch on the LongTask and to a viewer of the UI's event stream.
type reportLatencyResult struct {
	interval time.Duration
	// lines the program printed; updates the changes of the LongTask's progress the watch saw (the
	// worker's writes, one per interval at most).
	lines, updates int
	watch, ui      []time.Duration
}

// sighting is when an observer first saw the progress reach current.
type sighting struct {
	at      time.Time
	current int64
}

// runReportLatency runs the real worker binary, with this benchmark as its program, against a LongTask of
// that progress interval, on the control plane with the manager and the UI, and times every line from
// the program's print to a watch and to the UI's event stream.
func runReportLatency(ctx context.Context, opts benchOptions, c client.WithWatch, ui *uiProcess, kubeconfig string, interval, duration time.Duration) (reportLatencyResult, error) {
	res := reportLatencyResult{interval: interval}
	const every = 10 * time.Millisecond
	res.lines = int(duration / every)
	task := benchTask(0)
	task.Name, task.Namespace = fmt.Sprintf("report-latency-%s", strings.ReplaceAll(interval.String(), ".", "")), "default"
	task.Spec.ProgressInterval = &metav1.Duration{Duration: interval}
	if err := c.Create(ctx, task); err != nil {
		return res, err
	}

	observe, stop := context.WithCancel(ctx)
	defer stop()
	w, err := c.Watch(observe, &longtaskv1.LongTaskList{}, &client.ListOptions{Namespace: task.Namespace,
		FieldSelector: fields.OneTermEqualSelector("metadata.name", task.Name)})
	if err != nil {
		return res, err
	}
	var watched, streamed []sighting
	var wg sync.WaitGroup
	wg.Go(func() {
		for event := range w.ResultChan() {
			if t, ok := event.Object.(*longtaskv1.LongTask); ok && event.Type == watch.Modified && t.Status.Progress != nil {
				watched = append(watched, sighting{time.Now(), t.Status.Progress.Current})
			}
		}
	})
	streamErr := make(chan error, 1)
	wg.Go(func() {
		streamErr <- ui.followTask(observe, task.Namespace, task.Name, func(current int64) {
			streamed = append(streamed, sighting{time.Now(), current})
		})
	})

	self, err := os.Executable()
	if err != nil {
		return res, err
	}
	printedLog := filepath.Join(opts.workDir, task.Name+".printed")
	cmd := exec.CommandContext(ctx, opts.worker, "run", "--", self, emitCommand, "--lines", strconv.Itoa(res.lines), "--every", every.String(), "--log", printedLog)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig,
		longtaskv1.EnvTaskName+"="+task.Name, longtaskv1.EnvTaskNamespace+"="+task.Namespace,
		longtaskv1.EnvProgressInterval+"="+interval.String())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return res, fmt.Errorf("the worker: %w\n%s", err, out)
	}
	// Let the last write reach both observers.
	time.Sleep(time.Second)
	stop()
	w.Stop()
	wg.Wait()
	if err := <-streamErr; err != nil && observe.Err() == nil {
		return res, err
	}
	printed, err := readPrinted(printedLog)
	if err != nil {
		return res, err
	}
	res.updates = len(watched)
	if res.watch, err = latencies(printed, watched); err != nil {
		return res, fmt.Errorf("the watch: %w", err)
	}
	if res.ui, err = latencies(printed, streamed); err != nil {
		return res, fmt.Errorf("the UI's stream: %w", err)
	}
	return res, nil
}

// latencies are, for each printed line, the time until a sighting of it or a later line.
func latencies(printed []time.Time, sightings []sighting) ([]time.Duration, error) {
	var out []time.Duration
	next := 0
	for i, at := range printed {
		line := int64(i + 1)
		for next < len(sightings) && sightings[next].current < line {
			next++
		}
		if next == len(sightings) {
			return nil, fmt.Errorf("line %d of %d was never seen", line, len(printed))
		}
		out = append(out, sightings[next].at.Sub(at))
	}
	slices.Sort(out)
	return out, nil
}

func readPrinted(path string) ([]time.Time, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var printed []time.Time
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		_, at, _ := strings.Cut(line, " ")
		nanos, err := strconv.ParseInt(at, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		printed = append(printed, time.Unix(0, nanos))
	}
	return printed, nil
}

// followTask reads a task's event stream from the UI until ctx ends, and tells seen the progress of each
// event.
func (u *uiProcess) followTask(ctx context.Context, namespace, name string, seen func(current int64)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/api/tasks/%s/%s/events", u.url, namespace, name), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the UI's event stream: %s", resp.Status)
	}
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		data, ok := strings.CutPrefix(scanner.Text(), "data: ")
		if !ok {
			continue
		}
		var view struct {
			Current int64 `json:"current"`
		}
		if err := json.Unmarshal([]byte(data), &view); err != nil {
			return fmt.Errorf("reading the UI's event %q: %w", data, err)
		}
		seen(view.Current)
	}
	return scanner.Err()
}
