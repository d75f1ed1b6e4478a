package emit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/prometheus/client_golang/prometheus"
)

// kinesisAPI is the part of the Kinesis client the Kinesis sink uses.
type kinesisAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, opts ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
}

var _ kinesisAPI = (*kinesis.Client)(nil)

// KinesisPartitionKey says what a Kinesis record's partition key is made
// of, and so over what events order is kept: Kinesis keeps order within a
// shard, and all records of one partition key go to one shard.
type KinesisPartitionKey string

// Partition keys.
const (
	// PartitionByPrimaryKey: "db.table" followed by the row's primary key
	// values as a JSON array ("shop.orders[42]"); rows of keyless tables
	// and schema changes use "db.table". Order is kept per row.
	PartitionByPrimaryKey KinesisPartitionKey = "primary_key"
	// PartitionByTable: "db.table". Order is kept per table.
	PartitionByTable KinesisPartitionKey = "table"
	// PartitionByDatabase: "db". Order is kept per database.
	PartitionByDatabase KinesisPartitionKey = "database"
	// PartitionByColumns: the JSON array of the values of
	// KinesisConfig.Columns in the event's row image ("[1042]"), so the
	// rows of, say, one customer keep their order across tables. Events
	// without all of the columns (other tables, schema changes) fall back
	// to PartitionByPrimaryKey.
	PartitionByColumns KinesisPartitionKey = "columns"
	// PartitionByTransaction: "tx:server_id:file:offset" of the end of the
	// event's transaction: every row of a transaction on one key (and so
	// one shard, in order); transactions are not ordered with each other.
	// Events outside a binlog transaction fall back to PartitionByPrimaryKey.
	PartitionByTransaction KinesisPartitionKey = "transaction"
)

// KinesisOrdering says how the sink keeps a partition key's records in
// order when Kinesis takes some records of a request and refuses others.
type KinesisOrdering string

// Orderings.
const (
	// OrderStrict: a PutRecords request holds at most one record of a
	// partition key (an aggregate counts as one record of its group), so a
	// later record of a key is sent only once every earlier one is
	// accepted. Each key's records land exactly in event order, once each;
	// only a request whose outcome is unknown (a timeout, a lost answer)
	// can leave a copy of a record, and the copy lands before anything
	// later of its key.
	OrderStrict KinesisOrdering = "strict"
	// OrderRelaxed: a request may hold many records of a key; when one is
	// refused, it is sent again with every later record of its key from
	// that request, even those Kinesis took. The last copy of each record
	// is in event order, but a key can read r3 r1 r3.
	OrderRelaxed KinesisOrdering = "relaxed"
)

// Kinesis service limits.
const (
	kinesisMaxRequestRecords = 500
	kinesisMaxRequestBytes   = 5 << 20
	kinesisMaxRecordBytes    = 1 << 20  // data and partition key
	kinesisMaxPartitionKey   = 256      // Unicode characters
	kinesisMaxRecordLimit    = 10 << 20 // streams can be configured up to this
)

// KinesisConfig configures the Kinesis sink.
type KinesisConfig struct {
	Stream       string
	PartitionKey KinesisPartitionKey
	// Columns are the columns of PartitionByColumns.
	Columns []string
	// Ordering is OrderStrict (the default) or OrderRelaxed. Strict
	// without Aggregate sends one record per key per request: fine by
	// primary key, slow by table or database (see docs/kinesis-sink.md).
	Ordering KinesisOrdering
	// Aggregate packs events into KPL aggregated records (see
	// docs/kinesis-sink.md), which KCL consumers and the AWS
	// deaggregation libraries unpack.
	Aggregate bool
	// AggregateMaxBytes caps one aggregated record; AggregateGroups is how
	// many aggregation groups the hash-key space is cut into (events of
	// one partition key always share a group, and so a shard).
	AggregateMaxBytes int
	AggregateGroups   int
	// MaxRecordBytes is the stream's record size limit, partition key
	// included: events over it are sent in parts.
	MaxRecordBytes int
	// MaxInFlight is how many PutRecords requests may be under way at
	// once; no two of them hold records of the same partition key.
	MaxInFlight int
	// MaxBufferedBytes caps the memory held for events until Kinesis
	// accepts them, counted as the capacity of the buffers held (batches,
	// aggregates) and kinesisUnitBytes per record; past it Write blocks.
	MaxBufferedBytes int
	// RequestTimeout bounds one attempt of one request. A cluster's leader
	// keeps it within ha.Lease.MaxWrite, the time its successor waits
	// before its first request (NotBefore).
	RequestTimeout time.Duration
	// RetryBackoff and RetryBackoffMax bound the wait after a throttled or
	// failed request; attempts go on until the sink is closed.
	RetryBackoff    time.Duration
	RetryBackoffMax time.Duration
	// Registerer, if set, gets the sink's metrics (KinesisStats), labelled
	// with the stream; Close unregisters them.
	Registerer prometheus.Registerer

	// Term, when set, is the leadership term's context (in a cluster): the
	// senders stop the moment it ends, abandoning requests under way, and
	// the sink fails from then on. Without it they stop only at Close.
	Term context.Context
	// Lease, when set, returns until when this process may write (the
	// leader's lease, ha.Lease.Until): no request (or retry of one) leaves
	// after it; the check is made again just before the HTTP request goes
	// out, and a request under way is abandoned the moment the lease
	// lapses.
	Lease func() time.Time
	// NotBefore, when set, is when the first request may leave: a new
	// leader's wait (ha.Lease.WritesFrom) for requests its predecessor
	// sent within its lease, which Kinesis may still apply.
	NotBefore time.Time
	// Epoch, when not zero, is the term's epoch: each record's JSON gets
	// "epoch":Epoch as its first field, so a consumer can drop records of
	// older epochs that arrive after newer ones. Zero (one process, no
	// cluster) leaves events as they are.
	Epoch uint64
}

// DefaultKinesisConfig returns the defaults; Stream must still be set.
func DefaultKinesisConfig() KinesisConfig {
	return KinesisConfig{
		PartitionKey:      PartitionByPrimaryKey,
		Ordering:          OrderStrict,
		AggregateMaxBytes: 64 << 10,
		AggregateGroups:   256,
		MaxRecordBytes:    kinesisMaxRecordBytes,
		MaxInFlight:       4,
		MaxBufferedBytes:  64 << 20,
		RequestTimeout:    30 * time.Second,
		RetryBackoff:      100 * time.Millisecond,
		RetryBackoffMax:   5 * time.Second,
	}
}

// Validate checks the config.
func (c *KinesisConfig) Validate() error {
	switch {
	case c.Stream == "":
		return errors.New("kinesis sink: stream is empty")
	case c.PartitionKey != PartitionByPrimaryKey && c.PartitionKey != PartitionByTable && c.PartitionKey != PartitionByDatabase &&
		c.PartitionKey != PartitionByColumns && c.PartitionKey != PartitionByTransaction:
		return fmt.Errorf("kinesis sink: partition key %q: want primary_key, table, database, columns or transaction", c.PartitionKey)
	case c.PartitionKey == PartitionByColumns && len(c.Columns) == 0:
		return errors.New("kinesis sink: partition_key columns needs the columns: set columns: [customer_id, ...]")
	case c.PartitionKey != PartitionByColumns && len(c.Columns) > 0:
		return fmt.Errorf("kinesis sink: columns %v are set but partition_key is %q: set partition_key: columns", c.Columns, c.PartitionKey)
	case c.Ordering != OrderStrict && c.Ordering != OrderRelaxed:
		return fmt.Errorf("kinesis sink: ordering %q: want strict or relaxed", c.Ordering)
	case c.MaxRecordBytes < 4<<10 || c.MaxRecordBytes > kinesisMaxRecordLimit:
		return fmt.Errorf("kinesis sink: max record bytes %d: want 4 KiB to 10 MiB", c.MaxRecordBytes)
	case c.Aggregate && (c.AggregateMaxBytes < 1<<10 || c.AggregateMaxBytes > c.MaxRecordBytes):
		return fmt.Errorf("kinesis sink: aggregate max bytes %d: want 1 KiB up to max record bytes (%d)", c.AggregateMaxBytes, c.MaxRecordBytes)
	case c.Aggregate && (c.AggregateGroups < 1 || c.AggregateGroups > 1<<16):
		return fmt.Errorf("kinesis sink: aggregate groups %d: want 1 to 65536", c.AggregateGroups)
	case c.MaxInFlight < 1:
		return errors.New("kinesis sink: max in flight must be positive")
	case c.MaxBufferedBytes < c.MaxRecordBytes:
		return fmt.Errorf("kinesis sink: max buffered bytes (%d) is below max record bytes (%d)", c.MaxBufferedBytes, c.MaxRecordBytes)
	case c.RequestTimeout <= 0:
		return errors.New("kinesis sink: request timeout must be positive")
	case c.RetryBackoff <= 0 || c.RetryBackoffMax < c.RetryBackoff:
		return errors.New("kinesis sink: want 0 < retry backoff <= retry backoff max")
	}
	return nil
}

// KinesisSink puts events to a Kinesis data stream, one record per event
// (or per part of an event over the record size limit, or many events per
// KPL aggregated record), partitioned by KinesisConfig.PartitionKey.
//
// Records of one partition key reach the stream in event order, and a key
// is never in two requests at once. With OrderStrict (the default) a
// request holds at most one record of a key (with Aggregate, one aggregate
// of a group), so when Kinesis refuses it nothing later of its key has
// been sent: it is sent again first, and the stream holds each key's
// records exactly in order. With OrderRelaxed a refused record is sent
// again together with every later record of its key from that request,
// even those Kinesis took, which leaves copies; the last copy of each
// record is in order (docs/kinesis-sink.md).
//
// A batch is durable once Kinesis has accepted every record made from it.
// Background senders owned by the sink put records as soon as they are
// written (aggregates once full, once no request is under way, or after
// 100 ms); throttling, server errors and outages are retried with capped
// exponential backoff until Close. Write blocks while MaxBufferedBytes of
// events wait for Kinesis; Sync(force) waits until everything written is
// accepted or ctx ends. Errors Kinesis will repeat (no such stream, access
// denied, bad KMS key) stop the sink: Write and Sync return them.
type KinesisSink struct {
	api     kinesisAPI
	cfg     KinesisConfig
	stream  *string
	log     *slog.Logger
	now     func() time.Time
	stats   *kinesisStats
	metrics []prometheus.Collector // registered with cfg.Registerer
	strict  bool                   // cfg.Ordering == OrderStrict

	ctx    context.Context // the senders'; cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	err     error  // why the sink stopped
	written uint64 // Seq of the last batch written
	durable uint64
	batches []*kinesisBatch // written and not yet durable, in Seq order
	nextSeq uint64          // of the last record queued
	// Relaxed ordering: queue holds the records to put, in event order
	// (done ones leave from the front), and keys the partition keys in
	// flight, with their records in flight.
	queue []*kinesisUnit
	keys  map[string]int
	// Strict ordering: ready holds the oldest waiting record of each key
	// not in flight, and tails the last record of each key not yet
	// accepted (kinesis_order.go).
	ready  unitHeap
	tails  map[string]*kinesisUnit
	flying int // requests under way
	// buffered counts the bytes held for records not yet accepted: the
	// capacity of the batches they point into and of the buffers they
	// own (parts, aggregates), with kinesisUnitBytes per record.
	buffered  int
	backoff   time.Duration // the last wait; 0 after a clean request
	failing   int           // requests failed in a row
	notBefore time.Time     // no request starts before it
	changed   chan struct{} // closed when records are accepted or refused, or the sink stops
	agg       *aggregator   // with Aggregate

	lastDB, lastTable, lastKey string // Write's cache of the last table's key
	epochPrefix                []byte // `{"epoch":N,` with Epoch
	leaseOpts                  []func(*kinesis.Options)
}

var _ Sink = (*KinesisSink)(nil)

// kinesisBatch is a written batch until all its records are accepted.
type kinesisBatch struct {
	seq  uint64
	b    *Batch // released once nothing reads its Data
	left int    // events, or parts of events, not yet accepted
	held int    // what b counts in buffered while the sink holds it
	ts   uint32 // the latest commit time among its events
}

// NewKinesisSink returns a sink putting to cfg.Stream through client and
// starts its senders; Close stops them. It does no I/O: call Check before
// streaming to fail early on a missing stream.
func NewKinesisSink(client kinesisAPI, cfg KinesisConfig, logger *slog.Logger) (*KinesisSink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.Default()
	}
	s := &KinesisSink{
		api:     client,
		cfg:     cfg,
		stream:  aws.String(cfg.Stream),
		log:     logger.With("sink", "kinesis", "stream", cfg.Stream),
		now:     time.Now,
		stats:   &kinesisStats{},
		keys:    make(map[string]int),
		tails:   make(map[string]*kinesisUnit),
		changed: make(chan struct{}),
		strict:  cfg.Ordering == OrderStrict,
		// A new leader's first request waits for its predecessor's.
		notBefore: cfg.NotBefore,
	}
	if s.strict && !cfg.Aggregate && cfg.PartitionKey != PartitionByPrimaryKey {
		s.log.Warn("strict ordering without aggregation sends one record per key per request: set aggregate: true for throughput",
			"partition_key", cfg.PartitionKey)
	}
	if cfg.Aggregate {
		s.agg = newAggregator(cfg.AggregateGroups, cfg.AggregateMaxBytes, cfg.MaxRecordBytes)
	}
	if cfg.Registerer != nil {
		s.metrics = s.stats.collectors(cfg.Stream)
		for i, c := range s.metrics {
			if err := cfg.Registerer.Register(c); err != nil {
				for _, r := range s.metrics[:i] {
					cfg.Registerer.Unregister(r)
				}
				return nil, fmt.Errorf("kinesis sink %s: register metrics: %w", cfg.Stream, err)
			}
		}
	}
	// The senders belong to the sink, not to any caller's request: they
	// live until Close, or until the leadership term ends.
	parent := cfg.Term
	if parent == nil {
		parent = context.Background()
	}
	s.ctx, s.cancel = context.WithCancel(parent)
	if cfg.Lease != nil {
		s.leaseOpts = append(s.leaseOpts, leaseOption(cfg.Lease))
	}
	if cfg.Epoch != 0 {
		s.epochPrefix = fmt.Appendf(nil, `{"epoch":%d,`, cfg.Epoch)
	}
	for range cfg.MaxInFlight {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.senderStopped()
			s.send()
		}()
	}
	return s, nil
}

// Write implements Sink. It turns b's events into records for the senders,
// first waiting while more than MaxBufferedBytes wait for Kinesis. It keeps
// b until its records are accepted (with Aggregate, it copies them and
// releases b at once).
func (s *KinesisSink) Write(ctx context.Context, b *Batch) error {
	s.mu.Lock()
	for {
		if err := s.stoppedLocked(); err != nil {
			s.mu.Unlock()
			return err
		}
		if s.buffered <= s.cfg.MaxBufferedBytes-cap(b.Data) || s.buffered == 0 {
			break
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("kinesis sink: wait for Kinesis to accept buffered events: %w", ctx.Err())
		}
		s.mu.Lock()
	}
	kb := &kinesisBatch{seq: b.Seq, b: b}
	if s.agg == nil {
		kb.held = cap(b.Data) + cap(b.Events)*int(unsafe.Sizeof(Ref{}))
		s.buffered += kb.held
	}
	for i := range b.Events {
		r := &b.Events[i]
		s.addEvent(kb, b, i, r)
		kb.ts = max(kb.ts, r.Timestamp)
	}
	s.batches = append(s.batches, kb)
	s.written = b.Seq
	if s.agg != nil {
		kb.b = nil // every event was copied into an aggregate
	}
	var release *Batch
	if kb.left == 0 {
		release = s.batchDoneLocked(kb)
	}
	s.notifyLocked()
	s.mu.Unlock()
	if s.agg != nil || release != nil {
		b.Release()
	}
	return nil
}

// senderStopped fails the sink when a sender stopped because the
// leadership term ended, so Write and Sync stop waiting for it.
func (s *KinesisSink) senderStopped() {
	if s.cfg.Term == nil || s.cfg.Term.Err() == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && !s.closed {
		s.err = fmt.Errorf("kinesis sink: stopped sending: the leadership term ended (%w)", context.Cause(s.cfg.Term))
		s.notifyLocked()
	}
}

// stoppedLocked returns why the sink takes no more work, if it does not.
func (s *KinesisSink) stoppedLocked() error {
	if s.err != nil {
		return s.err
	}
	if s.closed {
		return errors.New("kinesis sink: closed")
	}
	return nil
}

// Sync implements Sink: records are put as soon as they are written, so
// Sync only reports the last durable Seq; with force it first waits until
// every batch written before the call is accepted, or ctx ends.
func (s *KinesisSink) Sync(ctx context.Context, force bool) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	target := s.written
	for {
		if err := s.stoppedLocked(); err != nil {
			return 0, err
		}
		if !force || s.durable >= target {
			return s.durable, nil
		}
		changed := s.changed
		s.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			s.mu.Lock()
			return 0, fmt.Errorf("kinesis sink: wait for Kinesis to accept batches up to %d (durable: %d): %w", target, s.durable, ctx.Err())
		}
		s.mu.Lock()
	}
}

// Close implements Sink: it stops the senders, abandoning requests under
// way, and drops what was not accepted. It is idempotent.
func (s *KinesisSink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.notifyLocked()
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	for _, c := range s.metrics {
		s.cfg.Registerer.Unregister(c)
	}
	s.mu.Lock()
	s.queue, s.ready, s.tails, s.batches = nil, nil, nil, nil
	s.mu.Unlock()
	return nil
}

// Stats returns the sink's counters.
func (s *KinesisSink) Stats() KinesisStats { return s.stats.snapshot() }

// notifyLocked wakes everyone waiting for a change. Callers hold s.mu.
func (s *KinesisSink) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// acceptLocked counts a record Kinesis took. Callers hold s.mu; batches
// that nothing reads any more are returned to release.
func (s *KinesisSink) acceptLocked(u *kinesisUnit, release []*Batch) []*Batch {
	u.state = unitDone
	s.advanceLocked(u)
	s.buffered -= u.size
	s.stats.recordsAccepted(u)
	for i := range u.shares {
		sh := &u.shares[i]
		sh.batch.left -= sh.n
		if sh.batch.left == 0 {
			if b := s.batchDoneLocked(sh.batch); b != nil {
				release = append(release, b)
			}
		}
	}
	return release
}

// batchDoneLocked notes that every record of kb is accepted, moves the
// durable Seq over the batches done in order, and returns kb's batch to
// release if the sink still held it.
func (s *KinesisSink) batchDoneLocked(kb *kinesisBatch) *Batch {
	n := 0
	for n < len(s.batches) && s.batches[n].left == 0 {
		s.durable = s.batches[n].seq
		s.stats.durableCommit(s.batches[n].ts)
		n++
	}
	if n > 0 {
		s.batches = append(s.batches[:0], s.batches[n:]...)
	}
	b := kb.b
	kb.b = nil
	s.buffered -= kb.held
	kb.held = 0
	return b
}

// Check verifies that the stream exists and accepts records.
func (s *KinesisSink) Check(ctx context.Context) error {
	out, err := s.api.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: s.stream})
	if err != nil {
		var nf *types.ResourceNotFoundException
		switch status := httpStatus(err); {
		case errors.As(err, &nf):
			return fmt.Errorf("kinesis sink: stream %q does not exist: create it (aws kinesis create-stream --stream-name %s), or fix the sink's stream, region or endpoint: %w", s.cfg.Stream, s.cfg.Stream, err)
		case status == http.StatusForbidden || status == http.StatusUnauthorized || apiCode(err) == "AccessDeniedException":
			return fmt.Errorf("kinesis sink: access to stream %q denied: give sluice's credentials kinesis:DescribeStreamSummary and kinesis:PutRecords on it (and kms:GenerateDataKey for an encrypted stream): %w", s.cfg.Stream, err)
		default:
			return fmt.Errorf("kinesis sink: cannot reach stream %q: check the endpoint, region, credentials and network: %w", s.cfg.Stream, err)
		}
	}
	d := out.StreamDescriptionSummary
	if d == nil {
		return fmt.Errorf("kinesis sink: stream %q: empty description", s.cfg.Stream)
	}
	switch d.StreamStatus {
	case types.StreamStatusActive, types.StreamStatusUpdating: // both take records
	case types.StreamStatusCreating:
		return fmt.Errorf("kinesis sink: stream %q is still being created: wait until it is ACTIVE (aws kinesis wait stream-exists --stream-name %s)", s.cfg.Stream, s.cfg.Stream)
	default:
		return fmt.Errorf("kinesis sink: stream %q is %s, not ACTIVE: recreate it or point the sink at another stream", s.cfg.Stream, d.StreamStatus)
	}
	s.log.Info("stream ready", "status", d.StreamStatus, "open_shards", aws.ToInt32(d.OpenShardCount), "encryption", d.EncryptionType)
	return nil
}

// apiCode is the AWS error code err carries, if any.
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}
