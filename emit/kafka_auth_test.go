package emit

import (
	"context"
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
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestKafkaSASL: PLAIN and SCRAM logins against a kfake broker that
// requires SASL; a wrong password fails at start.
func TestKafkaSASL(t *testing.T) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			c := newKfake(t, kfake.EnableSASL(), kfake.Superuser(mech, "sluice", "right-password"))
			cfg := kafkaTestConfig(c.ListenAddrs())
			cfg.SASL = KafkaSASL{Mechanism: mech, Username: "sluice", Password: "right-password"}
			s := openKafka(t, cfg) // Check succeeds
			if err := s.Write(context.Background(), kafkaBatch(1, [][2]int{{1, 1}})); err != nil {
				t.Fatal(err)
			}
			if seq, err := s.Sync(context.Background(), true); err != nil || seq != 1 {
				t.Fatalf("Sync = %d, %v", seq, err)
			}
			bad := cfg
			bad.SASL.Password = "wrong"
			bad.RequestTimeout = 3 * time.Second
			ws, err := NewKafkaSink(bad, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer ws.Close()
			if _, err := ws.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "check brokers, tls and sasl") {
				t.Fatalf("wrong password: %v, want an error at start", err)
			}
		})
	}
}

// TestKafkaTLS: the sink reaches a TLS broker whose certificate ca_file
// signs, and fails at start without it (the system roots do not).
func TestKafkaTLS(t *testing.T) {
	dir := t.TempDir()
	cert, caFile := selfSigned(t, dir)
	c := newKfake(t, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}))
	cfg := kafkaTestConfig(c.ListenAddrs())
	cfg.TLS = KafkaTLS{Enabled: true, CAFile: caFile}
	s := openKafka(t, cfg)
	if err := s.Write(context.Background(), kafkaBatch(1, [][2]int{{1, 1}})); err != nil {
		t.Fatal(err)
	}
	if seq, err := s.Sync(context.Background(), true); err != nil || seq != 1 {
		t.Fatalf("Sync over TLS = %d, %v", seq, err)
	}
	untrusted := cfg
	untrusted.TLS.CAFile = ""
	untrusted.RequestTimeout = 3 * time.Second
	us, err := NewKafkaSink(untrusted, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer us.Close()
	if _, err := us.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "check brokers, tls and sasl") {
		t.Fatalf("untrusted certificate: %v, want an error at start", err)
	}
}

// selfSigned makes a certificate for 127.0.0.1 and writes it as ca_file.
func selfSigned(t *testing.T, dir string) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, ca
}
