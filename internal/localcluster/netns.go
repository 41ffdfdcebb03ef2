package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// dialTimeout bounds connecting a forwarded connection to its destination.
const dialTimeout = 10 * time.Second

// inNetNS runs fn on a thread that has entered the network namespace at nsPath. A socket keeps the
// namespace it was created in, so a listener or connection made in fn works from any goroutine later:
// that is how the cluster joins the host's loopback to the node's namespace without routing anything.
func inNetNS(nsPath string, fn func() error) error {
	target, err := os.Open(nsPath)
	if err != nil {
		return err
	}
	defer func() { _ = target.Close() }() // a namespace handle, only read
	runtime.LockOSThread()
	own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer func() { _ = own.Close() }() // a namespace handle, only read
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering network namespace %s: %w", nsPath, err)
	}
	fnErr := fn()
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so the runtime ends it with its goroutine instead of reusing a thread
		// in the wrong namespace.
		return errors.Join(fnErr, fmt.Errorf("leaving network namespace %s: %w", nsPath, err))
	}
	runtime.UnlockOSThread()
	return fnErr
}

// listenIn listens on addr inside the network namespace at nsPath.
func listenIn(nsPath, addr string) (net.Listener, error) {
	var l net.Listener
	err := inNetNS(nsPath, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// dialIn connects to addr from inside the network namespace at nsPath. addr is an IP address and port,
// so no name is resolved, which could happen on another thread.
func dialIn(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	var conn net.Conn
	err := inNetNS(nsPath, func() error {
		var err error
		conn, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		return err
	})
	return conn, err
}

// forward accepts connections on l until it is closed and joins each to a connection from dial, copying
// both ways until either side closes.
func forward(l net.Listener, dial func(context.Context) (net.Conn, error), logf func(string, ...any)) {
	for {
		in, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer in.Close()
			ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
			out, err := dial(ctx)
			cancel()
			if err != nil {
				logf("forwarding a connection from %s: %v", l.Addr(), err)
				return
			}
			defer out.Close()
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); copyAndClose(out, in) }()
			go func() { defer wg.Done(); copyAndClose(in, out) }()
			wg.Wait()
		}()
	}
}

// copyAndClose copies src to dst, then half-closes dst so that the other side sees the end of the stream.
func copyAndClose(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	if tcp, ok := dst.(*net.TCPConn); ok {
		_ = tcp.CloseWrite()
		return
	}
	_ = dst.Close()
}

// Forward serves the Service namespace/name's port on the host at hostAddr (a loopback address), as
// kind's port mappings serve a node's: each connection is made from inside the node's network
// namespace to the Service's ClusterIP, where kube-proxy sends it on to a ready pod. The Service is
// looked up for each connection, so it may come later or change. It stops when the cluster stops.
func (c *Cluster) Forward(hostAddr, namespace, name string, port int) error {
	client, err := c.client()
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", hostAddr)
	if err != nil {
		return fmt.Errorf("forwarding %s to Service %s/%s: %w", hostAddr, namespace, name, err)
	}
	c.listeners = append(c.listeners, l)
	go forward(l, func(ctx context.Context) (net.Conn, error) {
		svc, err := client.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return dialIn(ctx, c.network.NSPath(), net.JoinHostPort(svc.Spec.ClusterIP, strconv.Itoa(port)))
	}, c.logf)
	return nil
}
