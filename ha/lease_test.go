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
// its lead context is cancelled).
func TestLeaseEndsBeforeTheNextLeaderStarts(t *testing.T) {
	var mu sync.Mutex
	leases := map[string]*Lease{}
	started := map[string]time.Time{}
	c := newTestCluster(t, clusterOpts{n: 3, partitionable: true, lead: func(id string, rec *leadRecorder) LeadFunc {
		inner := rec.lead(id)
		return func(ctx context.Context) error {
			l, ok := LeaseFromContext(ctx)
			if !ok {
				t.Errorf("%s: lead context without a lease", id)
			}
			mu.Lock()
			leases[id], started[id] = l, time.Now()
			mu.Unlock()
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
}
