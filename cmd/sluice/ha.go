package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/ha"
	"github.com/sluicecdc/sluice/observe"
	"github.com/sluicecdc/sluice/pipeline"
	"github.com/sluicecdc/sluice/status"
)

// haConfig is the "ha" section: with node_id set, sluice runs as one node
// of a Raft cluster and streams only while it is the leader.
type haConfig struct {
	NodeID             string        `koanf:"node_id"`
	Bind               string        `koanf:"bind"`
	Advertise          string        `koanf:"advertise"`
	DataDir            string        `koanf:"data_dir"`
	Bootstrap          bool          `koanf:"bootstrap"`
	Peers              []peerConfig  `koanf:"peers"`
	TLS                tlsConfig     `koanf:"tls"`
	HeartbeatTimeout   time.Duration `koanf:"heartbeat_timeout"`
	ElectionTimeout    time.Duration `koanf:"election_timeout"`
	LeaderLeaseTimeout time.Duration `koanf:"leader_lease_timeout"`
	MaxWriteTime       time.Duration `koanf:"max_write_time"`
	// Insecure allows Raft without TLS on a non-loopback bind address.
	Insecure bool `koanf:"insecure"`
}

type peerConfig struct {
	ID   string `koanf:"id"`
	Addr string `koanf:"addr"`
}

type tlsConfig struct {
	CertFile   string `koanf:"cert_file"`
	KeyFile    string `koanf:"key_file"`
	CAFile     string `koanf:"ca_file"`
	ServerName string `koanf:"server_name"`
}

// httpConfig is the "http" section: /metrics, /healthz, /readyz and, in a
// cluster, /cluster/ admin.
type httpConfig struct {
	Listen       string        `koanf:"listen"` // empty: no HTTP server
	Advertise    string        `koanf:"advertise"`
	StallTimeout time.Duration `koanf:"stall_timeout"`
	// StatusSample is how often the status page's charts are sampled.
	StatusSample time.Duration `koanf:"status_sample"`
	// AdminTokenFile holds the bearer token /cluster/ writes need (the
	// same on every node); without it the cluster cannot be changed over
	// HTTP.
	AdminTokenFile string `koanf:"admin_token_file"`
	// AdminListen, when set, serves /cluster/ there instead of on Listen
	// (e.g. a private interface).
	AdminListen string `koanf:"admin_listen"`
	// AdminAdvertise is the URL other nodes and clients reach /cluster/
	// at, when admin_listen's own address is not one (an unspecified
	// host: 0.0.0.0, [::]).
	AdminAdvertise string `koanf:"admin_advertise"`
}

// adminToken reads http.admin_token_file ("" when none is set).
func (c *fileConfig) adminToken() (string, error) {
	if c.HTTP.AdminTokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(c.HTTP.AdminTokenFile)
	if err != nil {
		return "", fmt.Errorf("http.admin_token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 16 {
		return "", fmt.Errorf("http.admin_token_file %s: the token is %d characters: use at least 16 random ones (openssl rand -hex 32)", c.HTTP.AdminTokenFile, len(tok))
	}
	return tok, nil
}

// adminURL is where other nodes (a follower's redirect to the leader) and
// clients reach this node's admin API: http.admin_advertise, admin_listen,
// http.advertise or listen, in that order. A listen address on an
// unspecified host (0.0.0.0, [::], ":port") names no address to reach: its
// host is then ha.advertise's (or ha.bind's), where peers reach this node,
// and without one it is an error naming the setting to add.
func (c *fileConfig) adminURL() (string, error) {
	switch {
	case c.HTTP.AdminAdvertise != "":
		return c.HTTP.AdminAdvertise, nil
	case c.HTTP.AdminListen != "":
		return c.reachableURL(c.HTTP.AdminListen, "http.admin_listen", "http.admin_advertise")
	case c.HTTP.Advertise != "":
		return c.HTTP.Advertise, nil
	case c.HTTP.Listen != "":
		return c.reachableURL(c.HTTP.Listen, "http.listen", "http.advertise")
	}
	return "", nil
}

// reachableURL is the URL of listen (the setting key), with an
// unspecified host replaced as adminURL says; fix names the setting that
// gives it.
func (c *fileConfig) reachableURL(listen, key, fix string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", key, listen, err)
	}
	if !unspecifiedHost(host) {
		return "http://" + listen, nil
	}
	for _, peer := range []string{c.HA.Advertise, c.HA.Bind} {
		if h, _, err := net.SplitHostPort(peer); err == nil && !unspecifiedHost(h) {
			return "http://" + net.JoinHostPort(h, port), nil
		}
	}
	return "", fmt.Errorf("%s %q listens on every interface, which is no address other nodes can reach: set %s (e.g. http://10.0.0.5:%s) or ha.advertise", key, listen, fix, port)
}

// unspecifiedHost reports a listen host that stands for every interface.
func unspecifiedHost(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}

// localAdminURL is where a client on this machine reaches the admin API:
// adminURL, or the listen address on loopback when that has no
// reachable host.
func (c *fileConfig) localAdminURL() string {
	if u, err := c.adminURL(); err == nil {
		return u
	}
	listen := c.HTTP.AdminListen
	if listen == "" {
		listen = c.HTTP.Listen
	}
	_, port, _ := net.SplitHostPort(listen)
	return "http://" + net.JoinHostPort("127.0.0.1", port)
}

type heartbeatConfig struct {
	Table    string        `koanf:"table"` // "db.table"; empty: no heartbeat writes
	Interval time.Duration `koanf:"interval"`
}

func (c *fileConfig) haEnabled() bool { return c.HA.NodeID != "" }

func (c *fileConfig) haNodeConfig(log *slog.Logger) (ha.Config, error) {
	hc := ha.DefaultConfig()
	hc.NodeID, hc.BindAddr, hc.AdvertiseAddr, hc.DataDir = c.HA.NodeID, c.HA.Bind, c.HA.Advertise, c.HA.DataDir
	hc.Bootstrap, hc.Insecure = c.HA.Bootstrap, c.HA.Insecure
	for _, p := range c.HA.Peers {
		hc.Peers = append(hc.Peers, ha.Peer{ID: p.ID, Addr: p.Addr})
	}
	if c.HA.TLS.CertFile != "" {
		hc.TLS = &ha.TLSConfig{CertFile: c.HA.TLS.CertFile, KeyFile: c.HA.TLS.KeyFile, CAFile: c.HA.TLS.CAFile, ServerName: c.HA.TLS.ServerName}
	}
	if c.HA.HeartbeatTimeout != 0 {
		hc.HeartbeatTimeout = c.HA.HeartbeatTimeout
	}
	if c.HA.ElectionTimeout != 0 {
		hc.ElectionTimeout = c.HA.ElectionTimeout
	}
	if c.HA.LeaderLeaseTimeout != 0 {
		hc.LeaderLeaseTimeout = c.HA.LeaderLeaseTimeout
	}
	if c.HA.MaxWriteTime != 0 {
		hc.MaxWriteTime = c.HA.MaxWriteTime
	}
	adminURL, err := c.adminURL()
	if err != nil {
		return hc, err
	}
	hc.AdminURL = adminURL
	hc.Logger = log
	if err := hc.Validate(); err != nil {
		return hc, fmt.Errorf("ha: %w", err)
	}
	return hc, nil
}

// daemon runs sluice: one pipeline, or, in a cluster, one pipeline per
// leadership term; plus the HTTP server when configured.
func (c *fileConfig) daemon(ctx context.Context, pc pipeline.Config, stdout io.Writer, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	c.metrics = reg
	// The pipeline's metrics carry its name: the dashboard and the alert
	// rules tell pipelines apart by it.
	pc.Metrics = pipeline.NewMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"pipeline": pc.Name}, reg))
	stall := &observe.Stall{Timeout: c.HTTP.StallTimeout}
	pc.OnProgress = stall.Seen

	var node *ha.Node
	token, err := c.adminToken()
	if err != nil {
		return &configError{err}
	}
	if c.haEnabled() {
		hc, err := c.haNodeConfig(log.With("component", "ha"))
		if err != nil {
			return &configError{err}
		}
		if node, err = ha.New(hc); err != nil {
			return fmt.Errorf("start cluster node %s: %w", hc.NodeID, err)
		}
	}
	var obs *observe.Server
	var statusSvc *status.Service
	if c.HTTP.Listen != "" {
		oc := observe.DefaultConfig()
		oc.Addr, oc.Registry, oc.Stall, oc.Logger = c.HTTP.Listen, reg, stall, log.With("component", "http")
		if node != nil {
			oc.Replica = node
		}
		var err error
		if obs, err = observe.New(oc); err != nil {
			if node != nil {
				sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
				defer cancel()
				_ = node.Shutdown(sctx)
			}
			return &configError{fmt.Errorf("http: %w", err)}
		}
		if node != nil && c.HTTP.AdminListen == "" {
			obs.Handle("/cluster/", ha.NewAdminHandler(node, token))
		}
		sc := status.Config{Pipeline: pc.Metrics.Status, Readiness: obs.Readiness, Step: c.HTTP.StatusSample}
		if node != nil {
			sc.Replica = node
		}
		statusSvc = status.New(sc)
		obs.Handle("/", statusSvc.Handler()) // the status page and /api/status
	}
	var admin *http.Server
	var adminLn net.Listener
	if node != nil && c.HTTP.AdminListen != "" {
		mux := http.NewServeMux()
		mux.Handle("/cluster/", ha.NewAdminHandler(node, token))
		admin = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		if adminLn, err = net.Listen("tcp", c.HTTP.AdminListen); err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
			defer cancel()
			_ = node.Shutdown(sctx)
			return &configError{fmt.Errorf("http.admin_listen: %w", err)}
		}
	}

	// lead runs one pipeline: for the whole run without a cluster, for one
	// leadership term in one.
	lead := func(ctx context.Context) error {
		store, err := c.checkpointStore(ctx) // a new store per term: one epoch each
		if err != nil {
			return err
		}
		if ds, ok := store.(*checkpoint.DynamoStore); ok {
			if term, ok := ha.TermFromContext(ctx); ok {
				ds.SetTerm(term) // a claim from an older term is refused
			}
		}
		term := pc
		if obs != nil {
			defer obs.SetEpoch(0) // not leading any more
			defer statusSvc.SetEpoch(0)
			// Ready only once this term's preflight and sink checks passed.
			term.OnStreaming = func() { obs.SetStreaming(true) }
			defer obs.SetStreaming(false)
		}
		if node != nil {
			term.Owner = node.ID()
			term.SkipFinalSave = func() bool { return errors.Is(context.Cause(ctx), ha.ErrLeadershipLost) }
		}
		p, err := pipeline.New(term, store, func() ([]emit.Sink, error) {
			sinks, err := c.openSinks(ctx, stdout, log)
			if ds, ok := store.(*checkpoint.DynamoStore); ok && obs != nil {
				obs.SetEpoch(ds.Epoch())
				statusSvc.SetEpoch(ds.Epoch())
			}
			return sinks, err
		})
		if err != nil {
			return &configError{err}
		}
		return p.Run(ctx)
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(runCtx)
	if obs != nil {
		g.Go(func() error { return statusSvc.Run(gctx) })
		g.Go(func() error {
			if err := obs.ListenAndServe(gctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("http server on %s: %w", c.HTTP.Listen, err)
			}
			return nil
		})
	}
	if admin != nil {
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
			defer cancel()
			return admin.Shutdown(sctx)
		})
		g.Go(func() error {
			if err := admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("admin http server on %s: %w", c.HTTP.AdminListen, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		defer stop() // when streaming ends, so does the HTTP server
		if node == nil {
			return lead(gctx)
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 15*time.Second)
			defer cancel()
			_ = node.Shutdown(sctx)
		}()
		err := node.Run(gctx, lead)
		if errors.Is(err, ha.ErrShutdown) {
			return nil
		}
		return err
	})
	err = g.Wait()
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}
