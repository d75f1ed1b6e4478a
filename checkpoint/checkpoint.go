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
