package ha

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestSingleNode(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BindAddr = freePorts(t, 1)[0]
	cfg.DataDir = t.TempDir()
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = testHeartbeat, testElection, testLease
	cfg.Logger = testLogger(t)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec := newLeadRecorder()
	runErr := make(chan error, 1)
	go func() { runErr <- n.Run(context.Background(), rec.lead(cfg.NodeID)) }()
	waitFor(t, 5*time.Second, "lead to run", func() bool { return rec.running()[cfg.NodeID] })

	s := n.Status()
	if s.State != "Leader" || s.LeaderID != cfg.NodeID || !s.Leading || len(s.Servers) != 1 || s.Servers[0].Suffrage != "Voter" {
		t.Fatalf("status = %+v", s)
	}
	if rec := n.LeaderRecord(); rec.ID != cfg.NodeID || rec.Term != s.Term {
		t.Fatalf("leader record = %+v, want %s in term %d", rec, cfg.NodeID, s.Term)
	}
	if err := n.Run(context.Background(), rec.lead("again")); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := <-runErr; !errors.Is(err, ErrShutdown) {
		t.Fatalf("Run = %v, want ErrShutdown", err)
	}
	iv, _ := rec.last(cfg.NodeID)
	if iv.end.IsZero() || !errors.Is(iv.cause, ErrShutdown) {
		t.Fatalf("lead interval %+v: want ended by ErrShutdown", iv)
	}
	if s := n.Status(); s.State != "Shutdown" || s.Leading {
		t.Fatalf("status after shutdown = %+v", s)
	}
}

func TestRunReturnsWhenContextEnds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BindAddr = freePorts(t, 1)[0]
	cfg.DataDir = t.TempDir()
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = testHeartbeat, testElection, testLease
	cfg.Logger = testLogger(t)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	rec := newLeadRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- n.Run(ctx, rec.lead(cfg.NodeID)) }()
	waitFor(t, 5*time.Second, "lead to run", func() bool { return rec.running()[cfg.NodeID] })
	cancel()
	if err := <-runErr; err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if iv, _ := rec.last(cfg.NodeID); iv.end.IsZero() {
		t.Fatal("lead still running after Run returned")
	}
	if !n.IsLeader() {
		t.Fatal("Run's end should not affect Raft")
	}
}

func TestClusterElectsOneLeader(t *testing.T) {
	c := newTestCluster(t, clusterOpts{n: 3})
	leader := c.leader(10 * time.Second)
	waitFor(t, 5*time.Second, "followers to know the leader", func() bool {
		for _, id := range c.followers(leader) {
			s := c.nodes[id].node.Status()
			if s.State != "Follower" || s.LeaderID != leader || s.LastContact.IsZero() {
				return false
			}
		}
		return true
	})
	// Let a few heartbeat timeouts pass: still one leader, one lead.
	time.Sleep(3 * testHeartbeat)
	leaders := 0
	for _, id := range c.order {
		if c.nodes[id].node.IsLeader() {
			leaders++
		}
	}
	if leaders != 1 {
		t.Fatalf("%d leaders", leaders)
	}
	if r := c.rec.running(); len(r) != 1 || !r[leader] {
		t.Fatalf("lead running on %v, want only %s", r, leader)
	}
	s := c.nodes[leader].node.Status()
	if len(s.Servers) != 3 {
		t.Fatalf("servers = %+v", s.Servers)
	}
}

// A graceful Shutdown stops lead first and hands leadership over.
func TestFailoverOnShutdown(t *testing.T) {
	c := newTestCluster(t, clusterOpts{n: 3})
	old := c.leader(10 * time.Second)
	t0 := time.Now()
	if err := c.stop(old); err != nil {
		t.Fatal(err)
	}
	iv, _ := c.rec.last(old)
	if !errors.Is(iv.cause, ErrShutdown) {
		t.Fatalf("old lead ended with %v, want ErrShutdown", iv.cause)
	}
	next := c.leader(5*time.Second, old)
	niv, _ := c.rec.last(next)
	t.Logf("failover on shutdown: old lead stopped after %s, new lead on %s after %s",
		iv.end.Sub(t0).Round(time.Millisecond), next, niv.start.Sub(t0).Round(time.Millisecond))
	if d := niv.start.Sub(t0); d > 5*time.Second {
		t.Fatalf("new lead after %s, want within 5s", d)
	}
	if niv.start.Before(iv.end) {
		t.Fatalf("new lead started %s before the old one ended", iv.end.Sub(niv.start))
	}
}

// A leader cut off from the network stops leading within its lease; the
// others elect a successor; when the network heals the old leader follows.
func TestFailoverOnPartition(t *testing.T) {
	c := newTestCluster(t, clusterOpts{n: 3, partitionable: true})
	old := c.leader(10 * time.Second)
	t0 := time.Now()
	c.nodes[old].stream.setDown(true)

	waitFor(t, 5*time.Second, "the cut-off leader's lead to stop", func() bool { return !c.rec.running()[old] })
	iv, _ := c.rec.last(old)
	if !errors.Is(iv.cause, ErrLeadershipLost) {
		t.Fatalf("old lead ended with %v, want ErrLeadershipLost", iv.cause)
	}
	next := c.leader(5*time.Second, old)
	niv, _ := c.rec.last(next)
	cancelAfter, newAfter := iv.end.Sub(t0), niv.start.Sub(t0)
	t.Logf("failover on partition: old lead cancelled after %s, new lead on %s after %s, overlap %s",
		cancelAfter.Round(time.Millisecond), next, newAfter.Round(time.Millisecond), c.rec.maxOverlap().Round(time.Millisecond))
	// Bound: one check interval to notice, one lease for VerifyLeader, and
	// scheduling slack.
	if limit := testLease/2 + testLease + 500*time.Millisecond; cancelAfter > limit {
		t.Errorf("old lead cancelled after %s, want within %s", cancelAfter, limit)
	}
	if newAfter > 5*time.Second {
		t.Errorf("new lead after %s, want within 5s", newAfter)
	}
	if o := c.rec.maxOverlap(); o > testLease {
		t.Errorf("lead ran on two nodes at once for %s, more than the lease %s", o, testLease)
	}

	c.nodes[old].stream.setDown(false)
	waitFor(t, 10*time.Second, "the old leader to follow", func() bool {
		s := c.nodes[old].node.Status()
		return s.State == "Follower" && s.LeaderID != "" && s.LeaderID != old
	})
	now := c.leader(5 * time.Second)
	if r := c.rec.running(); len(r) != 1 {
		t.Fatalf("lead running on %v after heal", r)
	}
	if o := c.rec.maxOverlap(); o > testLease {
		t.Errorf("after heal: lead ran on two nodes at once for %s", o)
	}
	t.Logf("after heal the leader is %s", now)
}

// A node restarted on its data dir rejoins without bootstrapping again.
func TestRestartRejoins(t *testing.T) {
	c := newTestCluster(t, clusterOpts{n: 3})
	leader := c.leader(10 * time.Second)
	f := c.followers(leader)[0]
	if err := c.stop(f); err != nil {
		t.Fatal(err)
	}
	c.start(f, c.rec.lead(f))
	waitFor(t, 10*time.Second, "the restarted follower to rejoin", func() bool {
		s := c.nodes[f].node.Status()
		return s.State == "Follower" && s.LeaderID == leader && len(s.Servers) == 3 &&
			c.nodes[f].node.LeaderRecord().ID == leader
	})

	// Whole cluster down and up: state survives, a leader is elected in a
	// later term, and nobody bootstraps (which would fail on existing state).
	term := c.nodes[leader].node.Status().Term
	for _, id := range c.order {
		if err := c.stop(id); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range c.order {
		c.start(id, c.rec.lead(id))
	}
	l2 := c.leader(10 * time.Second)
	s := c.nodes[l2].node.Status()
	if s.Term <= term || len(s.Servers) != 3 {
		t.Fatalf("after full restart: %+v (term before %d)", s, term)
	}
	if rec := c.nodes[l2].node.LeaderRecord(); rec.ID != l2 || rec.Term != s.Term {
		t.Fatalf("leader record %+v", rec)
	}
}

// lead failing repeatedly on one node moves leadership to another.
func TestLeadFailuresHandOver(t *testing.T) {
	var bad atomic.Value // the first node to lead fails from then on
	var failures atomic.Int32
	c := newTestCluster(t, clusterOpts{n: 3, lead: func(id string, rec *leadRecorder) LeadFunc {
		good := rec.lead(id)
		return func(ctx context.Context) error {
			bad.CompareAndSwap(nil, id)
			if bad.Load() == id {
				failures.Add(1)
				return errors.New("source unreachable from here")
			}
			return good(ctx)
		}
	}})
	next := c.leader(10 * time.Second)
	if next == bad.Load() {
		t.Fatalf("lead runs on the failing node %s", next)
	}
	if f := failures.Load(); f < 3 {
		t.Fatalf("handed over after %d failures, want LeadFailureLimit (3)", f)
	}
	waitFor(t, 5*time.Second, "the failing node to follow", func() bool {
		return c.nodes[bad.Load().(string)].node.Status().State == "Follower"
	})
}

// A lead that ignores cancellation holds Shutdown only until its deadline.
func TestShutdownDeadline(t *testing.T) {
	cfg := DefaultConfig()
	cfg.BindAddr = freePorts(t, 1)[0]
	cfg.DataDir = filepath.Join(t.TempDir(), "x")
	cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = testHeartbeat, testElection, testLease
	cfg.Logger = testLogger(t)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	started := make(chan struct{})
	runErr := make(chan error, 1)
	go func() {
		runErr <- n.Run(context.Background(), func(ctx context.Context) error {
			close(started)
			<-release // ignores ctx
			return nil
		})
	}()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	err = n.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want deadline exceeded", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("Shutdown took %s", d)
	}
	if n.raft.State() != raft.Shutdown {
		t.Fatal("raft still running after Shutdown")
	}
	close(release)
	if err := <-runErr; !errors.Is(err, ErrShutdown) {
		t.Fatalf("Run = %v", err)
	}
}

func TestBackoff(t *testing.T) {
	for _, tc := range []struct {
		failures int
		want     time.Duration
	}{{0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {6, 32 * time.Second}, {60, 32 * time.Second}} {
		if got := backoff(time.Second, tc.failures); got != tc.want {
			t.Errorf("backoff(1s, %d) = %s, want %s", tc.failures, got, tc.want)
		}
	}
}
