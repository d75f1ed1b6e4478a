package ha

import (
	"context"
	"sync"
	"testing"
	"time"
)

// TestLeaseEndsBeforeTheNextLeaderStarts: a lead context carries a lease
// that holds while the node leads and, for a leader cut off from the
// others, ends before any other node starts leading (and is given up when
// its lead context is cancelled). The next leader writes no earlier than
// MaxWriteTime after the old lease's end (WritesFrom), and gives each
// write MaxWriteTime (MaxWrite).
func TestLeaseEndsBeforeTheNextLeaderStarts(t *testing.T) {
	const maxWrite = 3 * time.Second // longer than an election takes, so only WritesFrom can make the gap
	var mu sync.Mutex
	leases := map[string]*Lease{}
	started := map[string]time.Time{}
	lastUntil := map[string]time.Time{} // the latest end each lease had
	c := newTestCluster(t, clusterOpts{n: 3, partitionable: true, tweak: func(c *Config) { c.MaxWriteTime = maxWrite }, lead: func(id string, rec *leadRecorder) LeadFunc {
		inner := rec.lead(id)
		return func(ctx context.Context) error {
			l, ok := LeaseFromContext(ctx)
			if !ok {
				t.Errorf("%s: lead context without a lease", id)
			}
			mu.Lock()
			leases[id], started[id] = l, time.Now()
			mu.Unlock()
			// Sample the lease's end until it is given up: renewals come
			// every half lease, far apart from these samples.
			sctx, stop := context.WithCancel(ctx)
			sampled := make(chan struct{})
			defer func() { stop(); <-sampled }()
			go func() {
				defer close(sampled)
				tick := time.NewTicker(time.Millisecond)
				defer tick.Stop()
				for {
					u := l.Until()
					if u.IsZero() {
						return
					}
					mu.Lock()
					lastUntil[id] = u
					mu.Unlock()
					select {
					case <-tick.C:
					case <-sctx.Done():
					}
				}
			}()
			return inner(ctx)
		}
	}})
	old := c.leader(10 * time.Second)
	waitFor(t, 5*time.Second, "the leader's lead to start", func() bool { mu.Lock(); defer mu.Unlock(); return leases[old] != nil })
	mu.Lock()
	l := leases[old]
	mu.Unlock()
	// Renewed while leading: valid across several lease lengths.
	for range 5 {
		if !l.Valid(time.Now()) {
			t.Fatal("the leader's lease lapsed while it leads")
		}
		time.Sleep(testLease / 2)
	}
	c.nodes[old].stream.setDown(true)
	next := c.leader(10*time.Second, old)
	mu.Lock()
	newStart := started[next]
	mu.Unlock()
	if until := l.Until(); !until.IsZero() && !until.Before(newStart) {
		t.Fatalf("old leader's lease runs until %s, after the new leader started at %s", until.Format(time.StampMicro), newStart.Format(time.StampMicro))
	}
	waitFor(t, 5*time.Second, "the cut-off leader's lead to stop", func() bool { return !c.rec.running()[old] })
	if !l.Until().IsZero() {
		t.Fatal("the lease was not given up when the lead context was cancelled")
	}
	mu.Lock()
	oldEnd, nl := lastUntil[old], leases[next]
	mu.Unlock()
	if oldEnd.IsZero() {
		t.Fatal("the old lease's end was never seen")
	}
	if from := nl.WritesFrom(); from.Sub(oldEnd) < maxWrite {
		t.Fatalf("the new leader writes from %s, %s after the old lease's end %s; want at least MaxWriteTime (%s)",
			from.Format(time.StampMicro), from.Sub(oldEnd), oldEnd.Format(time.StampMicro), maxWrite)
	}
	if nl.MaxWrite() != maxWrite {
		t.Fatalf("MaxWrite = %s, want MaxWriteTime (%s)", nl.MaxWrite(), maxWrite)
	}
}
