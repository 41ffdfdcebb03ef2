package ui

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	longtaskv1 "github.com/longtask-dev/longtask/api/v1alpha1"
	"github.com/longtask-dev/longtask/internal/tasks"
	"github.com/longtask-dev/longtask/internal/text"
)

const (
	// tailLines is how much of the task's output a page shows: the last lines, then what follows.
	tailLines = 300
	// maxLineBytes caps each line a page shows, so that one huge line cannot fill the viewer's browser.
	maxLineBytes = 2048
	// logBatch is the most lines one event of the log stream carries.
	logBatch = 200
)

// logView is the task's output as the page first shows it, or why it is not shown.
type logView struct {
	Lines []string
	Note  string
}

// tail reads the last lines of a pod's task container, as the viewer; pod is the task's newest, empty
// when it has none yet.
func (s *Server) tail(ctx context.Context, v viewer, namespace, pod string) logView {
	if pod == "" {
		return logView{Note: "No output yet: the task has no pod."}
	}
	_, kube, err := s.actAs(v)
	if err != nil {
		return logView{Note: err.Error()}
	}
	stream, err := kube.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: longtaskv1.TaskContainerName, TailLines: ptr.To[int64](tailLines), LimitBytes: ptr.To[int64](tailLines * maxLineBytes),
	}).Stream(ctx)
	if err != nil {
		return logView{Note: "No output yet: " + err.Error()}
	}
	defer stream.Close()
	var view logView
	err = readLines(stream, func(line string) error {
		view.Lines = append(view.Lines, line)
		return nil
	})
	if err != nil {
		view.Note = err.Error()
	}
	return view
}

// log follows the task's output through the API server, as server-sent events: the last lines of the
// current attempt, then each line as it comes, then the next attempt's, until the task finished and its
// last pod's output ended. Without an EventSource it answers the last lines as text.
func (s *Server) log(w http.ResponseWriter, r *http.Request, v viewer) {
	key, ok := s.key(w, r)
	if !ok || !s.allow(w, r, v, longtasks("get", key.Namespace)) {
		return
	}
	_, kube, err := s.actAs(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if !wantsStream(r) {
		task, err := s.get(r.Context(), key)
		if err != nil {
			http.Error(w, fmt.Sprintf("LongTask %s: %v", key, err), statusOf(err))
			return
		}
		pod, err := tasks.NewestPod(r.Context(), kube, task.object)
		view := logView{Note: fmt.Sprint(err)}
		if err == nil {
			view = s.tail(r.Context(), v, key.Namespace, podName(pod))
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if view.Note != "" {
			fmt.Fprintln(w, view.Note)
		}
		for _, line := range view.Lines {
			fmt.Fprintln(w, line)
		}
		return
	}
	res := longtasks("get", key.Namespace)
	stream, ok := s.openStream(w, r, v, &res)
	if !ok {
		return
	}
	defer stream.close()
	// The stream ends without an end event when the viewer left or lost access: the page's EventSource
	// reconnects, and is refused if the loss was for good.
	unreadable := ""
	task, err := tasks.FollowLogs(stream.ctx, tasks.LogFollow{
		Kube: kube,
		Get: func(ctx context.Context) (*longtaskv1.LongTask, error) {
			task, err := s.get(ctx, key)
			if err != nil {
				return nil, errTaskGone
			}
			return task.object, nil
		},
		FirstTail: ptr.To[int64](tailLines),
		Output: func(pod *corev1.Pod, first bool, output io.Reader) error {
			return sendLog(stream, pod, first, output)
		},
		Unreadable: func(pod *corev1.Pod, err error) {
			unreadable = fmt.Sprintf("; the output of pod %s cannot be read: %v", pod.Name, err)
		},
	})
	switch {
	case stream.ctx.Err() != nil || errors.Is(err, errViewerLeft):
	case err != nil:
		_ = stream.send("end", err.Error())
	default:
		_ = stream.send("end", "the task "+strings.ToLower(string(task.Status.Phase))+unreadable)
	}
}

func podName(pod *corev1.Pod) string {
	if pod == nil {
		return ""
	}
	return pod.Name
}

var (
	// errViewerLeft is a failed write to the viewer's stream.
	errViewerLeft = errors.New("the viewer left")
	// errTaskGone: the task followed is no longer in the cache.
	errTaskGone = errors.New("the task is gone")
)

// sendLog sends a pod's output until it ends, after a line that says a new attempt began for all but the
// first pod the viewer sees.
func sendLog(stream *eventStream, pod *corev1.Pod, first bool, output io.Reader) error {
	if !first {
		if stream.send("attempt", pod.Name) != nil {
			return errViewerLeft
		}
	}
	ctx := stream.ctx
	lines := make(chan string, logBatch)
	go func() {
		_ = readLines(output, func(line string) error {
			select {
			case lines <- line:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
		close(lines)
	}()
	batch := make([]string, 0, logBatch)
	for line := range lines {
		// Send what has come in so far as one event, so that a chatty task costs one write per batch.
		batch = append(batch[:0], line)
		for len(batch) < logBatch && len(lines) > 0 {
			batch = append(batch, <-lines)
		}
		if stream.send("lines", strings.Join(batch, "\n")) != nil {
			return errViewerLeft
		}
	}
	return nil
}

// readLines calls line for each line of r, each cut to maxLineBytes and made valid UTF-8.
func readLines(r io.Reader, line func(string) error) error {
	br := bufio.NewReaderSize(r, maxLineBytes)
	var current []byte
	cut := false
	for {
		part, more, err := br.ReadLine()
		if len(part) > 0 || (err == nil && !more) {
			if room := maxLineBytes - len(current); len(part) > room {
				part, cut = part[:room], true
			}
			current = append(current, part...)
		}
		if err == nil && more {
			continue
		}
		if err == nil || len(current) > 0 {
			shown := text.Cut(string(current), maxLineBytes, text.Start)
			if cut {
				shown += " …"
			}
			if lineErr := line(shown); lineErr != nil {
				return lineErr
			}
		}
		current, cut = current[:0], false
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
