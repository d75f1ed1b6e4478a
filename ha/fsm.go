package ha

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// LeaderRecord is the replicated state: who became leader last, in which
// term, and where its admin handler listens. A node appends one each time it
// wins an election, after its FSM has caught up and before it calls lead.
//
// It is informational (admin redirects, status). It is not a fence: writes
// are fenced by the checkpoint store's epoch, because Raft cannot stop a
// deposed leader that has not yet noticed it lost a partition.
type LeaderRecord struct {
	ID       string    `json:"id"`
	RaftAddr string    `json:"raft_addr"`
	AdminURL string    `json:"admin_url,omitempty"`
	Term     uint64    `json:"term"`
	Since    time.Time `json:"since"`
}

// command is one entry of the replicated log, JSON-encoded. Op names what to
// do; a log written by a newer version with an unknown Op is skipped by older
// versions (Apply returns an error value, the same on every node).
type command struct {
	Op     string        `json:"op"`
	Leader *LeaderRecord `json:"leader,omitempty"`
}

const opLeader = "leader"

func encodeLeader(rec LeaderRecord) ([]byte, error) {
	return json.Marshal(command{Op: opLeader, Leader: &rec})
}

// fsm applies commands to a LeaderRecord.
//
// Contract (raft's): Apply, Snapshot and Restore are called from one
// goroutine, the FSM goroutine, never concurrently with each other; Apply
// must be deterministic, since every node applies the same log. Persist of a
// returned snapshot runs on another goroutine concurrently with later Apply
// calls, so Snapshot hands it a copy. Readers (Status, admin redirects) take
// the read lock from other goroutines.
type fsm struct {
	mu     sync.RWMutex
	leader LeaderRecord
}

var _ raft.FSM = (*fsm)(nil)

// Apply decodes one committed command and applies it. The return value is
// what ApplyFuture.Response gives the leader that appended the entry: nil,
// or an error for an entry it could not use (which leaves state unchanged).
func (f *fsm) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	var c command
	if err := json.Unmarshal(l.Data, &c); err != nil {
		return fmt.Errorf("decode log entry %d: %w", l.Index, err)
	}
	switch c.Op {
	case opLeader:
		if c.Leader == nil {
			return fmt.Errorf("log entry %d: leader op without a record", l.Index)
		}
		f.mu.Lock()
		f.leader = *c.Leader
		f.mu.Unlock()
		return nil
	default:
		return fmt.Errorf("log entry %d: unknown op %q", l.Index, c.Op)
	}
}

// Leader is the last applied leader record (zero before the first).
func (f *fsm) Leader() LeaderRecord {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.leader
}

// Snapshot captures the state at the current applied index.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	return &fsmSnapshot{leader: f.Leader()}, nil
}

// Restore replaces the state with a snapshot's. Raft calls it on start (from
// the newest local snapshot) and when the leader sends one.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s snapshotData
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return fmt.Errorf("decode fsm snapshot: %w", err)
	}
	f.mu.Lock()
	f.leader = s.Leader
	f.mu.Unlock()
	return nil
}

// snapshotData is the snapshot's JSON form.
type snapshotData struct {
	Leader LeaderRecord `json:"leader"`
}

type fsmSnapshot struct{ leader LeaderRecord }

// Persist writes the snapshot to sink and closes it, or cancels it on error.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	err := json.NewEncoder(sink).Encode(snapshotData{Leader: s.leader})
	if err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("write fsm snapshot: %w", err)
	}
	return sink.Close()
}

// Release is a no-op: the snapshot holds a copy, not a reference.
func (s *fsmSnapshot) Release() {}
