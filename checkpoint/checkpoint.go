// Package checkpoint stores how far a pipeline has durably delivered the
// binlog: the position after the last transaction every sink acknowledged.
package checkpoint

import (
	"context"
	"errors"
	"time"

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
	// ServerID is the source server's @@server_id.
	ServerID uint32 `json:"server_id"`
	// Timestamp is the commit time (seconds) of the last delivered transaction.
	Timestamp uint32    `json:"ts,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

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
// store's Acquire: this process is no longer the pipeline's owner and must
// stop streaming. Retrying cannot succeed.
var ErrFenced = errors.New("checkpoint fenced by a newer owner")

// ErrPositionBackwards is returned (wrapped, with both positions) by Save
// when the new position is before the stored one. The stored checkpoint is
// unchanged.
var ErrPositionBackwards = errors.New("checkpoint position would move backwards")

// FencingStore is a Store whose writers hold an epoch: Acquire claims a new
// epoch, higher than any before, and from then on a Save succeeds only while
// no one has acquired a newer one. Save before Acquire fails.
type FencingStore interface {
	Store
	// Acquire makes owner (a free-form id for people, such as host:pid)
	// the pipeline's writer under a new epoch and returns that epoch.
	// Writers holding older epochs get ErrFenced from then on.
	Acquire(ctx context.Context, owner string) (epoch uint64, err error)
}
