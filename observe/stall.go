package observe

import (
	"sync/atomic"
	"time"
)

// Stall notices a stream that stopped moving. The pipeline calls Seen on
// every event and every binlog heartbeat; while this node streams, /readyz
// fails once nothing was seen for Timeout. Timeout must exceed the source's
// heartbeat period, or an idle database looks stalled.
//
// The zero value with Timeout set is ready to use; share it by pointer.
// All methods are safe for concurrent use.
type Stall struct {
	// Timeout is how long without Seen counts as stalled; zero never does.
	Timeout time.Duration

	last atomic.Int64 // UnixNano of the latest Seen; 0 if none
}

// Seen records activity at t. Older times than the latest are ignored.
func (s *Stall) Seen(t time.Time) {
	ns := t.UnixNano()
	for {
		old := s.last.Load()
		if ns <= old || s.last.CompareAndSwap(old, ns) {
			return
		}
	}
}

// Last is the latest Seen time (zero if none).
func (s *Stall) Last() time.Time {
	if ns := s.last.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// Idle is how long before now the stream last moved, counting since (when
// streaming started) as movement, so a stream is not stalled the moment it
// starts.
func (s *Stall) Idle(now, since time.Time) time.Duration {
	ref := s.Last()
	if since.After(ref) {
		ref = since
	}
	if ref.IsZero() {
		return 0
	}
	return max(now.Sub(ref), 0)
}

// Stalled reports whether Idle exceeds Timeout.
func (s *Stall) Stalled(now, since time.Time) bool {
	return s.Timeout > 0 && s.Idle(now, since) > s.Timeout
}
