package emit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// kinesisUnit is one Kinesis record: an event, a part of one, or an
// aggregate of several.
type kinesisUnit struct {
	key   string // the partition key: order is kept per key
	entry types.PutRecordsRequestEntry
	size  int          // bytes it holds, counted in buffered (see buffered)
	seq   uint64       // queue order
	next  *kinesisUnit // strict ordering: the key's next record
	state unitState
	// shares says how many events (or parts) of which batches it carries;
	// it points at one unless the unit is an aggregate.
	shares []kinesisShare
	one    [1]kinesisShare
}

type kinesisShare struct {
	batch *kinesisBatch
	n     int
}

type unitState uint8

const (
	unitPending unitState = iota // to be sent (again)
	unitFlying                   // in a request under way
	unitDone                     // accepted
)

// newUnit returns a record of data under key, carrying one event or part
// of kb. The caller queues it (enqueueLocked).
func newUnit(key string, data []byte, size int, kb *kinesisBatch) *kinesisUnit {
	u := &kinesisUnit{key: key, size: size}
	u.entry = types.PutRecordsRequestEntry{Data: data, PartitionKey: &u.key}
	u.one[0] = kinesisShare{batch: kb, n: 1}
	u.shares = u.one[:]
	kb.left++
	return u
}

// maxScan bounds how many waiting records one request looks through for
// keys that are not in flight, under relaxed ordering.
const maxScan = 8192

// send is one sender: it takes a request's worth of records whose keys
// no other request holds, puts them, and books the answer, until the sink
// stops.
func (s *KinesisSink) send() {
	var units []*kinesisUnit
	var entries []types.PutRecordsRequestEntry
	for {
		units = units[:0]
		s.mu.Lock()
		for {
			if s.closed || s.err != nil {
				s.mu.Unlock()
				return
			}
			if wait := s.notBefore.Sub(s.now()); wait > 0 {
				s.mu.Unlock()
				if !sleepCtx(s.ctx, wait) {
					return
				}
				s.mu.Lock()
				continue
			}
			if s.cfg.Lease != nil && !s.now().Before(s.cfg.Lease()) {
				// Not sure to lead: nothing is sent until a quorum
				// confirms it again, or the term ends.
				s.mu.Unlock()
				if !sleepCtx(s.ctx, leaseRecheck) {
					return
				}
				s.mu.Lock()
				continue
			}
			if units = s.takeLocked(units); len(units) > 0 {
				break
			}
			// Nothing under way: aggregates go out now rather than wait to
			// fill. While a request is under way they fill meanwhile, for
			// aggregateLinger at most.
			if s.agg != nil && s.sealLocked(s.flying == 0) > 0 {
				continue
			}
			changed := s.changed
			s.mu.Unlock()
			select {
			case <-changed:
			case <-s.ctx.Done():
				return
			}
			s.mu.Lock()
		}
		s.flying++
		s.stats.inFlight.Add(int64(len(units)))
		s.mu.Unlock()

		entries = entries[:0]
		for _, u := range units {
			entries = append(entries, u.entry)
		}
		actx, cancel := s.attemptContext()
		out, err := s.api.PutRecords(actx, &kinesis.PutRecordsInput{StreamName: s.stream, Records: entries}, s.leaseOpts...)
		cancel()
		clear(entries) // let go of the data
		if s.ctx.Err() != nil {
			return // closed: what was under way is abandoned
		}
		s.mu.Lock()
		release := s.completeLocked(units, out, err)
		s.flying--
		s.notifyLocked()
		s.mu.Unlock()
		for _, b := range release {
			b.Release()
		}
	}
}

// attemptContext returns the context of one PutRecords call: it ends
// RequestTimeout after now, when the sink stops and, with a Lease, the
// moment the lease lapses (it follows the lease as a quorum renews it).
// A deposed leader thus has no request under way, its connection closed,
// past its lease; its successor waits RequestTimeout (at most
// ha.Lease.MaxWrite) more before its first request (NotBefore), for what
// the server had taken in already.
func (s *KinesisSink) attemptContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	if s.cfg.Lease == nil {
		return ctx, cancel
	}
	ctx, lapse := context.WithCancelCause(ctx)
	var (
		mu    sync.Mutex
		timer *time.Timer
		check func()
	)
	check = func() {
		mu.Lock()
		defer mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		d := time.Until(s.cfg.Lease())
		if d <= 0 {
			lapse(errLeaseLapsed)
			return
		}
		timer = time.AfterFunc(d, check)
	}
	check()
	return ctx, func() {
		lapse(context.Canceled)
		mu.Lock()
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		cancel()
	}
}

// leaseGate checks the lease once more just before each HTTP attempt
// leaves (after the SDK built and signed it, which takes time a freeze can
// fall into): a lapsed lease fails the attempt unsent.
type leaseGate struct {
	next  kinesis.HTTPClient
	until func() time.Time
}

// errLeaseLapsed fails a request not sent because the lease lapsed.
var errLeaseLapsed = errors.New("kinesis sink: not sent: this node's leadership lease lapsed")

func (g leaseGate) Do(r *http.Request) (*http.Response, error) {
	if !time.Now().Before(g.until()) {
		return nil, errLeaseLapsed
	}
	return g.next.Do(r)
}

// leaseConn is a connection that writes nothing once the lease lapsed,
// each write's deadline the lease's end. The check is the last before the
// bytes reach the kernel: a leader frozen after leaseGate's check, or in
// the middle of writing a request, sends nothing more when it thaws (a
// request cut short is never applied). It narrows the window between
// check and send to the write call itself; it cannot close it.
type leaseConn struct {
	net.Conn
	until func() time.Time
}

func (c leaseConn) Write(p []byte) (int, error) {
	until := c.until()
	if !time.Now().Before(until) {
		return 0, errLeaseLapsed
	}
	if err := c.SetWriteDeadline(until); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

// leaseOption puts the lease gate in front of the client's HTTP client
// and, when that is the SDK's (an *awshttp.BuildableClient), makes its
// connections leaseConns. The gated client is made once per client seen,
// so that it keeps its connections.
func leaseOption(until func() time.Time) func(*kinesis.Options) {
	var (
		mu          sync.Mutex
		base, gated *awshttp.BuildableClient
	)
	return func(o *kinesis.Options) {
		if o.HTTPClient == nil {
			return
		}
		next := o.HTTPClient
		if bc, ok := next.(*awshttp.BuildableClient); ok {
			mu.Lock()
			if bc != base {
				base, gated = bc, bc.WithTransportOptions(func(t *http.Transport) {
					dial := t.DialContext
					if dial == nil {
						dial = (&net.Dialer{}).DialContext
					}
					t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
						c, err := dial(ctx, network, addr)
						if err != nil {
							return nil, err
						}
						return leaseConn{Conn: c, until: until}, nil
					}
				})
			}
			next = gated
			mu.Unlock()
		}
		o.HTTPClient = leaseGate{next: next, until: until}
	}
}

// leaseRecheck is how often a sender whose lease lapsed looks again.
const leaseRecheck = 10 * time.Millisecond

// takeLocked appends to units the next request and marks them flying.
// Under relaxed ordering: waiting records in queue order, skipping those
// whose key is in another request under way, up to the request limits.
// Strict ordering takes one record per key (takeStrictLocked). Callers
// hold s.mu.
func (s *KinesisSink) takeLocked(units []*kinesisUnit) []*kinesisUnit {
	if s.strict {
		return s.takeStrictLocked(units)
	}
	n := 0
	for n < len(s.queue) && s.queue[n].state == unitDone {
		s.queue[n] = nil
		n++
	}
	s.queue = s.queue[n:]
	bytes, scanned := 0, 0
	for _, u := range s.queue {
		if u.state != unitPending {
			continue
		}
		if scanned++; scanned > maxScan {
			break
		}
		// A key in flight elsewhere waits, and so do its later records:
		// they all skip here. Keys taken by this request are not in
		// s.keys yet, so their later records join it, in order.
		if len(s.keys) > 0 && s.keys[u.key] > 0 {
			continue
		}
		size := len(u.entry.Data) + len(u.key)
		if len(units) == kinesisMaxRequestRecords || (len(units) > 0 && bytes+size > kinesisMaxRequestBytes) {
			break
		}
		units = append(units, u)
		bytes += size
	}
	for _, u := range units {
		u.state = unitFlying
		s.keys[u.key]++
	}
	return units
}

// completeLocked books PutRecords' answer to units: accepted records are
// done; a refused record goes back to waiting, and so does every later
// record of its key in the request, accepted or not, so that the key's
// records reach the stream again in order (strict ordering never puts a
// later record of a key in the request). A failed request goes back to
// waiting whole: if it was in fact written (a timeout), its records land
// twice, each copy before anything later of its key. Callers hold s.mu; it
// returns the batches to release.
func (s *KinesisSink) completeLocked(units []*kinesisUnit, out *kinesis.PutRecordsOutput, err error) []*Batch {
	if !s.strict {
		for _, u := range units {
			if s.keys[u.key]--; s.keys[u.key] <= 0 {
				delete(s.keys, u.key)
			}
		}
	}
	s.stats.inFlight.Add(-int64(len(units)))
	if err == nil && len(out.Records) != len(units) {
		err = fmt.Errorf("PutRecords answered %d records for %d", len(out.Records), len(units))
	}
	if err != nil {
		for _, u := range units {
			s.requeueLocked(u)
		}
		s.stats.retries.Add(int64(len(units)))
		if kinesisPermanent(err) {
			s.err = &PermanentError{Sink: "kinesis sink", Err: fmt.Errorf("put records to stream %s: %w", s.cfg.Stream, err),
				Fix: "check that the stream exists and that sluice's credentials may kinesis:PutRecords on it (and use its KMS key)"}
			s.log.Error("Kinesis refused the records for good; stopping", "err", err)
			return nil
		}
		if kinesisThrottled(apiCode(err)) {
			s.stats.throttles.Add(1)
		}
		s.failing++
		d := s.backOffLocked()
		if s.failing == 1 || s.failing%20 == 0 {
			s.log.Warn("Kinesis unavailable: retrying", "records", len(units), "failures", s.failing, "in", d, "err", err)
		}
		return nil
	}
	if s.failing > 0 {
		s.log.Info("Kinesis answered again", "after_failures", s.failing)
		s.failing = 0
	}
	var (
		release          []*Batch
		failed           map[string]struct{}
		throttled, other int
		resent           int
		code, msg        string
	)
	for i, u := range units {
		e := &out.Records[i]
		if e.ErrorCode != nil {
			if failed == nil {
				failed = make(map[string]struct{})
				code, msg = aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage)
			}
			failed[u.key] = struct{}{}
			s.requeueLocked(u)
			if kinesisThrottled(aws.ToString(e.ErrorCode)) {
				throttled++
			} else {
				other++
			}
			continue
		}
		if _, ok := failed[u.key]; ok {
			// Taken after an earlier record of its key was refused: it is
			// sent again after that one (relaxed ordering only).
			s.requeueLocked(u)
			resent++
			continue
		}
		release = s.acceptLocked(u, release)
	}
	if failed == nil {
		s.backoff = 0
		return release
	}
	s.stats.retries.Add(int64(throttled + other + resent))
	s.stats.throttles.Add(int64(throttled))
	d := s.backOffLocked()
	s.log.Debug("Kinesis refused some records: retrying", "refused", throttled+other, "throttled", throttled,
		"resent_in_order", resent, "in", d, "code", code, "message", msg)
	return release
}

// backOffLocked doubles the wait before the next request, within
// RetryBackoff and RetryBackoffMax, with jitter. Callers hold s.mu.
func (s *KinesisSink) backOffLocked() time.Duration {
	s.backoff = min(max(2*s.backoff, s.cfg.RetryBackoff), s.cfg.RetryBackoffMax)
	d := s.backoff/2 + rand.N(s.backoff/2+1)
	if t := s.now().Add(d); t.After(s.notBefore) {
		s.notBefore = t
	}
	return d
}

// kinesisThrottled reports whether an error code says to slow down.
func kinesisThrottled(code string) bool {
	switch code {
	case "ProvisionedThroughputExceededException", "KMSThrottlingException", "ThrottlingException", "LimitExceededException":
		return true
	}
	return false
}

// kinesisPermanent reports whether Kinesis will give err again however
// often it is asked: a missing stream, missing rights, a bad KMS key, a
// request it cannot take. Everything else (no answer, throttling, server
// errors, expired credentials) is retried.
func kinesisPermanent(err error) bool {
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return true
	}
	switch apiCode(err) {
	case "ResourceNotFoundException", "AccessDeniedException", "InvalidArgumentException", "ValidationException",
		"KMSDisabledException", "KMSInvalidStateException", "KMSNotFoundException", "KMSAccessDeniedException",
		"KMSOptInRequired", "UnrecognizedClientException", "IncompleteSignature", "MissingAuthenticationToken":
		return true
	}
	return false
}

// sleepCtx waits d, or until ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
