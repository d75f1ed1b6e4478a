// Package emit delivers encoded change events to sinks and reports back which
// of them are durable, so the checkpoint moves only over acknowledged events.
package emit

import (
	"context"
)

// Batch is a run of encoded events handed to every sink in order. Seq numbers
// batches from 1 without gaps.
type Batch struct {
	Seq uint64
	// Data holds the events as JSON lines, each ending in '\n'.
	Data []byte
	// Events locate each event in Data, with what sinks route by.
	Events []Ref
}

// Ref locates one event in a batch's Data.
type Ref struct {
	Off, Len int // the line, without its '\n'
	Database string
	Table    string
	// Key is the event's primary key as JSON (empty for keyless tables):
	// sinks that partition by key use it.
	Key []byte
	// Timestamp is the commit time in seconds.
	Timestamp uint32
}

// Sink receives batches. Write and Sync may be called concurrently; Write is
// called by one goroutine, in Seq order.
type Sink interface {
	// Write hands a batch to the sink. The sink may buffer it; it must not
	// modify b, and may keep it until it reports it durable.
	Write(ctx context.Context, b *Batch) error
	// Sync makes durable what the sink's policy says is due and returns the
	// Seq of the last batch that is durable, with every batch before it
	// (0 when none is). With force, everything written is made durable.
	Sync(ctx context.Context, force bool) (uint64, error)
	// Close releases the sink without making anything durable.
	Close() error
}
