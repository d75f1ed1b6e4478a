package mysqltest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Certs are PEM files made by GenerateCerts: a CA, a server certificate
// it signed, and a client certificate it signed.
type Certs struct {
	CA                    string // the CA's certificate
	ServerCert, ServerKey string // for "localhost" and 127.0.0.1
	ClientCert, ClientKey string // subject CN "sluice-client"
	OtherCA               string // a CA that signed nothing here
	ServerNames           []string
	ClientSubject         string // as MariaDB prints it for REQUIRE SUBJECT
}

// GenerateCerts writes a fresh CA, server and client certificates (ECDSA
// P-256, valid for a day) into dir.
func GenerateCerts(dir string) (*Certs, error) {
	c := &Certs{
		CA: filepath.Join(dir, "ca.pem"), OtherCA: filepath.Join(dir, "other-ca.pem"),
		ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem"),
		ServerNames: []string{"localhost", "127.0.0.1"}, ClientSubject: "/CN=sluice-client",
	}
	caKey, caCert, err := makeCA("sluice test CA")
	if err != nil {
		return nil, err
	}
	if err := writeCert(c.CA, "", caCert.Raw, nil); err != nil {
		return nil, err
	}
	_, other, err := makeCA("sluice other CA")
	if err != nil {
		return nil, err
	}
	if err := writeCert(c.OtherCA, "", other.Raw, nil); err != nil {
		return nil, err
	}
	now := time.Now()
	server := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if err := issue(c.ServerCert, c.ServerKey, server, caCert, caKey); err != nil {
		return nil, err
	}
	client := &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "sluice-client"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if err := issue(c.ClientCert, c.ClientKey, client, caCert, caKey); err != nil {
		return nil, err
	}
	return c, nil
}

func makeCA(name string) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("mysqltest: CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

func issue(certPath, keyPath string, tmpl, ca *x509.Certificate, caKey *ecdsa.PrivateKey) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("mysqltest: certificate %s: %w", tmpl.Subject.CommonName, err)
	}
	return writeCert(certPath, keyPath, der, key)
}

func writeCert(certPath, keyPath string, der []byte, key *ecdsa.PrivateKey) error {
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	if key == nil {
		return nil
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}
