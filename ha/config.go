package ha

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/hashicorp/raft"
)

// Peer is one member of a fixed cluster: a stable node ID and the Raft
// address other members dial it on.
type Peer struct {
	ID   string
	Addr string
}

// TLSConfig turns on mutual TLS for Raft traffic. Every node presents
// CertFile/KeyFile and accepts only peers whose certificate chains to CAFile.
type TLSConfig struct {
	CertFile string
	KeyFile  string
	CAFile   string
	// ServerName, when set, is the name every peer's certificate is verified
	// against (one certificate name for the whole cluster). When empty the
	// host part of the dialled address is verified, so each certificate needs
	// that host as a DNS or IP SAN.
	ServerName string
}

// Config is an HA node's configuration. Build it from DefaultConfig, fill the
// identity and addresses, and call Validate (New does).
type Config struct {
	// NodeID is this node's stable identity; it must not change across
	// restarts, since Raft keys membership and votes by it.
	NodeID string
	// BindAddr is the host:port the Raft transport listens on.
	BindAddr string
	// AdvertiseAddr is the host:port peers dial to reach this node. Empty
	// means BindAddr, which then must not be an unspecified address (0.0.0.0).
	AdvertiseAddr string
	// AdminURL is the base URL of this node's admin HTTP handler (for example
	// http://10.0.0.1:9100). The node publishes it in the replicated state each
	// time it becomes leader, so followers can redirect admin calls to it.
	// Empty disables forwarding to this node.
	AdminURL string
	// DataDir holds the Raft log and stable store (raft.db) and snapshots.
	DataDir string
	// Peers is the cluster to bootstrap: every voter, including this node.
	// Empty with Bootstrap set means a single-node cluster of just this node.
	Peers []Peer
	// Bootstrap makes a node with no Raft state write the initial cluster
	// configuration (Peers). Give every member of a fixed cluster the same
	// Peers and Bootstrap; on restart, existing state wins and the flag is a
	// no-op. A node meant to join a running cluster via AddVoter leaves it off.
	Bootstrap bool
	// TLS, when set, encrypts and authenticates Raft traffic.
	TLS *TLSConfig
	// Insecure allows Raft without TLS on a non-loopback bind address
	// (a private network only the nodes reach); Validate refuses that
	// otherwise.
	Insecure bool

	// HeartbeatTimeout is how long a follower goes without contact from the
	// leader before starting an election.
	HeartbeatTimeout time.Duration
	// ElectionTimeout is how long a candidate waits before a new election.
	ElectionTimeout time.Duration
	// LeaderLeaseTimeout is how long a leader keeps leading without contact
	// from a quorum. It also bounds how long lead() keeps running on a node
	// that was cut off (see Run).
	LeaderLeaseTimeout time.Duration
	// MaxWriteTime is the longest one write the leader makes outside Raft
	// without a fence of its own (one Kinesis PutRecords attempt) is given:
	// the leader abandons such a request after it, and the moment its
	// lease lapses if that comes first (Lease.MaxWrite). A new leader makes
	// no such write until MaxWriteTime after it took office
	// (Lease.WritesFrom): its predecessor's lease had ended by then, so a
	// request the predecessor sent within its lease has been applied, or
	// abandoned, before the new leader's first one leaves. It adds to
	// failover time (the new leader's start-up overlaps it).
	MaxWriteTime time.Duration

	// LeadFailureLimit is how many times in a row lead may fail (return while
	// this node is still leader) before the node hands leadership to another
	// voter. Zero means 3.
	LeadFailureLimit int
	// LeadRetryBackoff is the pause after lead fails before it is called again;
	// it doubles with each consecutive failure up to 32 times this value.
	LeadRetryBackoff time.Duration

	// Logger receives the node's and Raft's logs. Nil means slog.Default().
	Logger *slog.Logger

	// wrapStream, when set (tests only), wraps the Raft stream layer, which
	// then is this package's own TCP stream layer rather than raft's.
	wrapStream func(raft.StreamLayer) raft.StreamLayer
}

// DefaultConfig is a single-node cluster on 127.0.0.1:7946 with Raft's
// default LAN timings. Set NodeID, DataDir and, for a real cluster, Peers.
func DefaultConfig() Config {
	return Config{
		NodeID:             "sluice-1",
		BindAddr:           "127.0.0.1:7946",
		DataDir:            "./sluice-data/raft",
		Bootstrap:          true,
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		MaxWriteTime:       5 * time.Second,
		LeadFailureLimit:   3,
		LeadRetryBackoff:   time.Second,
	}
}

// advertise is the address peers dial: AdvertiseAddr, or BindAddr.
func (c *Config) advertise() string {
	if c.AdvertiseAddr != "" {
		return c.AdvertiseAddr
	}
	return c.BindAddr
}

// voters is the configuration Bootstrap writes.
func (c *Config) voters() []Peer {
	if len(c.Peers) == 0 {
		return []Peer{{ID: c.NodeID, Addr: c.advertise()}}
	}
	return c.Peers
}

// isLoopback reports whether host names this machine only.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Validate checks each field and how they fit together.
func (c *Config) Validate() error {
	if c.NodeID == "" {
		return errors.New("node_id is empty")
	}
	if err := checkHostPort(c.BindAddr); err != nil {
		return fmt.Errorf("bind %q: %w", c.BindAddr, err)
	}
	adv := c.advertise()
	if err := checkHostPort(adv); err != nil {
		return fmt.Errorf("advertise %q: %w", adv, err)
	}
	if host, _, _ := net.SplitHostPort(adv); host == "" || isUnspecified(host) {
		return fmt.Errorf("advertise %q: peers cannot dial an unspecified address; set the advertise address", adv)
	}
	if c.AdminURL != "" {
		u, err := url.Parse(c.AdminURL)
		if err != nil {
			return fmt.Errorf("admin url %q: %w", c.AdminURL, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("admin url %q: want http://host:port or https://host:port", c.AdminURL)
		}
	}
	if c.DataDir == "" {
		return errors.New("data_dir is empty")
	}
	ids := make(map[string]bool, len(c.Peers))
	addrs := make(map[string]bool, len(c.Peers))
	self := false
	for i, p := range c.Peers {
		if p.ID == "" {
			return fmt.Errorf("peers[%d]: id is empty", i)
		}
		if err := checkHostPort(p.Addr); err != nil {
			return fmt.Errorf("peers[%d] (%s) addr %q: %w", i, p.ID, p.Addr, err)
		}
		if ids[p.ID] {
			return fmt.Errorf("peers[%d]: id %q listed twice", i, p.ID)
		}
		if addrs[p.Addr] {
			return fmt.Errorf("peers[%d]: addr %q listed twice", i, p.Addr)
		}
		ids[p.ID], addrs[p.Addr] = true, true
		if p.ID == c.NodeID {
			self = true
			if p.Addr != adv {
				return fmt.Errorf("peers[%d]: this node's addr %q differs from its advertise address %q", i, p.Addr, adv)
			}
		}
	}
	if len(c.Peers) > 0 && !self && c.Bootstrap {
		return fmt.Errorf("node_id %q is not in peers: a bootstrapping node must be one of the voters", c.NodeID)
	}
	if len(c.Peers) > 0 && !c.Bootstrap {
		return errors.New("peers without bootstrap: peers only describe the cluster to bootstrap; set bootstrap, or drop peers and join with add-voter")
	}
	if c.TLS != nil {
		if c.TLS.CertFile == "" || c.TLS.KeyFile == "" || c.TLS.CAFile == "" {
			return errors.New("tls: cert_file, key_file and ca_file are all required")
		}
	}
	const floor = 5 * time.Millisecond
	switch {
	case c.HeartbeatTimeout < floor:
		return fmt.Errorf("heartbeat_timeout %s: want at least %s", c.HeartbeatTimeout, floor)
	case c.ElectionTimeout < c.HeartbeatTimeout:
		return fmt.Errorf("election_timeout %s: want at least heartbeat_timeout (%s)", c.ElectionTimeout, c.HeartbeatTimeout)
	case c.LeaderLeaseTimeout < floor:
		return fmt.Errorf("leader_lease_timeout %s: want at least %s", c.LeaderLeaseTimeout, floor)
	case c.LeaderLeaseTimeout > c.HeartbeatTimeout:
		return fmt.Errorf("leader_lease_timeout %s: want at most heartbeat_timeout (%s)", c.LeaderLeaseTimeout, c.HeartbeatTimeout)
	case c.MaxWriteTime < floor:
		return fmt.Errorf("max_write_time %s: want at least %s", c.MaxWriteTime, floor)
	case c.LeadFailureLimit < 0:
		return fmt.Errorf("lead_failure_limit %d: want 0 (default) or more", c.LeadFailureLimit)
	case c.LeadRetryBackoff < 0:
		return fmt.Errorf("lead_retry_backoff %s: want 0 or more", c.LeadRetryBackoff)
	}
	if host, _, _ := net.SplitHostPort(c.BindAddr); c.TLS == nil && !c.Insecure && !isLoopback(host) {
		return fmt.Errorf("bind %q: Raft traffic to a non-loopback address without TLS lets anyone who reaches it join or disrupt the cluster: set tls (cert_file, key_file, ca_file), or insecure: true on a network only the nodes reach", c.BindAddr)
	}
	return nil
}

func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q: want a number from 1 to 65535", port)
	}
	return nil
}

func isUnspecified(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}
