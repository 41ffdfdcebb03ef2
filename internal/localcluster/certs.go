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
}

// ensure creates whatever is missing: a CA, the API server's serving certificate, client certificates
// and the service account signing key. Existing files are kept, so a restarted cluster keeps its identity.
func (c certs) ensure() error {
	if err := os.MkdirAll(c.dir, 0o700); err != nil {
		return err
	}
	if _, err := os.Stat(c.path("ca.crt")); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
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
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}

	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		DNSNames:    []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if err := c.issue("apiserver", serving, ca, caKey); err != nil {
		return err
	}
	for _, cc := range clientCerts {
		template := &x509.Certificate{
			Subject:     pkix.Name{CommonName: cc.commonName, Organization: cc.organization},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if err := c.issue(cc.file, template, ca, caKey); err != nil {
			return err
		}
	}

	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	if err := writeKey(c.path("sa.key"), saKey); err != nil {
		return err
	}
	saPub, err := x509.MarshalPKIXPublicKey(saKey.Public())
	if err != nil {
		return err
	}
	if err := writePEM(c.path("sa.pub"), "PUBLIC KEY", saPub); err != nil {
		return err
	}
	// The CA last: its presence says the set is complete.
	return writePEM(c.path("ca.crt"), "CERTIFICATE", caDER)
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
