// Package observe is sluice's HTTP server for operators and orchestrators:
// /metrics (Prometheus), /healthz (the process is up), /readyz (this replica
// is doing its job: leading and streaming, or following in sync), plus any
// handlers mounted with Handle, such as the cluster admin API.
package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the server's configuration.
type Config struct {
	// Addr is the host:port to listen on (http.listen).
	Addr string
	// Registry is where the server registers its collectors and what
	// /metrics serves. Nil means a new registry.
	Registry *prometheus.Registry
	// Replica is the HA node; nil runs standalone (no HA).
	Replica Replica
	// Stall, when set, makes /readyz fail while streaming without progress.
	Stall *Stall
	// MaxLeaderContact is how long a follower may go without hearing from
	// the leader and still be ready.
	MaxLeaderContact time.Duration
	// MaxApplyLag is how many committed Raft entries a ready follower may
	// have left to apply.
	MaxApplyLag uint64
	// ShutdownTimeout bounds the graceful stop; connections still open then
	// are closed.
	ShutdownTimeout time.Duration
	// ReadTimeout, WriteTimeout and IdleTimeout bound reading a request,
	// writing its answer, and keeping an idle connection: a client that
	// stalls or never reads cannot hold a connection forever.
	ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger

	now func() time.Time // tests
}

// DefaultConfig listens on 127.0.0.1:9100.
func DefaultConfig() Config {
	return Config{
		Addr:             "127.0.0.1:9100",
		MaxLeaderContact: 5 * time.Second,
		MaxApplyLag:      64,
		ShutdownTimeout:  5 * time.Second,
		ReadTimeout:      10 * time.Second,
		WriteTimeout:     30 * time.Second,
		IdleTimeout:      60 * time.Second,
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("http.listen %q: %w", c.Addr, err)
	}
	if c.MaxLeaderContact <= 0 {
		return fmt.Errorf("max leader contact %s: want more than 0", c.MaxLeaderContact)
	}
	if c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 {
		return fmt.Errorf("http read, write and idle timeouts (%s, %s, %s): want more than 0", c.ReadTimeout, c.WriteTimeout, c.IdleTimeout)
	}
	if c.ShutdownTimeout <= 0 {
		return fmt.Errorf("shutdown timeout %s: want more than 0", c.ShutdownTimeout)
	}
	if c.Stall != nil && c.Stall.Timeout < 0 {
		return fmt.Errorf("stall timeout %s: want 0 (off) or more", c.Stall.Timeout)
	}
	return nil
}

// Server serves the observability endpoints.
type Server struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	epoch prometheus.Gauge

	mu             sync.Mutex
	streaming      bool
	streamingSince time.Time
}

// New registers the server's metrics on cfg.Registry and builds its routes.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.epoch = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "sluice_ha_epoch",
		Help: "Fencing epoch this node holds in the checkpoint store (0 when not leading).",
	})
	for _, c := range []prometheus.Collector{s.epoch, newCollector(s)} {
		if err := cfg.Registry.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{Registry: cfg.Registry}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.serveReady)
	return s, nil
}

// Handle mounts h at pattern (http.ServeMux syntax), e.g.
// Handle("/cluster/", ha.NewAdminHandler(node, token)).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler is the server's routes, for tests or another server.
func (s *Server) Handler() http.Handler { return s.mux }

// SetEpoch publishes the fencing epoch this node holds (0 when it holds
// none).
func (s *Server) SetEpoch(epoch uint64) { s.epoch.Set(float64(epoch)) }

// ListenAndServe listens on Config.Addr and serves until ctx ends.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("http listen %s: %w", s.cfg.Addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down in two phases: stop
// accepting and wait up to ShutdownTimeout for requests in flight, then
// close the connections that remain. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: min(5*time.Second, s.cfg.ReadTimeout),
		// A client that stalls mid-request or never reads the answer, or
		// an idle keep-alive connection, must not hold a connection forever.
		ReadTimeout:  s.cfg.ReadTimeout,
		WriteTimeout: s.cfg.WriteTimeout,
		IdleTimeout:  s.cfg.IdleTimeout,
		ErrorLog:     slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	s.log.Info("http server listening", "addr", ln.Addr().String())
	select {
	case err := <-served:
		return fmt.Errorf("http serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	err := hs.Shutdown(sctx)
	if err != nil {
		err = errors.Join(fmt.Errorf("http graceful shutdown: %w", err), hs.Close())
	}
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
