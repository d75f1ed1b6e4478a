package emit

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	saslaws "github.com/twmb/franz-go/pkg/sasl/aws"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicecdc/sluice/event"
)

// KafkaKey says what a Kafka record's key holds.
type KafkaKey string

// KafkaKey values.
const (
	// KafkaKeyMaxwell is Maxwell's key document:
	// {"database":"shop","table":"orders","pk.id":5}. A keyless table's
	// rows get {"database":…,"table":…}: one partition, in order.
	KafkaKeyMaxwell KafkaKey = "maxwell"
	// KafkaKeyDebezium is Debezium's key document. With Debezium events
	// (KafkaConfig.Debezium) it is derived from each event's value, so its
	// values are rendered as the value's are and, when the value carries
	// its schema (schemas.enable), it is wrapped with the key schema
	// <topic.prefix>.<db>.<table>.Key: {"schema":…,"payload":{"id":5}}.
	// With Maxwell events it is the bare payload {"id":5} of the key's
	// values as Maxwell renders them. A keyless table's rows have no key.
	KafkaKeyDebezium KafkaKey = "debezium"
)

// DefaultCheckpointTopic is the compacted topic the Kafka sink commits the
// binlog position to, keyed by pipeline name.
const DefaultCheckpointTopic = "__sluice_checkpoints"

// KafkaConfig configures the Kafka sink.
type KafkaConfig struct {
	Brokers []string
	// Topic names the topic of each event: a fixed name, or a template
	// with {database} and {table}.
	Topic string
	Key   KafkaKey
	// Debezium says the events are Debezium change events (output.format:
	// debezium): a debezium Key is then derived from each event's value.
	Debezium bool
	// Tombstones is Debezium's tombstones.on.delete: after each delete
	// event of a row with a primary key, a record with the same key and a
	// null value follows in the same transaction (so in the same
	// partition, right after it), for log compaction to drop the key. It
	// needs Debezium events; its dedupe header is the delete's with
	// ":tombstone" appended.
	Tombstones bool
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression string
	// MaxBufferedBytes caps the memory the sink holds: the batches whose
	// records Kafka has not acknowledged yet (their capacity). Write waits
	// while more is held, so a large source transaction is produced into
	// its open Kafka transaction as it comes, never held whole.
	MaxBufferedBytes int
	// MaxRecordBytes bounds one record (key, value and headers). A larger
	// event is refused, naming its table and key: the pipeline halts with
	// nothing of its transaction committed. Kafka's own limit
	// (max.message.bytes, 1 MiB by default) must exceed it by
	// a batch header (512 bytes will do).
	MaxRecordBytes int
	// TransactionalID is the producer's transactional.id: the pipeline's
	// name, so a new process (or a new leader) fences the old one.
	TransactionalID string
	// CheckpointTopic receives the checkpoint record of every transaction.
	CheckpointTopic string
	// Pipeline keys the checkpoint records.
	Pipeline string
	// TransactionTimeout is how long the broker lets a transaction stay
	// open before it aborts it (a dead process's open transaction).
	TransactionTimeout time.Duration
	// DialTimeout bounds connecting to a broker; RequestTimeout the checks
	// at start.
	DialTimeout    time.Duration
	RequestTimeout time.Duration

	TLS  KafkaTLS
	SASL KafkaSASL

	// Term, when set, is the leadership term's context (in a cluster):
	// records not yet produced when it ends are failed, and the sink with
	// them. Kafka fences a deposed leader's producer by itself as soon as
	// the new leader's sink starts.
	Term context.Context
	// Epoch, when not zero, is the term's epoch, sent with each record as
	// the header sluice.epoch.
	Epoch uint64

	// extraOpts are appended to the client's options (tests: quicker
	// metadata refreshes).
	extraOpts []kgo.Opt
}

// KafkaTLS configures TLS to the brokers.
type KafkaTLS struct {
	Enabled bool
	// CAFile, when set, holds the PEM certificates that sign the brokers'
	// (instead of the system's); CertFile and KeyFile a client
	// certificate.
	CAFile, CertFile, KeyFile string
	ServerName                string
	InsecureSkipVerify        bool
}

// KafkaSASL configures SASL authentication.
type KafkaSASL struct {
	// Mechanism is PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM;
	// empty for none.
	Mechanism          string
	Username, Password string
	// AWSCredentials returns the AWS SDK's current credentials, for
	// AWS_MSK_IAM.
	AWSCredentials func(ctx context.Context) (accessKey, secretKey, sessionToken string, err error)
}

// DefaultKafkaConfig returns the defaults.
func DefaultKafkaConfig() KafkaConfig {
	return KafkaConfig{
		Topic:              "{database}.{table}",
		Key:                KafkaKeyMaxwell,
		Compression:        "none",
		MaxRecordBytes:     1_000_000,
		MaxBufferedBytes:   64 << 20,
		CheckpointTopic:    DefaultCheckpointTopic,
		TransactionTimeout: time.Minute,
		DialTimeout:        10 * time.Second,
		RequestTimeout:     10 * time.Second,
	}
}

// Validate checks the config.
func (c *KafkaConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("brokers: list at least one broker (host:port)")
	}
	for _, b := range c.Brokers {
		if _, port, ok := strings.Cut(b, ":"); !ok || port == "" {
			return fmt.Errorf("broker %q: want host:port", b)
		}
	}
	if c.Topic == "" {
		return errors.New(`topic is empty: name one topic, or "{database}.{table}"`)
	}
	if strings.Contains(strings.NewReplacer("{database}", "", "{table}", "").Replace(c.Topic), "{") {
		return fmt.Errorf("topic %q: the only placeholders are {database} and {table}", c.Topic)
	}
	if c.Key != KafkaKeyMaxwell && c.Key != KafkaKeyDebezium {
		return fmt.Errorf("key %q: want maxwell or debezium", c.Key)
	}
	if c.Tombstones && !c.Debezium {
		return errors.New("tombstones follow Debezium delete events: set output.format: debezium or turn output.debezium.tombstones off")
	}
	if _, err := kafkaCodec(c.Compression); err != nil {
		return err
	}
	if c.MaxRecordBytes < 1024 {
		return errors.New("max_record_bytes must be at least 1024")
	}
	if c.MaxBufferedBytes < c.MaxRecordBytes {
		return fmt.Errorf("max_buffered_bytes (%d) is below max_record_bytes (%d): raise it", c.MaxBufferedBytes, c.MaxRecordBytes)
	}
	if c.TransactionalID == "" || c.Pipeline == "" {
		return errors.New("transactional id and pipeline must be set (the pipeline's name)")
	}
	if c.CheckpointTopic == "" {
		return errors.New("checkpoint_topic is empty")
	}
	if c.TransactionTimeout < time.Second || c.DialTimeout <= 0 || c.RequestTimeout <= 0 {
		return errors.New("transaction timeout must be at least 1s; dial and request timeouts positive")
	}
	switch c.SASL.Mechanism {
	case "":
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if c.SASL.Username == "" {
			return fmt.Errorf("sasl %s needs a username and password", c.SASL.Mechanism)
		}
	case "AWS_MSK_IAM":
		if c.SASL.AWSCredentials == nil {
			return errors.New("sasl AWS_MSK_IAM needs AWS credentials")
		}
		if !c.TLS.Enabled {
			return errors.New("sasl AWS_MSK_IAM needs tls.enabled: true (MSK's IAM listener is TLS only)")
		}
	default:
		return fmt.Errorf("sasl mechanism %q: want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or AWS_MSK_IAM", c.SASL.Mechanism)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return errors.New("tls: cert_file and key_file go together")
	}
	if !c.TLS.Enabled && (c.TLS.CAFile != "" || c.TLS.CertFile != "" || c.TLS.ServerName != "" || c.TLS.InsecureSkipVerify) {
		return errors.New("tls settings are given but tls.enabled is false: set tls.enabled: true")
	}
	return nil
}

func kafkaCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "", "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// ClientOpts returns the connection options (brokers, TLS, SASL) shared by
// the sink's producer and the Kafka checkpoint store's reader. It reads the
// TLS files, so a missing or bad file is an error here.
func (c *KafkaConfig) ClientOpts() ([]kgo.Opt, error) {
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.DialTimeout(c.DialTimeout),
	}
	if c.TLS.Enabled {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLS.ServerName, InsecureSkipVerify: c.TLS.InsecureSkipVerify} //nolint:gosec // only when asked for
		if c.TLS.CAFile != "" {
			pem, err := os.ReadFile(c.TLS.CAFile)
			if err != nil {
				return nil, fmt.Errorf("tls ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls ca_file %s holds no PEM certificate", c.TLS.CAFile)
			}
		}
		if c.TLS.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.TLS.CertFile, c.TLS.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("tls client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	var mech sasl.Mechanism
	switch c.SASL.Mechanism {
	case "PLAIN":
		mech = plain.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsMechanism()
	case "SCRAM-SHA-256":
		mech = scram.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsSha256Mechanism()
	case "SCRAM-SHA-512":
		mech = scram.Auth{User: c.SASL.Username, Pass: c.SASL.Password}.AsSha512Mechanism()
	case "AWS_MSK_IAM":
		creds := c.SASL.AWSCredentials
		mech = saslaws.ManagedStreamingIAM(func(ctx context.Context) (saslaws.Auth, error) {
			k, s, t, err := creds(ctx)
			return saslaws.Auth{AccessKey: k, SecretKey: s, SessionToken: t, UserAgent: "sluice"}, err
		})
	}
	if mech != nil {
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

// KafkaSink writes each event as a record to its table's topic, keyed by
// the row's primary key (so one key's changes stay in one partition, in
// order), with a transactional, idempotent producer: the batches of each
// checkpoint interval and the checkpoint record for where they end are
// committed in one Kafka transaction. A consumer reading with
// isolation.level=read_committed sees every row change exactly once: a
// process that dies mid-transaction leaves it to be aborted, and its
// successor, resuming from the last committed checkpoint record, fences it
// (InitProducerID with the same transactional.id) before it writes.
//
// Sync commits the open transaction when the last batch written ends at a
// transaction boundary, and reports what is committed; a transaction split
// over several batches commits at the next Sync after its end. A fenced
// producer's errors wrap kerr.ProducerFenced (or InvalidProducerEpoch):
// the process is no longer the pipeline's writer and must stop.
type KafkaSink struct {
	cfg    KafkaConfig
	client *kgo.Client
	log    *slog.Logger

	// ctx is what records are produced under: not a caller's, which
	// ends before the final Sync; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	// mu guards what follows, but err.
	mu sync.Mutex
	// err is the first failure after which the open transaction cannot
	// commit: every later call returns it. errMu guards it apart from mu,
	// since produce callbacks set it while a Write or Sync holds mu.
	errMu   sync.Mutex
	err     error
	inTxn   bool
	records int        // produced into the open transaction
	partial bool       // the last batch with events ends inside a transaction
	lastCP  []byte     // checkpoint of the last boundary written
	lastSeq uint64     // last batch written
	acked   uint64     // last batch committed
	commitd []byte     // checkpoint record last committed
	dedupe  []byte     // scratch
	topic   topicNamer // topic per table
	epoch   []byte     // the sluice.epoch header's value; nil without Epoch
	pending sync.WaitGroup

	// holdMu guards held and changed apart from mu, since produce
	// callbacks release batches while a Write waits (holding mu) for room.
	// held is the capacity of the batches whose records Kafka has not all
	// acknowledged: each is released as soon as its last record is, not
	// at the commit, so a large source transaction costs at most
	// MaxBufferedBytes. changed is closed (and replaced) when held drops.
	holdMu  sync.Mutex
	held    int
	changed chan struct{}

	// dbzKeys keeps the key schemas of Debezium events, per table.
	dbzKeys *event.DebeziumKeys
}

var _ Sink = (*KafkaSink)(nil)

// NewKafkaSink returns a sink writing to cfg's brokers. It connects
// lazily: call Check to connect, claim the transactional id and fence any
// older producer.
func NewKafkaSink(cfg KafkaConfig, log *slog.Logger) (*KafkaSink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, err := cfg.ClientOpts()
	if err != nil {
		return nil, err
	}
	codec, _ := kafkaCodec(cfg.Compression)
	opts = append(opts,
		kgo.TransactionalID(cfg.TransactionalID),
		kgo.TransactionTimeout(cfg.TransactionTimeout),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerBatchMaxBytes(int32(max(cfg.MaxRecordBytes+512, 1_000_012))), // a record and its batch header fit
		kgo.RequiredAcks(kgo.AllISRAcks()),
		// Hash keys as Kafka's own producers do, so one key's records
		// land in one partition whoever wrote them.
		kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		kgo.AllowAutoTopicCreation(),
	)
	opts = append(opts, cfg.extraOpts...)
	client, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	parent := cfg.Term
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	var epoch []byte
	if cfg.Epoch != 0 {
		epoch = strconv.AppendUint(nil, cfg.Epoch, 10)
	}
	return &KafkaSink{epoch: epoch, cfg: cfg, client: client, log: log, topic: topicNamer{template: cfg.Topic}, ctx: ctx, cancel: cancel,
		changed: make(chan struct{})}, nil
}

// Check connects to the brokers and claims the transactional id, which
// aborts a transaction a previous holder left open and fences that holder.
// Bad brokers, TLS or SASL settings fail here, before anything is written.
// It returns the producer epoch.
func (s *KafkaSink) Check(ctx context.Context) (int16, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	if err := s.client.Ping(ctx); err != nil {
		return 0, fmt.Errorf("reach kafka brokers %s: %w (check brokers, tls and sasl)", strings.Join(s.cfg.Brokers, ","), err)
	}
	if err := s.createCheckpointTopic(ctx); err != nil {
		return 0, err
	}
	_, epoch, err := s.client.ProducerID(ctx)
	if err != nil {
		return 0, fmt.Errorf("claim kafka transactional id %q: %w", s.cfg.TransactionalID, err)
	}
	return epoch, nil
}

// createCheckpointTopic creates the checkpoint topic, compacted and with
// one partition, unless it exists.
func (s *KafkaSink) createCheckpointTopic(ctx context.Context) error {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(s.cfg.RequestTimeout.Milliseconds())
	t := kmsg.NewCreateTopicsRequestTopic()
	t.Topic = s.cfg.CheckpointTopic
	t.NumPartitions = 1
	t.ReplicationFactor = -1 // the broker's default
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "cleanup.policy", kmsg.StringPtr("compact")
	t.Configs = append(t.Configs, c)
	req.Topics = append(req.Topics, t)
	resp, err := req.RequestWith(ctx, s.client)
	if err != nil {
		return fmt.Errorf("create kafka checkpoint topic %s: %w", s.cfg.CheckpointTopic, err)
	}
	for _, rt := range resp.Topics {
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create kafka checkpoint topic %s: %w (create it compacted with one partition, or grant CREATE)", s.cfg.CheckpointTopic, err)
		}
	}
	return nil
}

// Client is the sink's producer client (shared with the Kafka checkpoint
// store).
func (s *KafkaSink) Client() *kgo.Client { return s.client }

// Write implements Sink: it produces b's events into the open transaction,
// first waiting while MaxBufferedBytes of batches wait for Kafka's
// acknowledgement. It keeps b until Kafka has acknowledged its records
// (produced into the open transaction, not yet committed): what the
// transaction's records are needed for after that is only the commit,
// and a transaction that cannot commit is written again from the
// checkpoint.
func (s *KafkaSink) Write(ctx context.Context, b *Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failed(); err != nil {
		return err
	}
	var h *kafkaHold
	if len(b.Events) > 0 {
		h = &kafkaHold{s: s, b: b, size: cap(b.Data) + cap(b.Events)*int(unsafe.Sizeof(Ref{}))}
		if err := s.waitRoom(ctx, h.size); err != nil {
			return err
		}
		h.left.Store(1) // Write's own, dropped when every record is produced
		defer h.done()
	} else {
		defer b.Release()
	}
	if len(b.Events) > 0 && !s.inTxn {
		if err := s.client.BeginTransaction(); err != nil {
			return s.fail(fmt.Errorf("begin kafka transaction: %w", err))
		}
		s.inTxn = true
	}
	for i := range b.Events {
		r := &b.Events[i]
		value := b.Data[r.Off : r.Off+r.Len]
		key, del, err := s.appendKey(nil, r, value)
		if err != nil {
			return s.fail(err)
		}
		s.dedupe = event.AppendDedupeKey(s.dedupe[:0], r.ServerID, r.Pos, r.Index)
		size := len(key) + len(value) + len(s.dedupe) + len(kafkaDedupeHeader)
		if size > s.cfg.MaxRecordBytes {
			return s.fail(fmt.Errorf("event of %s.%s with key %s is %d bytes, over max_record_bytes %d: raise max_record_bytes (and the topic's max.message.bytes) or shrink the row", r.Database, r.Table, string(r.Key), size, s.cfg.MaxRecordBytes))
		}
		topic := s.topic.name(r.Database, r.Table)
		s.produce(topic, key, value, bytes.Clone(s.dedupe), h)
		if del && s.cfg.Tombstones && key != nil && len(r.KeyColumns) > 0 {
			// Same key, so same partition; produced right after the
			// delete by one producer, so right after it there.
			s.produce(topic, key, nil, append(bytes.Clone(s.dedupe), kafkaTombstoneSuffix...), h)
		}
	}
	if len(b.Events) > 0 || b.Checkpoint != nil {
		s.partial = b.Checkpoint == nil && len(b.Events) > 0
	}
	if b.Checkpoint != nil {
		s.lastCP = b.Checkpoint
	}
	s.lastSeq = b.Seq
	return nil
}

// kafkaHold is a batch the sink holds until Kafka has acknowledged each of
// its records (their values are b.Data's bytes).
type kafkaHold struct {
	s    *KafkaSink
	b    *Batch
	size int
	left atomic.Int32 // records not yet acknowledged, and Write's own
}

// done drops one of h's references; the last releases the batch.
func (h *kafkaHold) done() {
	if h.left.Add(-1) == 0 {
		h.b.Release() // first: what is counted held includes every batch not released
		h.s.unhold(h.size)
	}
}

// waitRoom waits until a batch of size bytes fits under MaxBufferedBytes
// (or nothing is held) and counts it held.
func (s *KafkaSink) waitRoom(ctx context.Context, size int) error {
	for {
		if err := s.failed(); err != nil {
			return err
		}
		s.holdMu.Lock()
		if s.held == 0 || s.held+size <= s.cfg.MaxBufferedBytes {
			s.held += size
			s.holdMu.Unlock()
			return nil
		}
		changed := s.changed
		s.holdMu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("kafka sink: wait for Kafka to acknowledge buffered events: %w", ctx.Err())
		case <-s.ctx.Done():
			return fmt.Errorf("kafka sink: closed while waiting for Kafka to acknowledge buffered events: %w", context.Cause(s.ctx))
		}
	}
}

func (s *KafkaSink) unhold(size int) {
	s.holdMu.Lock()
	s.held -= size
	close(s.changed)
	s.changed = make(chan struct{})
	s.holdMu.Unlock()
}

// Buffered returns the capacity of the batches the sink holds (those with
// records Kafka has not acknowledged) and its cap, MaxBufferedBytes.
func (s *KafkaSink) Buffered() (held, capacity int) {
	s.holdMu.Lock()
	defer s.holdMu.Unlock()
	return s.held, s.cfg.MaxBufferedBytes
}

// produce produces one record into the open transaction; h (if any) is
// released by the record's acknowledgement.
func (s *KafkaSink) produce(topic string, key, value, dedupe []byte, h *kafkaHold) {
	rec := &kgo.Record{
		Topic:   topic,
		Key:     key,
		Value:   value,
		Headers: []kgo.RecordHeader{{Key: kafkaDedupeHeader, Value: dedupe}},
	}
	if s.epoch != nil {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: kafkaEpochHeader, Value: s.epoch})
	}
	s.pending.Add(1)
	s.records++
	if h == nil {
		s.client.Produce(s.ctx, rec, s.produced)
		return
	}
	h.left.Add(1)
	s.client.Produce(s.ctx, rec, func(r *kgo.Record, err error) {
		h.done() // before produced: once pending is done, so is every release
		s.produced(r, err)
	})
}

// kafkaDedupeHeader carries each record's dedupe key.
const kafkaDedupeHeader = "sluice.dedupe_key"

// kafkaTombstoneSuffix ends a tombstone's dedupe key: its delete's, so the
// two are told apart and a replay reproduces both.
const kafkaTombstoneSuffix = ":tombstone"

// kafkaEpochHeader carries the leadership term's epoch, in a cluster.
const kafkaEpochHeader = "sluice.epoch"

func (s *KafkaSink) produced(r *kgo.Record, err error) {
	defer s.pending.Done()
	if err != nil {
		s.fail(fmt.Errorf("produce to %s: %w", r.Topic, err))
	}
}

// fail records the first failure and returns err.
func (s *KafkaSink) fail(err error) error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	if s.err == nil {
		s.err = err
	}
	return err
}

func (s *KafkaSink) failed() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

// Sync implements Sink: when the last batch written ends at a transaction
// boundary, it writes that boundary's checkpoint record and commits the
// open transaction. It returns the last batch committed. force changes
// nothing: a transaction is committed at the first boundary either way.
func (s *KafkaSink) Sync(ctx context.Context, force bool) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failed(); err != nil {
		return s.acked, err
	}
	if s.partial {
		return s.acked, nil // the open transaction ends in a later batch
	}
	if s.records == 0 && string(s.lastCP) == string(s.commitd) {
		s.acked = s.lastSeq // nothing but empty batches since the last commit
		return s.acked, nil
	}
	if err := s.commitLocked(ctx, s.lastCP); err != nil {
		return s.acked, err
	}
	s.acked = s.lastSeq
	return s.acked, nil
}

// commitLocked writes cp (if any) as the checkpoint record and commits the
// open transaction (beginning one for cp alone if none is open).
func (s *KafkaSink) commitLocked(ctx context.Context, cp []byte) error {
	if !s.inTxn {
		if err := s.client.BeginTransaction(); err != nil {
			return s.fail(fmt.Errorf("begin kafka transaction: %w", err))
		}
		s.inTxn = true
	}
	if cp != nil && string(cp) != string(s.commitd) {
		s.pending.Add(1)
		s.client.Produce(s.ctx, &kgo.Record{Topic: s.cfg.CheckpointTopic, Key: []byte(s.cfg.Pipeline), Value: cp}, s.produced)
	}
	if err := s.client.Flush(ctx); err != nil {
		return fmt.Errorf("flush kafka transaction: %w", err) // ctx ended: retry later
	}
	s.pending.Wait()
	if err := s.failed(); err != nil {
		return err
	}
	if err := s.client.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return s.fail(fmt.Errorf("commit kafka transaction (transactional id %q): %w", s.cfg.TransactionalID, err))
	}
	s.inTxn = false
	s.records = 0
	if cp != nil {
		s.commitd = cp
	}
	return nil
}

// LastCommitted returns the checkpoint record this sink last committed
// (nil before its first commit).
func (s *KafkaSink) LastCommitted() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.commitd
}

// CommitCheckpoint commits record as the pipeline's checkpoint in a
// transaction of its own: for a checkpoint that covers no new event (the
// first one, where a pipeline begins). It refuses while a transaction with
// events is open, since its events are not covered by record.
func (s *KafkaSink) CommitCheckpoint(ctx context.Context, record []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.failed(); err != nil {
		return err
	}
	if s.records > 0 || s.partial {
		return errors.New("kafka checkpoint: a transaction with events is open; the checkpoint moves with it")
	}
	return s.commitLocked(ctx, record)
}

// Close implements Sink: an open transaction is aborted (nothing of it is
// seen by read_committed consumers) and the client closed. It first ends
// the produce context, so a Write blocked on a full buffer (brokers down)
// returns.
func (s *KafkaSink) Close() error {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	var err error
	if s.inTxn {
		// Abort, so read_committed consumers move on without waiting for
		// the transaction timeout. After a failure (fenced, most likely)
		// the broker aborts it or already has. Close has no caller's
		// context: the abort gets 5 s of its own.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if aerr := s.client.AbortBufferedRecords(ctx); aerr == nil {
			if eerr := s.client.EndTransaction(ctx, kgo.TryAbort); eerr != nil && s.failed() == nil && !Fenced(eerr) {
				err = fmt.Errorf("abort kafka transaction: %w", eerr)
			}
		}
		cancel()
		s.inTxn = false
	}
	s.client.Close() // fails what is still buffered: its batches are released
	return err
}

// Fenced reports whether err says a newer producer with the same
// transactional id has taken over: this process must stop writing.
func Fenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) || errors.Is(err, kerr.InvalidProducerIDMapping)
}

// appendKey appends r's record key in the configured form, and with
// Debezium events reports whether value (r's event) is a delete.
func (s *KafkaSink) appendKey(dst []byte, r *Ref, value []byte) (_ []byte, del bool, err error) {
	if s.cfg.Debezium {
		if s.cfg.Key == KafkaKeyDebezium {
			if s.dbzKeys == nil {
				s.dbzKeys = event.NewDebeziumKeys()
			}
			dst, del, err = s.dbzKeys.Append(dst, value, r.Database+"\x00"+r.Table, r.KeyColumns)
			if err != nil {
				return nil, false, fmt.Errorf("event of %s.%s: %w", r.Database, r.Table, err)
			}
			return dst, del, nil
		}
		// A delete's value ends with its op (Debezium.AppendRow writes
		// it last): only those are parsed to be sure.
		if s.cfg.Tombstones && (bytes.HasSuffix(value, []byte(`"op":"d"}`)) || bytes.HasSuffix(value, []byte(`"op":"d"}}`))) {
			if _, del, err = event.DebeziumKeyFromValue(nil, value, nil); err != nil {
				return nil, false, fmt.Errorf("event of %s.%s: %w", r.Database, r.Table, err)
			}
		}
	}
	dst, err = s.appendRefKey(dst, r)
	return dst, del, err
}

// appendRefKey appends r's record key in the configured form, from r.Key.
func (s *KafkaSink) appendRefKey(dst []byte, r *Ref) ([]byte, error) {
	var vals []json.RawMessage
	if len(r.Key) > 0 {
		if err := json.Unmarshal(r.Key, &vals); err != nil {
			return nil, fmt.Errorf("key of %s.%s %s: %w", r.Database, r.Table, r.Key, err)
		}
		if len(vals) != len(r.KeyColumns) {
			return nil, fmt.Errorf("key of %s.%s %s: %d values for key columns %v", r.Database, r.Table, r.Key, len(vals), r.KeyColumns)
		}
	}
	switch s.cfg.Key {
	case KafkaKeyDebezium:
		if len(vals) == 0 {
			return nil, nil
		}
		dst = append(dst, '{')
		for i, v := range vals {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, r.KeyColumns[i])
			dst = append(dst, ':')
			dst = append(dst, v...)
		}
		return append(dst, '}'), nil
	default:
		dst = append(dst, `{"database":`...)
		dst = appendJSONString(dst, r.Database)
		dst = append(dst, `,"table":`...)
		dst = appendJSONString(dst, r.Table)
		for i, v := range vals {
			dst = append(dst, ',')
			dst = appendJSONString(dst, "pk."+strings.ToLower(r.KeyColumns[i]))
			dst = append(dst, ':')
			dst = append(dst, v...)
		}
		return append(dst, '}'), nil
	}
}

func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s)
	return append(dst, b...)
}

// topicNamer expands the topic template, caching the last table's name.
type topicNamer struct {
	template              string
	lastDB, lastTable, nm string
}

func (t *topicNamer) name(db, table string) string {
	if !strings.Contains(t.template, "{") {
		return t.template
	}
	if db != t.lastDB || table != t.lastTable || t.nm == "" {
		t.lastDB, t.lastTable = db, table
		t.nm = strings.NewReplacer("{database}", db, "{table}", table).Replace(t.template)
	}
	return t.nm
}
