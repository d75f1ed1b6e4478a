package ha

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	three := []Peer{{"n1", "10.0.0.1:7946"}, {"n2", "10.0.0.2:7946"}, {"n3", "10.0.0.3:7946"}}
	base := func() Config {
		c := DefaultConfig()
		c.NodeID, c.BindAddr, c.AdvertiseAddr, c.Peers = "n1", "0.0.0.0:7946", "10.0.0.1:7946", three
		c.Insecure = true
		return c
	}
	for _, tc := range []struct {
		name  string
		tweak func(*Config)
		want  string // substring of the error; "" for valid
	}{
		{"default single node", func(c *Config) { *c = DefaultConfig() }, ""},
		{"three nodes", func(*Config) {}, ""},
		{"joining node", func(c *Config) { c.Peers, c.Bootstrap = nil, false }, ""},
		{"no id", func(c *Config) { c.NodeID = "" }, "node_id is empty"},
		{"bad bind", func(c *Config) { c.BindAddr = "7946" }, "bind"},
		{"port zero", func(c *Config) { c.BindAddr = "127.0.0.1:0" }, "from 1 to 65535"},
		{"unadvertisable", func(c *Config) { c.AdvertiseAddr = "" }, "unspecified"},
		{"bad admin url", func(c *Config) { c.AdminURL = "10.0.0.1:9100" }, "admin url"},
		{"admin url", func(c *Config) { c.AdminURL = "http://10.0.0.1:9100" }, ""},
		{"no data dir", func(c *Config) { c.DataDir = "" }, "data_dir"},
		{"not a peer", func(c *Config) { c.NodeID = "n9" }, "not in peers"},
		{"self addr differs", func(c *Config) { c.AdvertiseAddr = "10.0.0.9:7946" }, "differs from its advertise"},
		{"duplicate id", func(c *Config) { c.Peers = append(c.Peers, Peer{"n2", "10.0.0.4:7946"}) }, "listed twice"},
		{"duplicate addr", func(c *Config) { c.Peers = append(c.Peers, Peer{"n4", "10.0.0.2:7946"}) }, "listed twice"},
		{"peer without addr", func(c *Config) { c.Peers[1].Addr = "" }, "peers[1]"},
		{"peers without bootstrap", func(c *Config) { c.Bootstrap = false }, "peers without bootstrap"},
		{"tls incomplete", func(c *Config) { c.TLS = &TLSConfig{CertFile: "a"} }, "tls"},
		{"heartbeat too low", func(c *Config) { c.HeartbeatTimeout = time.Millisecond }, "heartbeat_timeout"},
		{"election below heartbeat", func(c *Config) { c.ElectionTimeout = c.HeartbeatTimeout / 2 }, "election_timeout"},
		{"lease above heartbeat", func(c *Config) { c.LeaderLeaseTimeout = 2 * c.HeartbeatTimeout }, "leader_lease_timeout"},
		{"open raft on the network", func(c *Config) { c.Insecure = false }, "insecure: true"},
		{"raft with tls", func(c *Config) { c.Insecure, c.TLS = false, &TLSConfig{CertFile: "c", KeyFile: "k", CAFile: "ca"} }, ""},
		{"raft on loopback", func(c *Config) {
			c.Insecure, c.BindAddr, c.AdvertiseAddr, c.Peers, c.Bootstrap = false, "127.0.0.2:7946", "", nil, false
		}, ""},
		{"no max write time", func(c *Config) { c.MaxWriteTime = 0 }, "max_write_time"},
		{"negative failure limit", func(c *Config) { c.LeadFailureLimit = -1 }, "lead_failure_limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			c.Peers = append([]Peer(nil), three...)
			tc.tweak(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestDefaultConfigIsSingleNode(t *testing.T) {
	c := DefaultConfig()
	v := c.voters()
	if len(v) != 1 || v[0].ID != c.NodeID || v[0].Addr != c.BindAddr {
		t.Fatalf("voters = %+v", v)
	}
}
