// Package localnode is a stand-in for the kubelet on a machine without a container runtime: it registers a
// Node, keeps it Ready, and runs the pods scheduled to it as host processes, each container in a private
// mount namespace where the pod's volumes appear at their mount paths. Images are not pulled: a map says
// which local binary stands for which image, and other images run their command on the host.
package localnode

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
)

// heartbeat is how often the node renews its lease and reports its status.
const heartbeat = 10 * time.Second

// Options configure a local node.
type Options struct {
	NodeName string
	Client   kubernetes.Interface
	// StateDir holds the pods' directories: volumes, logs and termination messages.
	StateDir string
	// Images maps an image to the local binary that stands for it: it is the image's entrypoint, and its
	// name resolves on the container's PATH.
	Images map[string]string
	// APIServerHost and APIServerPort are what pods get as KUBERNETES_SERVICE_HOST and _PORT.
	APIServerHost string
	APIServerPort int
	// Helper is the binary that starts a container: it is run with "container-exec" and a spec file, in a
	// new mount namespace (see ContainerExec).
	Helper string
	// LogsPort is where the node serves container logs to the API server; 0 for none.
	LogsPort int
	Log      io.Writer
}

// Node runs the pods scheduled to one Node.
type Node struct {
	opts Options

	mu   sync.Mutex
	pods map[types.UID]*podRunner
}

// New returns a node; Run starts it.
func New(opts Options) *Node {
	return &Node{opts: opts, pods: map[types.UID]*podRunner{}}
}

// Run registers the node, keeps it Ready and runs its pods until ctx ends; then it stops the pods'
// processes, as a machine going down would.
func (n *Node) Run(ctx context.Context) error {
	if err := n.register(ctx); err != nil {
		return fmt.Errorf("registering node %s: %w", n.opts.NodeName, err)
	}
	go n.heartbeats(ctx)
	if n.opts.LogsPort != 0 {
		if err := n.serveLogs(ctx); err != nil {
			return err
		}
	}

	factory := informers.NewSharedInformerFactoryWithOptions(n.opts.Client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", n.opts.NodeName).String()
	}))
	podInformer := factory.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { n.sync(ctx, obj.(*corev1.Pod)) },
		UpdateFunc: func(_, obj any) { n.sync(ctx, obj.(*corev1.Pod)) },
		DeleteFunc: n.forget,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	n.logf("node %s is ready", n.opts.NodeName)
	<-ctx.Done()
	factory.Shutdown()

	n.mu.Lock()
	runners := make([]*podRunner, 0, len(n.pods))
	for _, r := range n.pods {
		runners = append(runners, r)
	}
	n.mu.Unlock()
	for _, r := range runners {
		r.kill()
	}
	return nil
}

// sync starts a pod the node has not seen, and stops one that is being deleted.
func (n *Node) sync(ctx context.Context, pod *corev1.Pod) {
	n.mu.Lock()
	runner, known := n.pods[pod.UID]
	if !known {
		runner = newPodRunner(n, pod)
		n.pods[pod.UID] = runner
	}
	n.mu.Unlock()

	if !known {
		go func() {
			runner.run(ctx)
			n.mu.Lock()
			delete(n.pods, pod.UID)
			n.mu.Unlock()
		}()
	}
	if pod.DeletionTimestamp != nil {
		runner.stop(time.Duration(ptr.Deref(pod.DeletionGracePeriodSeconds, 0)) * time.Second)
	}
}

// forget stops the processes of a pod that was removed without a graceful deletion (kubectl delete
// --force): there is no grace period left to give them.
func (n *Node) forget(obj any) {
	if tombstone, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tombstone.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	n.mu.Lock()
	runner := n.pods[pod.UID]
	n.mu.Unlock()
	if runner != nil {
		runner.stop(0)
	}
}

func (n *Node) register(ctx context.Context) error {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.opts.NodeName,
			Labels: map[string]string{
				corev1.LabelHostname: n.opts.NodeName, corev1.LabelOSStable: runtime.GOOS, corev1.LabelArchStable: runtime.GOARCH,
			},
		},
	}
	_, err := n.opts.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return n.reportStatus(ctx)
}

func (n *Node) heartbeats(ctx context.Context) {
	ticker := time.NewTicker(heartbeat)
	defer ticker.Stop()
	for {
		if err := n.renewLease(ctx); err != nil && ctx.Err() == nil {
			n.logf("renewing the node lease: %v", err)
		}
		if err := n.reportStatus(ctx); err != nil && ctx.Err() == nil {
			n.logf("reporting the node status: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// reportStatus says the node is Ready, with the machine's capacity; the node lifecycle controller would
// otherwise taint it and evict its pods.
func (n *Node) reportStatus(ctx context.Context) error {
	node, err := n.opts.Client.CoreV1().Nodes().Get(ctx, n.opts.NodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memoryBytes(), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
	}
	node.Status.Capacity, node.Status.Allocatable = capacity, capacity
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}, {Type: corev1.NodeHostName, Address: n.opts.NodeName}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(n.opts.LogsPort)
	node.Status.NodeInfo = corev1.NodeSystemInfo{
		KubeletVersion: "v1.36.3-localnode", ContainerRuntimeVersion: "localnode://1",
		OperatingSystem: runtime.GOOS, Architecture: runtime.GOARCH,
	}
	conditions := []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "localnode is running pods as host processes"},
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID"},
	}
	for i := range conditions {
		conditions[i].LastHeartbeatTime = now
		conditions[i].LastTransitionTime = now
		for _, old := range node.Status.Conditions {
			if old.Type == conditions[i].Type && old.Status == conditions[i].Status {
				conditions[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	node.Status.Conditions = conditions
	_, err = n.opts.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

func (n *Node) renewLease(ctx context.Context) error {
	leases := n.opts.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, n.opts.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err := n.opts.Client.CoreV1().Nodes().Get(ctx, n.opts.NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		lease = &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{
				Name: n.opts.NodeName, Namespace: corev1.NamespaceNodeLease,
				OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}},
			},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(n.opts.NodeName), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now},
		}
		_, err = leases.Create(ctx, lease, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = &now
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

func (n *Node) podDir(uid types.UID) string {
	return filepath.Join(n.opts.StateDir, "pods", string(uid))
}

func (n *Node) logf(format string, a ...any) {
	if n.opts.Log != nil {
		fmt.Fprintf(n.opts.Log, "localnode: "+format+"\n", a...)
	}
}

// memoryBytes is the machine's memory, from /proc/meminfo; 8 GiB when it cannot be read.
func memoryBytes() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 8 << 30
	}
	var kib int64
	if _, err := fmt.Sscanf(string(data), "MemTotal: %d kB", &kib); err != nil {
		return 8 << 30
	}
	return kib << 10
}
