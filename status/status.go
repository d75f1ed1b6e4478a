// Package status is what an operator reads off a running node: its status
// document (the JSON at /api/status, which `sluice status` prints as a
// table) and the status page at /, with charts of the last hour drawn from
// a fixed in-memory ring of samples.
package status

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicecdc/sluice/ha"
	"github.com/sluicecdc/sluice/observe"
	"github.com/sluicecdc/sluice/pipeline"
)

// Doc is a node's status document.
type Doc struct {
	At   time.Time `json:"at"`
	Node string    `json:"node,omitempty"` // the HA node ID; empty standalone
	// Role is leader, follower, candidate, shutdown or standalone.
	Role string `json:"role"`
	// Epoch is the checkpoint claim's epoch this node holds (the DynamoDB
	// store's fencing token; 0: none). It is not the epoch records carry.
	Epoch uint64 `json:"epoch"`
	// Term is the Raft term in a cluster: what records carry as their
	// epoch (the Kafka header sluice.epoch, Kinesis's and S3's epoch).
	Term  uint64 `json:"term,omitempty"`
	Ready bool   `json:"ready"`
	// Reason says why the node is (not) ready.
	Reason   string   `json:"reason,omitempty"`
	LeaderID string   `json:"leader_id,omitempty"`
	Members  []Member `json:"members,omitempty"`
	// Pipeline is the pipeline this node runs (or ran, in an earlier term).
	Pipeline pipeline.Status `json:"pipeline"`
	// EventsPerSecond is the delivery rate over the last minute.
	EventsPerSecond float64 `json:"events_per_second"`
	// Source says where the document comes from: "http" (a running node)
	// or "checkpoint" (the store, when the node serves no HTTP).
	Source string `json:"source"`
}

// Member is a member of the cluster as this node sees it.
type Member struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Suffrage string `json:"suffrage"`
	// State is this node's own Raft state for itself, "leader" for the
	// leader it knows of, and "member" otherwise.
	State string `json:"state"`
}

// Config says where a Service reads the node's state.
type Config struct {
	// Pipeline returns the pipeline's status (pipeline.Metrics.Status).
	Pipeline func() pipeline.Status
	// Readiness is observe.Server.Readiness.
	Readiness func() observe.Readiness
	// Replica is the HA node; nil standalone.
	Replica observe.Replica
	// Step is how often the history is sampled; the ring holds an hour of
	// samples at most (Step 0 means 5s).
	Step time.Duration

	now func() time.Time // tests
}

// Service samples the node's state into a ring and serves it.
type Service struct {
	cfg   Config
	epoch atomic.Uint64

	mu   sync.Mutex
	ring ring
}

// New returns a Service; Run samples, Handler serves.
func New(cfg Config) *Service {
	if cfg.Step <= 0 {
		cfg.Step = 5 * time.Second
	}
	if cfg.now == nil {
		cfg.now = time.Now
	}
	return &Service{cfg: cfg, ring: newRing(int(time.Hour / cfg.Step))}
}

// SetEpoch records the checkpoint claim's fencing epoch this node holds
// (0: none).
func (s *Service) SetEpoch(e uint64) { s.epoch.Store(e) }

// Run samples every Step until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Step)
	defer t.Stop()
	s.sample()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			s.sample()
		}
	}
}

func (s *Service) sample() {
	st := s.cfg.Pipeline()
	var sinkErrors uint64
	for _, sk := range st.Sinks {
		sinkErrors += sk.Errors
	}
	s.mu.Lock()
	s.ring.add(Sample{At: s.cfg.now(), Lag: st.LagSeconds, CheckpointAge: st.CheckpointAgeSeconds, Events: st.Events, SinkErrors: sinkErrors})
	s.mu.Unlock()
}

// Doc returns the node's status now.
func (s *Service) Doc() Doc {
	now := s.cfg.now()
	d := Doc{At: now, Source: "http", Epoch: s.epoch.Load(), Pipeline: s.cfg.Pipeline()}
	if s.cfg.Readiness != nil {
		r := s.cfg.Readiness()
		d.Role, d.Ready, d.Reason, d.LeaderID = r.Role, r.Ready, r.Reason, r.LeaderID
	}
	if s.cfg.Replica != nil {
		hs := s.cfg.Replica.Status()
		d.Node, d.Term = hs.ID, hs.Term
		d.Members = members(hs)
	}
	if d.Role == "" {
		d.Role = "standalone"
	}
	s.mu.Lock()
	d.EventsPerSecond = s.ring.rate(now, time.Minute, d.Pipeline.Events)
	s.mu.Unlock()
	return d
}

func members(hs ha.Status) []Member {
	out := make([]Member, 0, len(hs.Servers))
	for _, srv := range hs.Servers {
		m := Member{ID: srv.ID, Addr: srv.Addr, Suffrage: srv.Suffrage, State: "member"}
		switch {
		case srv.ID == hs.ID:
			m.State = hs.State
		case srv.ID == hs.LeaderID:
			m.State = "Leader"
		}
		out = append(out, m)
	}
	return out
}

// History returns the samples of the last hour, oldest first.
func (s *Service) History() []Sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ring.all()
}

// Handler serves the status page at "/" and the document at
// "/api/status".
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.Doc())
	})
	mux.HandleFunc("GET /{$}", s.servePage)
	return mux
}
