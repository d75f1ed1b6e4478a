package status

import "time"

// Sample is the node's state at one moment.
type Sample struct {
	At            time.Time
	Lag           float64 // seconds
	CheckpointAge float64 // seconds
	Events        uint64  // delivered so far (a counter)
	SinkErrors    uint64  // sink errors so far in this run (a counter)
}

// ring keeps the last len(buf) samples; it never grows.
type ring struct {
	buf  []Sample
	next int
	full bool
}

func newRing(n int) ring { return ring{buf: make([]Sample, max(n, 2))} }

func (r *ring) add(s Sample) {
	r.buf[r.next] = s
	r.next = (r.next + 1) % len(r.buf)
	if r.next == 0 {
		r.full = true
	}
}

// all returns the samples, oldest first.
func (r *ring) all() []Sample {
	if !r.full {
		return append([]Sample(nil), r.buf[:r.next]...)
	}
	return append(append([]Sample(nil), r.buf[r.next:]...), r.buf[:r.next]...)
}

// rate is the events per second from the oldest sample within window
// before now to events at now; 0 with no such sample.
func (r *ring) rate(now time.Time, window time.Duration, events uint64) float64 {
	var from *Sample
	for _, s := range r.all() {
		if now.Sub(s.At) <= window && now.After(s.At) {
			from = &s
			break
		}
	}
	if from == nil || events < from.Events {
		return 0
	}
	return float64(events-from.Events) / now.Sub(from.At).Seconds()
}
