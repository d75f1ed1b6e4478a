package ha

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// LeadFunc does the leader's work (streams the binlog). It should block
// until ctx is done and then return promptly: ctx is cancelled when this
// node stops being leader (context.Cause is ErrLeadershipLost), when Run's
// context ends, or on Shutdown (cause ErrShutdown). A return while the node
// still leads, with an error or nil, counts as a failure.
type LeadFunc func(ctx context.Context) error

// raftOpTimeout bounds how long Barrier and Apply wait to be enqueued.
const raftOpTimeout = 10 * time.Second

// leadSlowWarn is how often Run logs that lead ignores its cancelled context.
const leadSlowWarn = 5 * time.Second

// Run calls lead each time this node becomes leader, and blocks until ctx
// ends (returns nil), the node is shut down (ErrShutdown) or removed from
// the cluster (ErrRemoved). Call it once. Ending ctx stops lead but not
// Raft, so the node may stay leader with nobody streaming: to stop, call
// Shutdown, which also hands leadership over.
//
// On winning an election Run waits for a Raft barrier (the state machine has
// applied everything committed before this term), appends a LeaderRecord,
// and calls lead with a context that is cancelled as soon as leadership is
// in doubt: on a leadership signal from Raft (Config.NotifyCh), when
// raft.State() is no longer Leader (checked every LeaderLeaseTimeout/2), or
// when a VerifyLeader round does not confirm leadership within
// LeaderLeaseTimeout. Signals can be coalesced or arrive late, hence the
// polling; a cut-off leader's lead context is cancelled within about
// 1.5 × LeaderLeaseTimeout of losing contact.
//
// lead runs on one goroutine at a time; Run waits for it to return before
// anything else. Its failures never stop Run: it is called again after a
// back-off, and after LeadFailureLimit failures in a row the node hands
// leadership to another voter, if there is one, and carries on as follower.
func (n *Node) Run(ctx context.Context, lead LeadFunc) error {
	if !n.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer close(n.runDone)
	failures := 0
	for {
		waited, err := n.awaitLeadership(ctx)
		if err != nil || ctx.Err() != nil {
			return err
		}
		if waited {
			failures = 0 // a new term: start counting afresh
		}
		lost, err := n.leadTerm(ctx, lead)
		if stop, err := n.exitReason(ctx); stop {
			return err
		}
		if lost || n.raft.State() != raft.Leader {
			failures = 0
			continue
		}
		failures++
		n.log.Error("leading failed while this node leads", "err", err, "failures", failures)
		if failures >= n.cfg.LeadFailureLimit && n.otherVoters() > 0 {
			n.log.Warn("handing leadership to another voter after repeated lead failures", "failures", failures)
			if err := n.await(n.raft.LeadershipTransfer(), n.transferTimeout()); err != nil {
				n.log.Warn("leadership transfer", "err", err)
			} else {
				failures = 0
				continue
			}
		}
		n.pause(ctx, backoff(n.cfg.LeadRetryBackoff, failures))
	}
}

// exitReason says whether Run should return, and with what.
func (n *Node) exitReason(ctx context.Context) (bool, error) {
	select {
	case <-n.stopping:
		return true, ErrShutdown
	default:
	}
	if ctx.Err() != nil {
		return true, nil
	}
	if n.raft.State() == raft.Shutdown {
		return true, ErrRemoved
	}
	return false, nil
}

// awaitLeadership returns once this node is leader (waited tells whether it
// had to wait), or with Run's exit error.
func (n *Node) awaitLeadership(ctx context.Context) (waited bool, err error) {
	t := time.NewTicker(n.checkInterval())
	defer t.Stop()
	for {
		if stop, err := n.exitReason(ctx); stop {
			return waited, err
		}
		if n.raft.State() == raft.Leader {
			return waited, nil
		}
		waited = true
		select {
		case <-n.changed:
		case <-t.C:
		case <-ctx.Done():
		case <-n.stopping:
		}
	}
}

// checkInterval is how often leadership is re-checked.
func (n *Node) checkInterval() time.Duration {
	return max(n.cfg.LeaderLeaseTimeout/2, 5*time.Millisecond)
}

// leadTerm runs lead for as long as this node stays leader. lost reports
// that lead ended because leadership (or Run) ended, rather than by itself;
// err is lead's error, or why lead could not start.
func (n *Node) leadTerm(ctx context.Context, lead LeadFunc) (lost bool, err error) {
	term := n.raft.CurrentTerm()
	log := n.log.With("term", term)
	// This node leads now, so its predecessor's lease has ended: followers
	// waited that long without hearing from it before electing anyone (or
	// it gave its lease up before handing leadership over).
	confirmed := time.Now()
	lease := &Lease{writesFrom: confirmed.Add(n.cfg.MaxWriteTime), maxWrite: n.cfg.MaxWriteTime}
	// Failures here count as lead failures unless leadership went with them.
	if err := n.raft.Barrier(raftOpTimeout).Error(); err != nil {
		return false, fmt.Errorf("barrier after election in term %d: %w", term, err)
	}
	rec := LeaderRecord{ID: n.cfg.NodeID, RaftAddr: n.cfg.advertise(), AdminURL: n.cfg.AdminURL, Term: term, Since: time.Now().UTC()}
	if err := n.apply(rec); err != nil {
		return false, fmt.Errorf("publish leader record for term %d: %w", term, err)
	}

	// The barrier and the record were committed by a quorum: no other
	// leader can be elected until LeaderLeaseTimeout after they began.
	lease.extend(confirmed.Add(n.cfg.LeaderLeaseTimeout))
	leaderCtx, cancel := context.WithCancelCause(context.WithValue(context.WithValue(ctx, termKey{}, term), leaseKey{}, lease))
	defer cancel(nil)
	start := time.Now()
	n.leadingSince.Store(&start)
	defer n.leadingSince.Store(nil)
	done := make(chan error, 1)
	go func() { done <- lead(leaderCtx) }() // Run waits on done before leadTerm returns
	log.Info("leading")

	var (
		cause       error // why leaderCtx was cancelled; nil while leading
		cancelled   time.Time
		warned      time.Time
		verify      <-chan error
		verifySince time.Time
		ctxDone     = ctx.Done()
		stopping    = n.stopping
	)
	lose := func(why error) {
		if cause == nil {
			cause, cancelled, warned = why, time.Now(), time.Now()
			lease.expire()
			cancel(why)
			log.Info("stopping lead", "cause", why)
		}
	}
	tick := time.NewTicker(n.checkInterval())
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			log.Info("lead returned", "after", time.Since(start).Round(time.Millisecond), "err", err)
			return cause != nil, err
		case <-n.changed:
			if n.raft.State() != raft.Leader {
				lose(ErrLeadershipLost)
			}
		case <-tick.C:
			switch {
			case cause != nil:
				if time.Since(warned) > leadSlowWarn {
					warned = time.Now()
					log.Warn("lead has not returned since its context was cancelled", "cause", cause, "since", time.Since(cancelled).Round(time.Second))
				}
			case n.raft.State() != raft.Leader:
				lose(ErrLeadershipLost)
			case verify == nil:
				verify, verifySince = n.watch(n.raft.VerifyLeader()), time.Now()
			case time.Since(verifySince) > n.cfg.LeaderLeaseTimeout:
				lose(fmt.Errorf("%w: no quorum confirmed leadership within %s", ErrLeadershipLost, n.cfg.LeaderLeaseTimeout))
			}
		case err := <-verify:
			verify = nil
			if err != nil {
				lose(fmt.Errorf("%w: %w", ErrLeadershipLost, err))
			} else if cause == nil {
				lease.extend(verifySince.Add(n.cfg.LeaderLeaseTimeout))
			}
		case <-ctxDone:
			ctxDone = nil
			lose(context.Cause(ctx))
		case <-stopping:
			stopping = nil
			lose(ErrShutdown)
		}
	}
}

// apply appends rec to the log and waits until it is applied here.
func (n *Node) apply(rec LeaderRecord) error {
	b, err := encodeLeader(rec)
	if err != nil {
		return err
	}
	f := n.raft.Apply(b, raftOpTimeout)
	if err := f.Error(); err != nil {
		return err
	}
	if err, ok := f.Response().(error); ok {
		return err
	}
	return nil
}

// pause sleeps d unless Run is stopping.
func (n *Node) pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-n.stopping:
	}
}

// backoff is base doubled per failure after the first, up to 32 × base.
func backoff(base time.Duration, failures int) time.Duration {
	return base << min(max(failures-1, 0), 5)
}

type termKey struct{}

type leaseKey struct{}

// Lease says until when a leader is sure that no other node leads: the
// start of the last round in which a quorum confirmed its leadership
// (the election's barrier, then each VerifyLeader), plus
// LeaderLeaseTimeout. Followers wait at least HeartbeatTimeout (which is
// at least LeaderLeaseTimeout) without hearing from the leader before
// they elect another, so until then a write outside Raft cannot land
// after a newer leader's. A leader frozen (SIGSTOP) or cut off finds its
// lease lapsed as soon as it runs again, before its lead context is
// cancelled. It is safe for concurrent use.
//
// The lease stops requests from leaving once it lapses, but a request that
// left within it can still be applied later (a slow network or server), and
// a stream like Kinesis has no conditional write to refuse it. So requests
// are bounded on both sides by Config.MaxWriteTime: a leader abandons each
// after MaxWrite (and when its lease lapses), and a new leader sends
// nothing before WritesFrom, MaxWriteTime after it took office, which is
// after its predecessor's lease ended.
type Lease struct {
	until      atomic.Pointer[time.Time]
	writesFrom time.Time
	maxWrite   time.Duration
}

// WritesFrom returns when this leader may send its first write outside
// Raft that nothing else fences (a stream record): Config.MaxWriteTime
// after it took office, by when whatever its predecessor sent within its
// lease has landed or been abandoned.
func (l *Lease) WritesFrom() time.Time { return l.writesFrom }

// MaxWrite returns Config.MaxWriteTime: how long one such write may take
// before this leader abandons it (its successor waits this long).
func (l *Lease) MaxWrite() time.Duration { return l.maxWrite }

// Until returns the end of the lease (the zero time once it is given up).
func (l *Lease) Until() time.Time {
	if t := l.until.Load(); t != nil {
		return *t
	}
	return time.Time{}
}

// Valid reports whether the lease holds at now.
func (l *Lease) Valid(now time.Time) bool { return now.Before(l.Until()) }

func (l *Lease) extend(t time.Time) {
	if t.After(l.Until()) {
		l.until.Store(&t)
	}
}

func (l *Lease) expire() { l.until.Store(&time.Time{}) }

// LeaseFromContext returns the lease of the leadership a lead context
// belongs to.
func LeaseFromContext(ctx context.Context) (*Lease, bool) {
	l, ok := ctx.Value(leaseKey{}).(*Lease)
	return l, ok
}

// TermFromContext returns the Raft term of the leadership a lead context
// belongs to. Writes outside Raft can be fenced by it: a later term always
// has a larger number.
func TermFromContext(ctx context.Context) (uint64, bool) {
	t, ok := ctx.Value(termKey{}).(uint64)
	return t, ok
}
