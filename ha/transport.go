package ha

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

const (
	// transportMaxPool is how many idle connections to each peer are kept.
	transportMaxPool = 3
	// transportTimeout is the I/O deadline of one RPC.
	transportTimeout = 10 * time.Second
)

// newTransport listens on cfg.BindAddr. Plain TCP is raft's own TCP
// transport; with TLS (or a test wrapper) it is raft's network transport over
// streamLayer.
func newTransport(cfg *Config, logger hclog.Logger) (*raft.NetworkTransport, error) {
	adv, err := net.ResolveTCPAddr("tcp", cfg.advertise())
	if err != nil {
		return nil, fmt.Errorf("resolve advertise address %s: %w", cfg.advertise(), err)
	}
	ncfg := &raft.NetworkTransportConfig{MaxPool: transportMaxPool, Timeout: transportTimeout, Logger: logger}
	if cfg.TLS == nil && cfg.wrapStream == nil {
		t, err := raft.NewTCPTransportWithConfig(cfg.BindAddr, adv, ncfg)
		if err != nil {
			return nil, fmt.Errorf("raft transport on %s: %w", cfg.BindAddr, err)
		}
		return t, nil
	}
	var tlsCfg *tls.Config
	if cfg.TLS != nil {
		if tlsCfg, err = cfg.TLS.load(); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("raft transport on %s: %w", cfg.BindAddr, err)
	}
	var s raft.StreamLayer = &streamLayer{Listener: ln, advertise: adv, tls: tlsCfg}
	if tlsCfg != nil {
		s.(*streamLayer).Listener = tls.NewListener(ln, tlsCfg)
	}
	if cfg.wrapStream != nil {
		s = cfg.wrapStream(s)
	}
	ncfg.Stream = s
	return raft.NewNetworkTransportWithConfig(ncfg), nil
}

// streamLayer is a raft.StreamLayer over a TCP listener, optionally TLS.
// Accepted TLS connections handshake on first read, in the transport's
// per-connection goroutine, so a slow peer does not hold up Accept.
type streamLayer struct {
	net.Listener
	advertise net.Addr
	tls       *tls.Config // nil: plain TCP
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// Dial connects to a peer; with TLS the handshake completes within timeout.
func (s *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	if s.tls == nil {
		return d.Dial("tcp", string(addr))
	}
	return tls.DialWithDialer(d, "tcp", string(addr), s.tls)
}

// Addr is the advertised address, which raft records in the configuration.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// load builds a mutual-TLS config: this node's certificate for both ends of
// a connection, and the CA for verifying peers in both directions.
func (c *TLSConfig) load() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: load key pair %s, %s: %w", c.CertFile, c.KeyFile, err)
	}
	pem, err := os.ReadFile(c.CAFile)
	if err != nil {
		return nil, fmt.Errorf("tls: read ca %s: %w", c.CAFile, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls: ca %s: %w", c.CAFile, errNoCerts)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ServerName:   c.ServerName,
	}, nil
}

var errNoCerts = errors.New("no PEM certificates found")
