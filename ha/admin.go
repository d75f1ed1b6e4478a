package ha

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
)

// Status is one node's view of the cluster.
type Status struct {
	ID    string `json:"id"`
	State string `json:"state"` // Leader, Follower, Candidate or Shutdown
	Term  uint64 `json:"term"`
	// LeaderID and LeaderAddr are the leader as this node knows it; empty
	// while none is known.
	LeaderID   string `json:"leader_id,omitempty"`
	LeaderAddr string `json:"leader_addr,omitempty"`
	// LeaderAdminURL is the leader's admin URL from the replicated
	// LeaderRecord, when that record is the current leader's.
	LeaderAdminURL string `json:"leader_admin_url,omitempty"`
	LastIndex      uint64 `json:"last_index"`
	CommitIndex    uint64 `json:"commit_index"`
	AppliedIndex   uint64 `json:"applied_index"`
	// LastContact is when a follower last heard from the leader (zero if
	// never, and on the leader).
	LastContact time.Time `json:"last_contact,omitzero"`
	// Leading is true while lead runs on this node, since LeadingSince.
	Leading      bool      `json:"leading"`
	LeadingSince time.Time `json:"leading_since,omitzero"`
	Servers      []Server  `json:"servers"`
}

// Server is one member of the Raft configuration.
type Server struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Suffrage string `json:"suffrage"` // Voter, Nonvoter or Staging
	Leader   bool   `json:"leader,omitempty"`
}

// Status reports this node's view. It is cheap and never blocks on the
// network; it works on every node, and after Shutdown (State "Shutdown").
func (n *Node) Status() Status {
	r := n.raft
	addr, id := r.LeaderWithID()
	s := Status{
		ID:           n.cfg.NodeID,
		State:        r.State().String(),
		Term:         r.CurrentTerm(),
		LeaderID:     string(id),
		LeaderAddr:   string(addr),
		LastIndex:    r.LastIndex(),
		CommitIndex:  r.CommitIndex(),
		AppliedIndex: r.AppliedIndex(),
	}
	if rec := n.fsm.Leader(); rec.ID != "" && rec.ID == s.LeaderID {
		s.LeaderAdminURL = rec.AdminURL
	}
	if r.State() != raft.Leader {
		s.LastContact = r.LastContact()
	}
	if since := n.leadingSince.Load(); since != nil {
		s.Leading, s.LeadingSince = true, *since
	}
	if f := r.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			s.Servers = append(s.Servers, Server{
				ID:       string(srv.ID),
				Addr:     string(srv.Address),
				Suffrage: srv.Suffrage.String(),
				Leader:   srv.ID == id,
			})
		}
	}
	return s
}

// LeaderRecord is the last leader record applied on this node.
func (n *Node) LeaderRecord() LeaderRecord { return n.fsm.Leader() }

// notLeader is the *NotLeaderError this node would return now.
func (n *Node) notLeader() *NotLeaderError {
	s := n.Status()
	return &NotLeaderError{LeaderID: s.LeaderID, LeaderAddr: s.LeaderAddr, AdminURL: s.LeaderAdminURL}
}

// AddVoter adds a voting member, or updates the address of an existing one,
// and waits until the new configuration is committed. Only the leader can;
// elsewhere it returns a *NotLeaderError. The new node must be running with
// Bootstrap off and an empty data dir, or with its own earlier state of this
// cluster.
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	if id == "" {
		return fmt.Errorf("add voter: %w: id is empty", ErrInvalidServer)
	}
	if err := checkHostPort(addr); err != nil {
		return fmt.Errorf("add voter %s: %w: addr %q: %w", id, ErrInvalidServer, addr, err)
	}
	if !n.IsLeader() {
		return n.notLeader()
	}
	f := n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, enqueueTimeout(ctx))
	if err := f.Error(); err != nil {
		return n.leaderError(fmt.Errorf("add voter %s at %s: %w", id, addr, err))
	}
	n.log.Info("added voter", "id", id, "addr", addr, "index", f.Index())
	return nil
}

// RemoveServer removes a member and waits until the new configuration is
// committed. Only the leader can; elsewhere it returns a *NotLeaderError.
// A removed follower stays up but idle: the leader stops contacting it, it
// starts no elections, and it may never learn it was removed, so stop it
// too. A leader that removes itself shuts its Raft down once the change is
// committed, and its Run returns ErrRemoved.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	if id == "" {
		return fmt.Errorf("remove server: %w: id is empty", ErrInvalidServer)
	}
	if !n.IsLeader() {
		return n.notLeader()
	}
	known := false
	for _, s := range n.Status().Servers {
		known = known || s.ID == id
	}
	if !known {
		return fmt.Errorf("remove server %q: %w", id, ErrUnknownServer)
	}
	f := n.raft.RemoveServer(raft.ServerID(id), 0, enqueueTimeout(ctx))
	if err := f.Error(); err != nil {
		return n.leaderError(fmt.Errorf("remove server %s: %w", id, err))
	}
	n.log.Info("removed server", "id", id, "index", f.Index())
	return nil
}

// leaderError adds the *NotLeaderError to err when raft says this node is
// not (or no longer) the leader.
func (n *Node) leaderError(err error) error {
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return fmt.Errorf("%w: %w", err, n.notLeader())
	}
	return err
}

// enqueueTimeout is raft's timeout for handing a request to its main loop:
// what is left of ctx, or raftOpTimeout. Raft resolves the request itself
// (commit, loss of leadership or shutdown) whatever ctx does later.
func enqueueTimeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return raftOpTimeout
}
