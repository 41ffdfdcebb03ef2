// Package localcluster runs a Kubernetes control plane on loopback from the binaries
// hack/build-controlplane.sh builds: etcd, kube-apiserver, kube-controller-manager and kube-scheduler.
// Its state (certificates, etcd's data, logs) lives in one directory, so a cluster can be stopped and
// started again.
package localcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// certs are the cluster's keys and certificates, as files in its state directory.
type certs struct {
	dir string
}

func (c certs) path(name string) string { return filepath.Join(c.dir, name) }

// clientCert names a client certificate: the file's base name and the identity in it.
type clientCert struct {
	file         string
	commonName   string
	organization []string
}

var clientCerts = []clientCert{
	{file: "admin", commonName: "longtask-dev-admin", organization: []string{"system:masters"}},
	{file: "controller-manager", commonName: "system:kube-controller-manager"},
	{file: "scheduler", commonName: "system:kube-scheduler"},
	// The kubelet, as the Node authorizer and NodeRestriction know it.
	{file: "node", commonName: "system:node:" + NodeName, organization: []string{"system:nodes"}},
	// kube-proxy, bound to system:node-proxier by the bootstrap RBAC.
	{file: "kube-proxy", commonName: "system:kube-proxy"},
	// The API server when it asks a kubelet for logs, exec or port-forward.
	{file: "apiserver-kubelet-client", commonName: "kube-apiserver-kubelet-client", organization: []string{"system:masters"}},
}

// ensure creates whatever is missing: a CA, the API server's serving certificate, client certificates
// and the service account signing key, and issues the kubelet's serving certificate for nodeIP. Existing
// files are kept, so a restarted cluster keeps its identity, and a state directory from an older version
// gets the certificates it lacks.
func (c certs) ensure(nodeIP string) error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	var ca *x509.Certificate
	var caKey crypto.Signer
	if _, err := os.Stat(c.path("ca.crt")); errors.Is(err, os.ErrNotExist) {
		ca, caKey, err = c.createCA()
		if err != nil {
			return err
		}
	} else if ca, caKey, err = c.loadCA(); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s has a CA certificate but not its key: it was made by an older LongTask; remove it (make dev-clean) to start afresh", c.dir)
	} else if err != nil {
		return err
	}
	missing := func(name string) bool {
		_, err := os.Stat(c.path(name + ".crt"))
		return errors.Is(err, os.ErrNotExist)
	}
	if missing("apiserver") {
		serving := &x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver"},
			DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		if err := c.issue("apiserver", serving, ca, caKey); err != nil {
			return err
		}
	}
	for _, cc := range clientCerts {
		if !missing(cc.file) {
			continue
		}
		template := &x509.Certificate{
			Subject:     pkix.Name{CommonName: cc.commonName, Organization: cc.organization},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if err := c.issue(cc.file, template, ca, caKey); err != nil {
			return err
		}
	}
	// Issued at every start: it names the node IP, which the state may have been given anew.
	kubelet := &x509.Certificate{
		Subject:     pkix.Name{CommonName: NodeName},
		DNSNames:    []string{NodeName},
		IPAddresses: []net.IP{net.ParseIP(nodeIP)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	return c.issue("kubelet-serving", kubelet, ca, caKey)
}

// loadCA reads the CA's certificate and key.
func (c certs) loadCA() (*x509.Certificate, crypto.Signer, error) {
	certPEM, err := os.ReadFile(c.path("ca.crt"))
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(c.path("ca.key"))
	if err != nil {
		return nil, nil, err
	}
	certBlock, _ := pem.Decode(certPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	if certBlock == nil || keyBlock == nil {
		return nil, nil, fmt.Errorf("%s or %s is not PEM", c.path("ca.crt"), c.path("ca.key"))
	}
	ca, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	key, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, nil, fmt.Errorf("%s holds no signing key", c.path("ca.key"))
	}
	return ca, signer, nil
}

// createCA creates the CA and the service account signing key, which belong together: a new CA starts a
// new cluster identity.
func (c certs) createCA() (*x509.Certificate, crypto.Signer, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "longtask-dev-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, caKey.Public(), caKey)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, nil, err
	}
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	if err := writeKey(c.path("sa.key"), saKey); err != nil {
		return nil, nil, err
	}
	saPub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return nil, nil, err
	}
	if err := writePEM(c.path("sa.pub"), "PUBLIC KEY", saPub); err != nil {
		return nil, nil, err
	}
	if err := writeKey(c.path("ca.key"), caKey); err != nil {
		return nil, nil, err
	}
	// The CA's certificate last: its presence says the CA is complete.
	return ca, caKey, writePEM(c.path("ca.crt"), "CERTIFICATE", caDER)
}

func (c certs) issue(name string, template, ca *x509.Certificate, caKey crypto.Signer) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	template.SerialNumber = serial
	template.NotBefore = time.Now().Add(-time.Hour)
	template.NotAfter = time.Now().AddDate(10, 0, 0)
	template.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, template, ca, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("issuing the %s certificate: %w", name, err)
	}
	if err := writeKey(c.path(name+".key"), key); err != nil {
		return err
	}
	return writePEM(c.path(name+".crt"), "CERTIFICATE", der)
}

func writeKey(path string, key any) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	return writePEM(path, "PRIVATE KEY", der)
}

func writePEM(path, blockType string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}), 0o600)
}
