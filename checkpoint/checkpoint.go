// Package checkpoint stores how far a pipeline has durably delivered the
// binlog: the position after the last transaction every sink acknowledged.
package checkpoint

import (
	"context"
	"errors"
	"time"

	"github.com/aws/smithy-go"

	"github.com/sluicecdc/sluice/event"
)

// ErrNotFound is returned by Load when the pipeline has no checkpoint yet.
var ErrNotFound = errors.New("no checkpoint stored")

// Checkpoint is a resumable place in the binlog. Position is always at a
// transaction boundary.
type Checkpoint struct {
	Pipeline string         `json:"pipeline"`
	Position event.Position `json:"-"`
	// GTID is the id of the last transaction at or before Position, when the
	// server writes GTIDs.
	GTID string `json:"gtid,omitempty"`
	// GTIDSet is the executed GTID set at Position (MariaDB
	// "domain-server-seq,..."; MySQL "uuid:1-N,..."): where a stream
	// resumes on another server after a failover. Empty when the server
	// writes no GTIDs or the set is not known yet.
	GTIDSet string `json:"gtid_set,omitempty"`
	// ServerID is the source server's @@server_id.
	ServerID uint32 `json:"server_id"`
	// Generation counts the times the pipeline moved to another server
	// (a failover followed by GTID, `sluice checkpoint set`): every event
	// carries it (Maxwell "source_generation"), and consumers that order
	// changes by binlog place order by generation first, because places
	// of different servers do not compare. 0 until the first move.
	Generation uint32 `json:"generation,omitempty"`
	// Timestamp is the commit time (seconds) of the last delivered transaction.
	Timestamp uint32    `json:"ts,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	// Snapshot is the table snapshots' progress as of Position: it moves
	// with the binlog position, so a restart resumes both together. Nil
	// when no snapshot is queued or running.
	Snapshot *Snapshot `json:"snapshot,omitempty"`
	// Filter is the filter definition (filter.Config's String) the
	// pipeline ran with, so a start with another one can say what changed.
	Filter string `json:"filter,omitempty"`
	// Emitted, when set ("file:offset" on the server ServerID), is past
	// Position: every transaction that commits at or before it has been
	// delivered. It is set while an XA transaction is prepared: Position
	// stays before the prepare (a restart reads the prepared rows again),
	// while the transactions that commit after it are delivered and
	// checkpointed. A stream started from Position on that server reads
	// them again but does not emit them.
	Emitted string `json:"emitted,omitempty"`
	// History lists the times the checkpoint was re-pointed by hand
	// (`sluice checkpoint set`) or moved to another server, most recent
	// last, at most MaxHistory. It carries over from save to save.
	History []Change `json:"history,omitempty"`
}

// MaxHistory bounds Checkpoint.History.
const MaxHistory = 20

// Change is one entry of a checkpoint's history.
type Change struct {
	At time.Time `json:"at"`
	// What happened: "set" (checkpoint set) or "failover".
	What string `json:"what"`
	// From and To are the places before and after ("file:offset",
	// "gtid SET", "server_id N").
	From string `json:"from"`
	To   string `json:"to"`
}

// WithChange returns history with c appended, trimmed to MaxHistory.
func WithChange(history []Change, c Change) []Change {
	out := append(append([]Change(nil), history...), c)
	if len(out) > MaxHistory {
		out = out[len(out)-MaxHistory:]
	}
	return out
}

// Snapshot is the progress of the table snapshots a pipeline runs
// alongside the binlog. It is never modified once saved: a change makes a
// new value.
type Snapshot struct {
	// Queue lists the tables ("db.table") still to snapshot, the running
	// one first.
	Queue []string `json:"queue,omitempty"`
	// After holds the primary key of the last row of the last finished
	// chunk of Queue[0], as SQL literals in key order; empty before its
	// first chunk.
	After []string `json:"after,omitempty"`
	// Rows counts the rows emitted for Queue[0] so far.
	Rows int64 `json:"rows,omitempty"`
	// Done lists the tables finished (most recent last, at most 100).
	Done []SnapshotDone `json:"done,omitempty"`
}

// SnapshotDone is a finished table snapshot.
type SnapshotDone struct {
	Table    string    `json:"table"`
	Rows     int64     `json:"rows"`
	Finished time.Time `json:"finished"`
	// Error says why the table was not snapshotted (it does not exist,
	// has no primary key, ...); empty when it was.
	Error string `json:"error,omitempty"`
}

// Idle reports whether no snapshot is queued or running.
func (s *Snapshot) Idle() bool { return s == nil || len(s.Queue) == 0 }

// Store keeps one checkpoint per pipeline.
//
// Save must be atomic: after a crash Load returns either the previous
// checkpoint or the new one, never a mix or nothing.
type Store interface {
	// Load returns the stored checkpoint, or ErrNotFound.
	Load(ctx context.Context) (*Checkpoint, error)
	// Save replaces the stored checkpoint.
	Save(ctx context.Context, cp *Checkpoint) error
}

// ErrFenced is returned (wrapped, with the epochs and owner) by Save when
// another process has acquired a newer epoch for the pipeline since this
// store's Acquire, when the checkpoint is gone, or when Acquire was not
// called: this process is not the pipeline's owner and must stop
// streaming. Retrying cannot succeed.
var ErrFenced = errors.New("checkpoint fenced by a newer owner")

// ErrPositionBackwards is returned (wrapped, with both positions) by Save
// when the new position is before the stored one. The stored checkpoint is
// unchanged.
var ErrPositionBackwards = errors.New("checkpoint position would move backwards")

// ErrCorrupt is returned (wrapped, with what is wrong) when the stored
// checkpoint cannot be read or does not agree with itself, and by Save when
// the store refused a write for no reason it can name. A person has to look
// at the stored checkpoint; retrying cannot succeed.
var ErrCorrupt = errors.New("checkpoint store holds a corrupt or inconsistent checkpoint")

// FencingStore is a Store whose writers hold an epoch, the fencing token:
// Acquire claims a new epoch, higher than any before, and from then on a
// Save succeeds only while no one has acquired a newer one.
//
// The contract, for callers:
//   - One store value per leadership term: call Acquire once, then Load
//     (a checkpoint loaded before Acquire may already have been moved by
//     the previous owner), then Save. A second Acquire on the same value
//     fails; a new term creates a new store.
//   - Save uses the epoch of this store's Acquire; Save before Acquire
//     fails with ErrFenced.
//   - Save is not called concurrently with itself or with Acquire.
//   - ErrFenced: stop; another process owns the pipeline.
//     ErrPositionBackwards: do not retry this position (the store is
//     unchanged and already ahead of it). ErrCorrupt: stop and ask a
//     person. Permanent classifies these; any other error leaves the store
//     as it was (or as the failed call wrote it) and may be retried.
type FencingStore interface {
	Store
	// Acquire makes owner (a free-form id for people, such as host:pid)
	// the pipeline's writer under a new epoch and returns that epoch.
	// Writers holding older epochs get ErrFenced from then on.
	Acquire(ctx context.Context, owner string) (epoch uint64, err error)
}

// Permanent reports whether err from a Store says that retrying the same
// call cannot succeed, so the pipeline must halt: ErrFenced,
// ErrPositionBackwards, ErrCorrupt, Kafka's fencing of a zombie producer
// (from the Kafka sink, whose Sync commits the checkpoint), and the AWS errors that do not go away
// by themselves (a missing table, a request the service rejects as
// invalid, denied access or unknown credentials). Throttling, network
// errors, timeouts and server faults (5xx) are not permanent.
func Permanent(err error) bool {
	if errors.Is(err, ErrFenced) || errors.Is(err, ErrPositionBackwards) || errors.Is(err, ErrCorrupt) || kafkaFenced(err) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ResourceNotFoundException", "ValidationException",
			"AccessDeniedException", "UnrecognizedClientException":
			return true
		}
	}
	return false
}

// Compare orders two checkpoints of one pipeline: by Generation, then by
// Position (positions of different generations belong to different
// servers and do not compare).
func Compare(a, b *Checkpoint) int {
	switch {
	case a.Generation < b.Generation:
		return -1
	case a.Generation > b.Generation:
		return 1
	}
	return a.Position.Compare(b.Position)
}
