// Package ha runs sluice replicas as a Raft cluster in which exactly one
// node, the leader, streams the binlog.
//
// Raft (hashicorp/raft, bolt-backed log and stable store, file snapshots,
// TCP or mutual-TLS transport) is used for leader election and membership;
// the replicated state is only a LeaderRecord. Run turns leadership into a
// context: lead(ctx) is called after the node wins an election and its state
// machine has caught up, and ctx is cancelled as soon as the node learns it
// is no longer leader.
//
// Raft alone cannot guarantee that lead runs on one node at a time: a leader
// cut off from the others keeps believing it leads until its lease expires
// (Config.LeaderLeaseTimeout, plus one check), while the others may already
// have elected a successor. Every write the leader makes outside Raft must
// therefore be fenced, which sluice does with the checkpoint store's epoch:
// lead acquires an epoch above any stored one and every checkpoint write is
// conditional on it.
package ha

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

var (
	// ErrNotLeader is returned by calls that only the leader can serve.
	// The error returned wraps it in a *NotLeaderError naming the leader.
	ErrNotLeader = errors.New("ha: not the leader")
	// ErrShutdown is returned by Run when the node was shut down under it.
	ErrShutdown = errors.New("ha: node is shut down")
	// ErrRemoved is returned by Run when Raft stopped by itself, which it
	// does when this node, as leader, removed itself from the cluster.
	ErrRemoved = errors.New("ha: node was removed from the cluster")
	// ErrRunning is returned by a second call to Run.
	ErrRunning = errors.New("ha: Run was already called")
	// ErrLeadershipLost is the cause of a lead context cancelled because
	// this node stopped being leader (context.Cause).
	ErrLeadershipLost = errors.New("ha: leadership lost")
	// ErrUnknownServer is returned by RemoveServer for an ID not in the
	// configuration.
	ErrUnknownServer = errors.New("ha: no such server in the cluster")
	// ErrInvalidServer is returned by AddVoter and RemoveServer for a
	// malformed ID or address.
	ErrInvalidServer = errors.New("ha: invalid server id or address")
)

// NotLeaderError says who the leader is, as far as this node knows. Empty
// fields mean unknown (an election may be under way).
type NotLeaderError struct {
	LeaderID   string
	LeaderAddr string
	AdminURL   string
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" {
		return "ha: not the leader, and no leader is known"
	}
	return fmt.Sprintf("ha: not the leader; the leader is %s (%s)", e.LeaderID, e.LeaderAddr)
}

// Is makes errors.Is(err, ErrNotLeader) true.
func (e *NotLeaderError) Is(target error) bool { return target == ErrNotLeader }

// Node is one member of the cluster. New starts Raft; Run calls lead while
// the node leads; Shutdown stops both.
type Node struct {
	cfg   Config
	log   *slog.Logger
	raft  *raft.Raft
	fsm   *fsm
	trans *raft.NetworkTransport
	store *raftboltdb.BoltStore

	// notifyCh is raft's NotifyCh. It is drained by watchNotify at all
	// times, because raft blocks on it; watchNotify coalesces the signals
	// into changed, which only says "look at raft.State() again".
	notifyCh chan bool
	changed  chan struct{}

	running      atomic.Bool
	leadingSince atomic.Pointer[time.Time] // nil unless lead is running

	stopping     chan struct{} // closed by Shutdown: stop leading, Run returns
	stopped      chan struct{} // closed by Shutdown once Raft is down
	runDone      chan struct{} // closed when a started Run returns
	shutdownOnce sync.Once
	shutdownErr  error

	wgMu     sync.Mutex
	wgClosed bool           // set before wg.Wait: goFunc starts nothing after
	wg       sync.WaitGroup // goroutines the node owns (see future.go)
}

// New validates cfg, opens the stores in cfg.DataDir, bootstraps the cluster
// if cfg.Bootstrap is set and there is no Raft state yet, and starts Raft.
// The caller must call Shutdown.
func New(cfg Config) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("ha config: %w", err)
	}
	if cfg.LeadFailureLimit == 0 {
		cfg.LeadFailureLimit = 3
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.Default()
	}
	logger = logger.With("node", cfg.NodeID)
	n := &Node{
		cfg:      cfg,
		log:      logger,
		fsm:      &fsm{},
		notifyCh: make(chan bool, 8),
		changed:  make(chan struct{}, 1),
		stopping: make(chan struct{}),
		stopped:  make(chan struct{}),
		runDone:  make(chan struct{}),
	}
	ok := false
	defer func() {
		if !ok {
			n.closeResources()
		}
	}()

	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("ha data dir: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, "raft.db")
	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        dbPath,
		BoltOptions: &bbolt.Options{Timeout: time.Second}, // another process holding it fails fast
	})
	if err != nil {
		return nil, fmt.Errorf("open raft store %s: %w", dbPath, err)
	}
	n.store = store
	logs, err := raft.NewLogCache(256, store)
	if err != nil {
		return nil, fmt.Errorf("raft log cache: %w", err)
	}
	hcl := newHCLogAdapter(logger, "raft")
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hcl.Named("snapshot"))
	if err != nil {
		return nil, fmt.Errorf("raft snapshot store in %s: %w", cfg.DataDir, err)
	}
	if n.trans, err = newTransport(&n.cfg, hcl.Named("net")); err != nil {
		return nil, err
	}

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.NodeID)
	rc.HeartbeatTimeout = cfg.HeartbeatTimeout
	rc.ElectionTimeout = cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = cfg.LeaderLeaseTimeout
	rc.NotifyCh = n.notifyCh
	rc.Logger = hcl
	// A removed node stops rather than lingering with a stale view.
	rc.ShutdownOnRemove = true
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("ha config: %w", err)
	}

	if cfg.Bootstrap {
		existing, err := raft.HasExistingState(logs, store, snaps)
		if err != nil {
			return nil, fmt.Errorf("read raft state in %s: %w", cfg.DataDir, err)
		}
		if !existing {
			var servers []raft.Server
			for _, p := range cfg.voters() {
				servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.Addr)})
			}
			err := raft.BootstrapCluster(rc, logs, store, snaps, n.trans, raft.Configuration{Servers: servers})
			if err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				return nil, fmt.Errorf("bootstrap cluster: %w", err)
			}
			logger.Info("bootstrapped cluster", "voters", len(servers))
		}
	}

	if n.raft, err = raft.NewRaft(rc, n.fsm, logs, store, snaps, n.trans); err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.goFunc(n.watchNotify)
	ok = true
	logger.Info("raft started", "bind", cfg.BindAddr, "advertise", cfg.advertise(), "tls", cfg.TLS != nil)
	return n, nil
}

// goFunc runs f on a goroutine the node waits for in Shutdown. It reports
// false, starting nothing, once Shutdown has begun waiting.
func (n *Node) goFunc(f func()) bool {
	n.wgMu.Lock()
	defer n.wgMu.Unlock()
	if n.wgClosed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
	return true
}

// watchNotify drains raft's NotifyCh so raft never blocks on it, and turns
// each signal into a wake-up on changed. Signals are hints only; the truth
// is raft.State(), which readers re-check.
func (n *Node) watchNotify() {
	for {
		select {
		case leader := <-n.notifyCh:
			n.log.Debug("leadership signal", "leader", leader)
			n.wake()
		case <-n.stopped:
			return
		}
	}
}

func (n *Node) wake() {
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

// ID is this node's ID.
func (n *Node) ID() string { return n.cfg.NodeID }

// IsLeader reports whether Raft currently considers this node the leader.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Shutdown stops the node in two phases. First it stops leading: Run's lead
// context is cancelled and Shutdown waits for lead to return; a leader then
// hands leadership to another voter so failover does not wait for an
// election timeout. Second, Raft, the transport and the store are closed.
// If ctx ends during the first phase the second runs anyway and the error
// says what was cut short. Shutdown is idempotent; later calls wait for the
// first and return its result.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutdownOnce.Do(func() { n.shutdownErr = n.shutdown(ctx) })
	return n.shutdownErr
}

func (n *Node) shutdown(ctx context.Context) error {
	var errs []error
	close(n.stopping)
	n.wake()
	if n.running.Load() {
		select {
		case <-n.runDone:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("stop leading: lead did not return: %w", ctx.Err()))
		}
	}
	if n.IsLeader() && n.otherVoters() > 0 && ctx.Err() == nil {
		n.log.Info("transferring leadership before shutdown")
		d := n.transferTimeout()
		if dl, ok := ctx.Deadline(); ok {
			d = min(d, time.Until(dl))
		}
		if err := n.await(n.raft.LeadershipTransfer(), d); err != nil {
			n.log.Warn("leadership transfer before shutdown", "err", err)
		}
	}
	if err := n.raft.Shutdown().Error(); err != nil {
		errs = append(errs, fmt.Errorf("raft shutdown: %w", err))
	}
	close(n.stopped)
	n.wgMu.Lock()
	n.wgClosed = true
	n.wgMu.Unlock()
	if !waitTimeout(&n.wg, orphanGrace) {
		n.log.Warn("a raft request was dropped at shutdown; not waiting for its answer")
	}
	if err := n.closeResources(); err != nil {
		errs = append(errs, err)
	}
	n.log.Info("ha node stopped")
	return errors.Join(errs...)
}

// closeResources closes the transport and store (raft.Shutdown closes the
// transport's listener; CloseStreams ends inbound connections too).
func (n *Node) closeResources() error {
	if n.trans != nil {
		n.trans.CloseStreams()
		_ = n.trans.Close()
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			return fmt.Errorf("close raft store: %w", err)
		}
	}
	return nil
}

// transferTimeout bounds a leadership transfer; raft's own limit is one
// election timeout.
func (n *Node) transferTimeout() time.Duration { return 2 * n.cfg.ElectionTimeout }

// otherVoters counts voters other than this node in the latest configuration.
func (n *Node) otherVoters() int {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return 0
	}
	c := 0
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter && string(s.ID) != n.cfg.NodeID {
			c++
		}
	}
	return c
}
