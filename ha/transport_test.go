package ha

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	file string // CA certificate, PEM
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	ca := &testCA{cert: cert, key: key, file: filepath.Join(dir, name+".pem")}
	writePEM(t, ca.file, "CERTIFICATE", der)
	return ca
}

// issue writes a node certificate for 127.0.0.1 and "sluice-raft", usable
// as both server and client, and returns its TLSConfig.
func (ca *testCA) issue(t *testing.T, dir, name string) *TLSConfig {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:     []string{"sluice-raft"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &TLSConfig{CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key"), CAFile: ca.file}
	writePEM(t, c.CertFile, "CERTIFICATE", der)
	writePEM(t, c.KeyFile, "EC PRIVATE KEY", kder)
	return c
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTLSCluster(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	c := newTestCluster(t, clusterOpts{n: 3, tls: func(id string) *TLSConfig { return ca.issue(t, dir, id) }})
	leader := c.leader(10 * time.Second)
	waitFor(t, 5*time.Second, "followers to replicate over TLS", func() bool {
		for _, id := range c.followers(leader) {
			if c.nodes[id].node.LeaderRecord().ID != leader {
				return false
			}
		}
		return true
	})
	t0 := time.Now()
	if err := c.stop(leader); err != nil {
		t.Fatal(err)
	}
	next := c.leader(5*time.Second, leader)
	iv, _ := c.rec.last(next)
	t.Logf("TLS failover on shutdown: new lead on %s after %s", next, iv.start.Sub(t0).Round(time.Millisecond))

	// A client with a certificate from another CA is refused.
	rogue := newTestCA(t, dir, "rogue").issue(t, dir, "intruder")
	cert, err := tls.LoadX509KeyPair(rogue.CertFile, rogue.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	good, err := c.nodes[next].cfg.TLS.load()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", c.nodes[next].cfg.BindAddr, &tls.Config{
		MinVersion: tls.VersionTLS13, RootCAs: good.RootCAs,
		// Present the rogue certificate whatever CAs the server asks for.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil },
	})
	if err == nil {
		// TLS 1.3: the server's verdict on the client certificate arrives
		// with the first read.
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err = conn.Read(make([]byte, 1))
		conn.Close()
	}
	if err == nil {
		t.Fatal("a client with an untrusted certificate was accepted")
	}
	t.Logf("untrusted client: %v", err)

	// And a node does not trust a server outside its CA.
	if _, err := tls.Dial("tcp", c.nodes[next].cfg.BindAddr, &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: x509.NewCertPool()}); err == nil {
		t.Fatal("handshake against an unknown CA succeeded")
	}
}

func TestTLSConfigLoadErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	good := ca.issue(t, dir, "n1")
	notPEM := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]TLSConfig{
		"missing cert": {CertFile: filepath.Join(dir, "nope.crt"), KeyFile: good.KeyFile, CAFile: good.CAFile},
		"missing ca":   {CertFile: good.CertFile, KeyFile: good.KeyFile, CAFile: filepath.Join(dir, "nope.pem")},
		"ca not pem":   {CertFile: good.CertFile, KeyFile: good.KeyFile, CAFile: notPEM},
	} {
		if _, err := c.load(); err == nil {
			t.Errorf("%s: load succeeded", name)
		}
	}
	if _, err := good.load(); err != nil {
		t.Fatal(err)
	}
}
