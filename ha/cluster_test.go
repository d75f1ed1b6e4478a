package ha

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/sluicecdc/sluice/internal/testing/testport"
)

// Test timings: fast enough for a ~1 s failover, slow enough not to flap
// under -race on two cores.
const (
	testHeartbeat = 400 * time.Millisecond
	testElection  = 400 * time.Millisecond
	testLease     = 200 * time.Millisecond
)

// testCluster is N nodes over real TCP on 127.0.0.1, each leading through a
// shared leadRecorder.
type testCluster struct {
	t     *testing.T
	rec   *leadRecorder
	log   *slog.Logger
	nodes map[string]*testNode
	order []string
}

type testNode struct {
	id     string
	cfg    Config
	node   *Node
	stream *faultStream // nil unless the cluster is partitionable
	cancel context.CancelFunc
	runErr chan error
}

type clusterOpts struct {
	n             int
	partitionable bool
	tls           func(id string) *TLSConfig
	adminURL      func(id string) string
	lead          func(id string, rec *leadRecorder) LeadFunc // nil: rec.lead
	tweak         func(*Config)
}

func newTestCluster(t *testing.T, o clusterOpts) *testCluster {
	t.Helper()
	c := &testCluster{t: t, rec: newLeadRecorder(), log: testLogger(t), nodes: map[string]*testNode{}}
	ports := freePorts(t, o.n)
	var peers []Peer
	for i := range o.n {
		id := fmt.Sprintf("n%d", i+1)
		peers = append(peers, Peer{ID: id, Addr: ports[i]})
		c.order = append(c.order, id)
	}
	dir := t.TempDir()
	for i, id := range c.order {
		cfg := DefaultConfig()
		cfg.NodeID = id
		cfg.BindAddr = ports[i]
		cfg.DataDir = filepath.Join(dir, id)
		cfg.Peers = peers
		cfg.Bootstrap = true
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = testHeartbeat, testElection, testLease
		cfg.LeadRetryBackoff = 20 * time.Millisecond
		cfg.Logger = c.log
		if o.tls != nil {
			cfg.TLS = o.tls(id)
		}
		if o.adminURL != nil {
			cfg.AdminURL = o.adminURL(id)
		}
		if o.tweak != nil {
			o.tweak(&cfg)
		}
		tn := &testNode{id: id, cfg: cfg}
		c.nodes[id] = tn
		if o.partitionable {
			tn.cfg.wrapStream = func(s raft.StreamLayer) raft.StreamLayer {
				tn.stream = &faultStream{StreamLayer: s, conns: map[*faultConn]struct{}{}}
				return tn.stream
			}
		}
	}
	for _, id := range c.order {
		lead := c.rec.lead(id)
		if o.lead != nil {
			lead = o.lead(id, c.rec)
		}
		c.start(id, lead)
	}
	t.Cleanup(c.stopAll)
	return c
}

// start (re)starts node id from its config and data dir, and runs lead.
func (c *testCluster) start(id string, lead LeadFunc) {
	c.t.Helper()
	tn := c.nodes[id]
	n, err := New(tn.cfg)
	if err != nil {
		c.t.Fatalf("start %s: %v", id, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tn.node, tn.cancel, tn.runErr = n, cancel, make(chan error, 1)
	go func() { tn.runErr <- n.Run(ctx, lead) }()
}

// stop shuts node id down and waits for its Run to return.
func (c *testCluster) stop(id string) error {
	tn := c.nodes[id]
	if tn.node == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := tn.node.Shutdown(ctx)
	tn.cancel()
	select {
	case runErr := <-tn.runErr:
		if runErr != nil && !errors.Is(runErr, ErrShutdown) && !errors.Is(runErr, ErrRemoved) {
			c.t.Errorf("%s: Run: %v", id, runErr)
		}
	case <-time.After(10 * time.Second):
		c.t.Errorf("%s: Run did not return after Shutdown", id)
	}
	tn.node = nil
	return err
}

// stopAll stops every node and checks the invariant every test shares:
// lead never ran on two nodes at once for longer than the lease.
func (c *testCluster) stopAll() {
	for _, id := range c.order {
		if err := c.stop(id); err != nil {
			c.t.Errorf("shutdown %s: %v", id, err)
		}
	}
	if o := c.rec.maxOverlap(); o > testLease {
		c.t.Errorf("lead ran on two nodes at once for %s, more than the lease %s", o, testLease)
	}
}

// leader waits until exactly one node runs lead and returns it.
func (c *testCluster) leader(timeout time.Duration, except ...string) string {
	c.t.Helper()
	var id string
	waitFor(c.t, timeout, "a node leading", func() bool {
		running := c.rec.running()
		for _, x := range except {
			delete(running, x)
		}
		if len(running) != 1 {
			return false
		}
		for k := range running {
			id = k
		}
		return true
	})
	return id
}

// followers are the started nodes other than id.
func (c *testCluster) followers(id string) []string {
	var out []string
	for _, x := range c.order {
		if x != id && c.nodes[x].node != nil {
			out = append(out, x)
		}
	}
	return out
}

// leadRecorder records when lead ran on each node.
type leadRecorder struct {
	mu        sync.Mutex
	intervals []interval
}

type interval struct {
	node       string
	start, end time.Time // end zero while running
	cause      error     // context.Cause when it ended
}

func newLeadRecorder() *leadRecorder { return &leadRecorder{} }

// lead blocks until its context is cancelled.
func (r *leadRecorder) lead(id string) LeadFunc {
	return func(ctx context.Context) error {
		i := r.begin(id)
		<-ctx.Done()
		r.finish(i, context.Cause(ctx))
		return ctx.Err()
	}
}

func (r *leadRecorder) begin(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.intervals = append(r.intervals, interval{node: id, start: time.Now()})
	return len(r.intervals) - 1
}

func (r *leadRecorder) finish(i int, cause error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.intervals[i].end, r.intervals[i].cause = time.Now(), cause
}

func (r *leadRecorder) snapshot() []interval {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]interval(nil), r.intervals...)
}

func (r *leadRecorder) running() map[string]bool {
	out := map[string]bool{}
	for _, iv := range r.snapshot() {
		if iv.end.IsZero() {
			out[iv.node] = true
		}
	}
	return out
}

// last is node's latest interval.
func (r *leadRecorder) last(node string) (interval, bool) {
	ivs := r.snapshot()
	for i := len(ivs) - 1; i >= 0; i-- {
		if ivs[i].node == node {
			return ivs[i], true
		}
	}
	return interval{}, false
}

// maxOverlap is the longest time lead ran on two nodes at once.
func (r *leadRecorder) maxOverlap() time.Duration {
	ivs := r.snapshot()
	now := time.Now()
	var worst time.Duration
	for i, a := range ivs {
		for _, b := range ivs[i+1:] {
			if a.node == b.node {
				continue
			}
			ae, be := a.end, b.end
			if ae.IsZero() {
				ae = now
			}
			if be.IsZero() {
				be = now
			}
			if d := earliest(ae, be).Sub(latest(a.start, b.start)); d > worst {
				worst = d
			}
		}
	}
	return worst
}

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// faultStream wraps a stream layer so a test can cut a node off the network:
// while down, dials fail, accepted connections are closed at once, and every
// open connection is closed when it goes down.
type faultStream struct {
	raft.StreamLayer
	mu    sync.Mutex
	down  bool
	conns map[*faultConn]struct{}
}

var errPartitioned = errors.New("test partition")

type faultConn struct {
	net.Conn
	s *faultStream
}

func (c *faultConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

func (s *faultStream) track(c net.Conn) (net.Conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return nil, false
	}
	fc := &faultConn{Conn: c, s: s}
	s.conns[fc] = struct{}{}
	return fc, true
}

func (s *faultStream) Accept() (net.Conn, error) {
	for {
		c, err := s.StreamLayer.Accept()
		if err != nil {
			return nil, err
		}
		if fc, ok := s.track(c); ok {
			return fc, nil
		}
		_ = c.Close()
	}
}

func (s *faultStream) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	s.mu.Lock()
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, errPartitioned
	}
	c, err := s.StreamLayer.Dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	fc, ok := s.track(c)
	if !ok {
		_ = c.Close()
		return nil, errPartitioned
	}
	return fc, nil
}

func (s *faultStream) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
	if down {
		for c := range s.conns {
			_ = c.Conn.Close()
		}
		clear(s.conns)
	}
}

// freePorts reserves n distinct loopback addresses.
func freePorts(t *testing.T, n int) []string { return testport.Loopback(t, n) }

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testLogger logs to t at Warn and above while the test runs; transport
// goroutines that outlive it log nowhere.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(w.close) // registered first, so it runs after the cluster stops
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct {
	mu     sync.Mutex
	t      *testing.T
	closed bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Log(string(p[:len(p)-1]))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

var _ io.Writer = (*testWriter)(nil)
