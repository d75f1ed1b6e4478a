// Package emit delivers encoded change events to sinks and reports back which
// of them are durable, so the checkpoint moves only over acknowledged events.
package emit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sluicecdc/sluice/event"
)

// Batch is a run of encoded events handed to every sink in order. Seq numbers
// batches from 1 without gaps.
type Batch struct {
	Seq uint64
	// Data holds the events as JSON lines, each ending in '\n'.
	Data []byte
	// Events locate each event in Data, with what sinks route by.
	Events []Ref
	// Checkpoint, when set, is the checkpoint (checkpoint.Encode) of the
	// transaction boundary the batch ends at: its last event is the last
	// of a transaction. It is nil for a batch that ends inside a
	// transaction, and for one that carries no boundary. A sink that
	// commits the checkpoint atomically with the events it covers (Kafka)
	// writes it; the others ignore it.
	Checkpoint []byte

	holders atomic.Int32
	recycle func(*Batch)
}

// Hold sets how many sinks must Release b before its buffers may be reused,
// and the function that reuses them.
func (b *Batch) Hold(n int, recycle func(*Batch)) {
	b.holders.Store(int32(n))
	b.recycle = recycle
}

// Release tells the producer that a sink no longer reads b. A sink that keeps
// b past Write simply calls Release later, or never: b is then left to the
// garbage collector rather than reused.
func (b *Batch) Release() {
	if b.holders.Add(-1) == 0 && b.recycle != nil {
		b.recycle(b)
	}
}

// Ref locates one event in a batch's Data.
type Ref struct {
	Off, Len int // the line, without its '\n'
	Database string
	Table    string
	// Key is the event's primary key as JSON (empty for keyless tables):
	// sinks that partition by key use it.
	Key []byte
	// KeyColumns names the primary key's columns, in Key's order (nil for
	// keyless tables): sinks that spell the key out by name use them.
	KeyColumns []string
	// Timestamp is the commit time in seconds: the binlog XID (or COMMIT)
	// event's header time, i.e. when the COMMIT began. It can go backwards
	// along the binlog.
	Timestamp uint32
	// Pos is the position of the rows event that holds the row and Index
	// the row's index in it; with ServerID they make the event's dedupe key
	// (event.AppendDedupeKey), which a replay reproduces exactly. Sinks
	// that name their output by what it holds use them. Pos is zero for
	// events that do not come from the binlog.
	Pos      event.Position
	Index    int
	ServerID uint32
	// Generation is the pipeline's source generation (event.Tx): places
	// of different generations come from different servers and are
	// ordered by generation.
	Generation uint32
	// Commit is the position right after the event's transaction: with
	// ServerID it names the transaction (zero for events that do not come
	// from a binlog transaction).
	Commit event.Position
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

// Watermarker is implemented by sinks that publish how far in commit time
// their output is complete (the S3 sink's _watermark.json markers).
type Watermarker interface {
	// Watermark tells the sink that every event committed before t has
	// been passed to Write. It does no I/O and never blocks on the store:
	// later Syncs publish t once everything before it is durable. A t
	// earlier than one already given is ignored.
	Watermark(t time.Time)
}

// PermanentError reports that a sink's store refuses for good: retrying the
// same call cannot succeed (denied access, a missing bucket or stream, an
// object conflict). The pipeline halts on it, naming the sink, the error
// and Fix; any other error from Sync is taken as transient and retried.
type PermanentError struct {
	Sink string // e.g. "s3 sink"
	Fix  string // what a person should change
	Err  error
}

func (e *PermanentError) Error() string {
	if e.Fix == "" {
		return fmt.Sprintf("%s: %v", e.Sink, e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", e.Sink, e.Err, e.Fix)
}

func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent reports whether err carries a *PermanentError.
func Permanent(err error) bool {
	_, ok := errors.AsType[*PermanentError](err)
	return ok
}
