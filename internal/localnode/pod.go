package localnode

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
)

// podRunner runs one pod: its init containers in order, then its containers side by side, reporting
// their states to the API server as the kubelet does.
type podRunner struct {
	node *Node
	pod  *corev1.Pod
	dir  string

	mu      sync.Mutex
	status  corev1.PodStatus
	procs   map[string]*exec.Cmd // running containers by name
	stopped bool                 // deletion requested: start nothing more
	stopCh  chan struct{}
	// statusMu keeps status writes in order.
	statusMu sync.Mutex
}

func newPodRunner(n *Node, pod *corev1.Pod) *podRunner {
	return &podRunner{node: n, pod: pod.DeepCopy(), dir: n.podDir(pod.UID), procs: map[string]*exec.Cmd{}, stopCh: make(chan struct{})}
}

// run runs the pod to its end, then waits for its deletion to remove it from the API server.
func (r *podRunner) run(ctx context.Context) {
	r.status = *r.pod.Status.DeepCopy()
	switch {
	case r.pod.Status.Phase == corev1.PodSucceeded || r.pod.Status.Phase == corev1.PodFailed:
	case r.pod.DeletionTimestamp != nil:
	case startedBefore(r.pod) && r.pod.Spec.RestartPolicy != corev1.RestartPolicyAlways:
		// The node restarted under a running pod whose processes are gone.
		r.lost(ctx)
	default:
		r.runPod(ctx)
	}
	select {
	case <-ctx.Done():
	case <-r.stopCh:
		r.finalize(ctx)
	}
}

func (r *podRunner) runPod(ctx context.Context) {
	now := metav1.Now()
	r.setStatus(ctx, func(s *corev1.PodStatus) {
		s.Phase = corev1.PodPending
		s.HostIP, s.PodIP = "127.0.0.1", "127.0.0.1"
		s.HostIPs, s.PodIPs = []corev1.HostIP{{IP: "127.0.0.1"}}, []corev1.PodIP{{IP: "127.0.0.1"}}
		s.StartTime = &now
		setPodCondition(s, corev1.PodInitialized, len(r.pod.Spec.InitContainers) == 0, "")
		setPodCondition(s, corev1.PodReady, false, "ContainersNotReady")
		setPodCondition(s, corev1.ContainersReady, false, "ContainersNotReady")
		s.InitContainerStatuses = waitingStatuses(r.pod.Spec.InitContainers, "PodInitializing")
		s.ContainerStatuses = waitingStatuses(r.pod.Spec.Containers, "PodInitializing")
	})
	if err := r.prepareVolumes(ctx); err != nil {
		r.node.logf("pod %s/%s: %v", r.pod.Namespace, r.pod.Name, err)
		r.setStatus(ctx, func(s *corev1.PodStatus) {
			s.Phase, s.Reason, s.Message = corev1.PodFailed, "VolumeSetupFailed", err.Error()
		})
		return
	}

	for _, c := range r.pod.Spec.InitContainers {
		if r.isStopped() {
			return
		}
		if state := r.runContainer(ctx, c, true); state.ExitCode != 0 {
			r.setStatus(ctx, func(s *corev1.PodStatus) { s.Phase = corev1.PodFailed })
			return
		}
	}
	r.setStatus(ctx, func(s *corev1.PodStatus) { setPodCondition(s, corev1.PodInitialized, true, "") })

	var wg sync.WaitGroup
	results := make([]int32, len(r.pod.Spec.Containers))
	for i, c := range r.pod.Spec.Containers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = r.runWithRestarts(ctx, c)
		}()
	}
	wg.Wait()

	phase := corev1.PodSucceeded
	for _, code := range results {
		if code != 0 {
			phase = corev1.PodFailed
		}
	}
	r.setStatus(ctx, func(s *corev1.PodStatus) {
		s.Phase = phase
		setPodCondition(s, corev1.PodReady, false, "PodCompleted")
		setPodCondition(s, corev1.ContainersReady, false, "PodCompleted")
	})
}

// runWithRestarts runs a container and restarts it as the pod's restart policy says, returning the exit
// code of its last run.
func (r *podRunner) runWithRestarts(ctx context.Context, c corev1.Container) int32 {
	backoff := time.Second
	for {
		state := r.runContainer(ctx, c, false)
		restart := r.pod.Spec.RestartPolicy == corev1.RestartPolicyAlways ||
			(r.pod.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && state.ExitCode != 0)
		if !restart || r.isStopped() || ctx.Err() != nil {
			return state.ExitCode
		}
		select {
		case <-ctx.Done():
			return state.ExitCode
		case <-r.stopCh:
			return state.ExitCode
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
		r.setStatus(ctx, func(s *corev1.PodStatus) {
			if cs := containerStatus(s, c.Name, false); cs != nil {
				cs.RestartCount++
				cs.LastTerminationState = cs.State
			}
		})
	}
}

// runContainer runs one container to its end and reports its states.
func (r *podRunner) runContainer(ctx context.Context, c corev1.Container, init bool) corev1.ContainerStateTerminated {
	spec, err := r.containerSpec(ctx, c)
	if err != nil {
		return r.terminated(ctx, c, init, corev1.ContainerStateTerminated{ExitCode: 128, Reason: "CreateContainerConfigError", Message: err.Error()})
	}
	logFile, err := os.OpenFile(r.logPath(c.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return r.terminated(ctx, c, init, corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error()})
	}
	defer logFile.Close()

	cmd := exec.Command(r.node.opts.Helper, "container-exec", spec)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, logFile, logFile
	// A mount namespace of its own, where the pod's volumes appear at their paths. A PID namespace of its
	// own, as in a container: the program is its PID 1, and when it ends the kernel kills whatever it left,
	// even processes that moved to a process group of their own (the worker puts the task's program in
	// one). A process group of its own, so that signals reach what it starts; and it dies with the node.
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:   syscall.CLONE_NEWPID,
		Unshareflags: syscall.CLONE_NEWNS,
		Setpgid:      true,
		Pdeathsig:    syscall.SIGKILL,
	}

	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return r.terminated(ctx, c, init, corev1.ContainerStateTerminated{ExitCode: 137, Reason: "Error", Message: "the pod was deleted before the container started"})
	}
	err = cmd.Start()
	if err == nil {
		r.procs[c.Name] = cmd
	}
	r.mu.Unlock()
	if err != nil {
		return r.terminated(ctx, c, init, corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error()})
	}

	started := metav1.Now()
	r.setStatus(ctx, func(s *corev1.PodStatus) {
		cs := containerStatus(s, c.Name, init)
		cs.State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}
		cs.Started = ptr.To(true)
		if !init {
			cs.Ready = true
			if allReady(s.ContainerStatuses) {
				s.Phase = corev1.PodRunning
				setPodCondition(s, corev1.ContainersReady, true, "")
				setPodCondition(s, corev1.PodReady, true, "")
			}
		}
	})

	waitErr := cmd.Wait()
	r.mu.Lock()
	delete(r.procs, c.Name)
	r.mu.Unlock()

	state := corev1.ContainerStateTerminated{StartedAt: started, Reason: "Completed"}
	var exitErr *exec.ExitError
	switch {
	case errors.As(waitErr, &exitErr):
		state.ExitCode = int32(exitErr.ExitCode())
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			state.ExitCode = 128 + int32(ws.Signal())
		}
		state.Reason = "Error"
	case waitErr != nil:
		state.ExitCode, state.Reason, state.Message = 128, "Error", waitErr.Error()
	}
	if state.Message == "" {
		state.Message = r.terminationMessage(c, state.ExitCode)
	}
	return r.terminated(ctx, c, init, state)
}

func (r *podRunner) terminated(ctx context.Context, c corev1.Container, init bool, state corev1.ContainerStateTerminated) corev1.ContainerStateTerminated {
	state.FinishedAt = metav1.Now()
	if state.StartedAt.IsZero() {
		state.StartedAt = state.FinishedAt
	}
	state.ContainerID = containerID(r.pod, c.Name)
	r.setStatus(ctx, func(s *corev1.PodStatus) {
		cs := containerStatus(s, c.Name, init)
		cs.State = corev1.ContainerState{Terminated: &state}
		cs.Ready = false
		if !init {
			setPodCondition(s, corev1.ContainersReady, false, "ContainersNotReady")
			setPodCondition(s, corev1.PodReady, false, "ContainersNotReady")
		}
	})
	return state
}

// terminationMessage reads what the container wrote to its termination message path, or, when it wrote
// nothing and failed under FallbackToLogsOnError, the end of its log, as the kubelet does.
func (r *podRunner) terminationMessage(c corev1.Container, exitCode int32) string {
	data, _ := os.ReadFile(r.terminationPath(c.Name))
	if len(data) == 0 && exitCode != 0 && c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError {
		data, _ = os.ReadFile(r.logPath(c.Name))
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		data = []byte(strings.Join(lines[max(0, len(lines)-80):], "\n"))
		if len(data) > 2048 {
			data = data[len(data)-2048:]
		}
	}
	if len(data) > 4096 {
		data = data[:4096]
	}
	return string(data)
}

// stop asks the pod's processes to stop, as a pod deletion does: SIGTERM, then SIGKILL after the grace
// period.
func (r *podRunner) stop(grace time.Duration) {
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.stopped = true
	close(r.stopCh)
	r.signal(syscall.SIGTERM)
	r.mu.Unlock()
	time.AfterFunc(grace, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.signal(syscall.SIGKILL)
	})
}

// kill stops the pod's processes at once, when the node goes down.
func (r *podRunner) kill() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.signal(syscall.SIGKILL)
}

// signal sends sig to every running container's process group; r.mu must be held.
func (r *podRunner) signal(sig syscall.Signal) {
	for _, cmd := range r.procs {
		_ = syscall.Kill(-cmd.Process.Pid, sig)
	}
}

func (r *podRunner) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// finalize removes a deleted pod from the API server once its processes are gone, and its directory.
func (r *podRunner) finalize(ctx context.Context) {
	for {
		r.mu.Lock()
		running := len(r.procs)
		r.mu.Unlock()
		if running == 0 || ctx.Err() != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	err := r.node.opts.Client.CoreV1().Pods(r.pod.Namespace).Delete(ctx, r.pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &r.pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		r.node.logf("deleting pod %s/%s: %v", r.pod.Namespace, r.pod.Name, err)
	}
	_ = os.RemoveAll(r.dir)
}

// lost marks a pod whose processes did not survive a restart of the node as failed, as the kubelet does
// with containers it cannot find.
func (r *podRunner) lost(ctx context.Context) {
	r.setStatus(ctx, func(s *corev1.PodStatus) {
		s.Phase = corev1.PodFailed
		for _, list := range [][]corev1.ContainerStatus{s.InitContainerStatuses, s.ContainerStatuses} {
			for i := range list {
				if list[i].State.Terminated == nil {
					list[i].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
						ExitCode: 137, Reason: "ContainerStatusUnknown", FinishedAt: metav1.Now(),
						Message: "The container could not be located when the node restarted",
					}}
					list[i].Ready = false
				}
			}
		}
	})
}

// setStatus changes the pod's status and writes it to the API server.
func (r *podRunner) setStatus(ctx context.Context, change func(*corev1.PodStatus)) {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	r.mu.Lock()
	change(&r.status)
	status := *r.status.DeepCopy()
	r.mu.Unlock()

	pods := r.node.opts.Client.CoreV1().Pods(r.pod.Namespace)
	err := retry.OnError(retry.DefaultBackoff, func(err error) bool { return !apierrors.IsNotFound(err) && ctx.Err() == nil }, func() error {
		pod, err := pods.Get(ctx, r.pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if pod.UID != r.pod.UID {
			return apierrors.NewNotFound(corev1.Resource("pods"), r.pod.Name)
		}
		// Keep the conditions others own, such as PodScheduled.
		for _, c := range pod.Status.Conditions {
			if findPodCondition(&status, c.Type) == nil {
				status.Conditions = append(status.Conditions, c)
			}
		}
		pod.Status = status
		_, err = pods.UpdateStatus(ctx, pod, metav1.UpdateOptions{})
		return err
	})
	if err != nil && ctx.Err() == nil && !apierrors.IsNotFound(err) {
		r.node.logf("updating the status of pod %s/%s: %v", r.pod.Namespace, r.pod.Name, err)
	}
}

func (r *podRunner) logPath(container string) string {
	return filepath.Join(r.dir, "logs", container+".log")
}

func (r *podRunner) terminationPath(container string) string {
	return filepath.Join(r.dir, "termination", container)
}

func startedBefore(pod *corev1.Pod) bool {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range list {
			if cs.State.Running != nil || cs.State.Terminated != nil {
				return true
			}
		}
	}
	return false
}

func waitingStatuses(containers []corev1.Container, reason string) []corev1.ContainerStatus {
	var statuses []corev1.ContainerStatus
	for _, c := range containers {
		statuses = append(statuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, ImageID: "localnode://" + c.Image,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}},
		})
	}
	return statuses
}

func containerStatus(s *corev1.PodStatus, name string, init bool) *corev1.ContainerStatus {
	list := s.ContainerStatuses
	if init {
		list = s.InitContainerStatuses
	}
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func allReady(statuses []corev1.ContainerStatus) bool {
	for _, cs := range statuses {
		if !cs.Ready {
			return false
		}
	}
	return true
}

func containerID(pod *corev1.Pod, container string) string {
	return fmt.Sprintf("localnode://%s/%s", pod.UID, container)
}

func setPodCondition(s *corev1.PodStatus, t corev1.PodConditionType, ok bool, reason string) {
	status := corev1.ConditionFalse
	if ok {
		status = corev1.ConditionTrue
	}
	if c := findPodCondition(s, t); c != nil {
		if c.Status != status {
			c.LastTransitionTime = metav1.Now()
		}
		c.Status, c.Reason = status, reason
		return
	}
	s.Conditions = append(s.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: reason, LastTransitionTime: metav1.Now()})
}

func findPodCondition(s *corev1.PodStatus, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}
