package localnode

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// serveLogs serves container logs to the API server, which `kubectl logs` asks for them, on loopback.
// Only loopback can reach it, and it serves nothing but logs.
func (n *Node) serveLogs(ctx context.Context) error {
	cert, err := selfSignedCert()
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", n.containerLogs)
	server := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	listener, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", n.opts.LogsPort))
	if err != nil {
		return fmt.Errorf("serving logs: %w", err)
	}
	go func() {
		if err := server.ServeTLS(listener, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			n.logf("serving logs: %v", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = server.Close()
	}()
	return nil
}

func (n *Node) containerLogs(w http.ResponseWriter, req *http.Request) {
	runner := n.findPod(req.PathValue("namespace"), req.PathValue("pod"))
	if runner == nil {
		http.Error(w, "no such pod on this node", http.StatusNotFound)
		return
	}
	container := req.PathValue("container")
	path := runner.logPath(container)
	data, err := os.ReadFile(path)
	if err != nil {
		http.Error(w, fmt.Sprintf("no logs for container %s", container), http.StatusNotFound)
		return
	}
	if lines, err := strconv.Atoi(req.URL.Query().Get("tailLines")); err == nil && lines >= 0 {
		all := strings.SplitAfter(string(data), "\n")
		if all[len(all)-1] == "" {
			all = all[:len(all)-1]
		}
		data = []byte(strings.Join(all[max(0, len(all)-lines):], ""))
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(data)
	if req.URL.Query().Get("follow") != "true" {
		return
	}
	// Follow: send what the container adds until it ends or the client goes.
	offset := int64(len(data))
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	for runner.isRunning(container) {
		select {
		case <-req.Context().Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
		offset += copyFrom(w, path, offset)
	}
	copyFrom(w, path, offset)
}

func copyFrom(w io.Writer, path string, offset int64) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0
	}
	n, _ := io.Copy(w, f)
	if flusher, ok := w.(http.Flusher); ok {
		flusher.Flush()
	}
	return n
}

func (n *Node) findPod(namespace, name string) *podRunner {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, r := range n.pods {
		if r.pod.Namespace == namespace && r.pod.Name == name {
			return r
		}
	}
	return nil
}

func (r *podRunner) isRunning(container string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.procs[container]
	return ok
}

func selfSignedCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localnode"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
