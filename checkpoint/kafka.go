package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// KafkaWriter is the Kafka sink as the Kafka store uses it: the
// transactional producer that commits checkpoint records with the events
// they cover.
type KafkaWriter interface {
	// Check claims the transactional id (fencing any older producer, and
	// aborting what it left open) and returns the producer epoch.
	Check(ctx context.Context) (int16, error)
	// LastCommitted returns the checkpoint record last committed by this
	// process, nil before the first.
	LastCommitted() []byte
	// CommitCheckpoint commits a checkpoint record in a transaction of
	// its own.
	CommitCheckpoint(ctx context.Context, record []byte) error
}

// KafkaStore keeps a pipeline's checkpoint in Kafka: the last record keyed
// by the pipeline's name in a compacted, single-partition topic, written by
// the Kafka sink in the same transaction as the events it covers, and read
// with isolation.level=read_committed. A Kafka-only deployment needs no
// other store.
//
// Acquire claims the transactional id, which fences the previous process
// and aborts its open transaction, so the Load after it reads the final
// committed position.
type KafkaStore struct {
	opts     []kgo.Opt
	topic    string
	pipeline string
	w        KafkaWriter
	// idle is how long Load waits for more records once none come.
	idle time.Duration
}

var _ FencingStore = (*KafkaStore)(nil)

// NewKafkaStore returns the store of pipeline in topic, reading with a
// client built from opts (brokers, TLS, SASL). w writes; nil for a store
// that only loads (sluice checkpoint show).
func NewKafkaStore(opts []kgo.Opt, topic, pipeline string, w KafkaWriter) *KafkaStore {
	return &KafkaStore{opts: opts, topic: topic, pipeline: pipeline, w: w, idle: 500 * time.Millisecond}
}

// Acquire implements FencingStore with Kafka's producer fencing: the epoch
// is the producer epoch InitProducerID gave this process.
func (s *KafkaStore) Acquire(ctx context.Context, owner string) (uint64, error) {
	if s.w == nil {
		return 0, errors.New("kafka checkpoint store opened read-only")
	}
	epoch, err := s.w.Check(ctx)
	if err != nil {
		return 0, err
	}
	return uint64(epoch), nil
}

// Load implements Store: it reads the topic up to its last stable offset.
func (s *KafkaStore) Load(ctx context.Context) (*Checkpoint, error) {
	cl, err := kgo.NewClient(append(s.opts[:len(s.opts):len(s.opts)],
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.topic: {0: kgo.NewOffset().AtStart()}}),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafka checkpoint client: %w", err)
	}
	defer cl.Close()
	end, err := s.stableEnd(ctx, cl)
	if err != nil {
		return nil, err
	}
	if end == 0 {
		return nil, ErrNotFound
	}
	var last []byte
	var seen int64 = -1
	for seen+1 < end {
		pctx, cancel := context.WithTimeout(ctx, s.idle)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("read kafka checkpoint topic %s: %w", s.topic, err)
		}
		n := 0
		for _, fe := range fs.Errors() {
			if !errors.Is(fe.Err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("read kafka checkpoint topic %s: %w", s.topic, fe.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			if r.Offset >= end {
				return // committed after Load began
			}
			seen = r.Offset
			if string(r.Key) == s.pipeline {
				last = r.Value
			}
		})
		if n == 0 {
			break // only control records (and aborted ones) are left
		}
	}
	if last == nil {
		return nil, ErrNotFound
	}
	cp, err := Decode(last)
	if err != nil {
		return nil, fmt.Errorf("kafka checkpoint topic %s, key %s: %w", s.topic, s.pipeline, err)
	}
	return cp, nil
}

// stableEnd returns the checkpoint partition's last stable offset: every
// transaction before it is committed or aborted. A missing topic is 0.
func (s *KafkaStore) stableEnd(ctx context.Context, cl *kgo.Client) (int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = 1 // read_committed: the last stable offset
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = s.topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = 0
	rp.Timestamp = -1 // the end
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, fmt.Errorf("kafka checkpoint topic %s: list offsets: %w", s.topic, err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				if errors.Is(err, kerr.UnknownTopicOrPartition) {
					return 0, nil
				}
				return 0, fmt.Errorf("kafka checkpoint topic %s: list offsets: %w", s.topic, err)
			}
			return p.Offset, nil
		}
	}
	return 0, fmt.Errorf("kafka checkpoint topic %s: list offsets: no partition 0 in the answer", s.topic)
}

// Save implements Store. A checkpoint the sink already committed with its
// events (or one before it) needs no write; a later one (where a pipeline
// begins, before any event) is committed in a transaction of its own.
func (s *KafkaStore) Save(ctx context.Context, cp *Checkpoint) error {
	if s.w == nil {
		return errors.New("kafka checkpoint store opened read-only")
	}
	if last := s.w.LastCommitted(); last != nil {
		lc, err := Decode(last)
		if err != nil {
			return err
		}
		// The sink's record comes from the encoder's boundary, which
		// knows nothing of the filter or the history: a save that adds
		// them is written even at the same position.
		if c := Compare(cp, lc); c < 0 || c == 0 && cp.Filter == lc.Filter && historyEqual(cp.History, lc.History) {
			return nil
		}
	}
	rec, err := Encode(cp)
	if err != nil {
		return err
	}
	if err := s.w.CommitCheckpoint(ctx, rec); err != nil {
		return fmt.Errorf("kafka checkpoint topic %s: %w", s.topic, err)
	}
	return nil
}

// kafkaFenced reports Kafka's zombie fencing: a newer producer holds the
// pipeline's transactional id.
func kafkaFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch) ||
		errors.Is(err, kerr.TransactionalIDAuthorizationFailed) || errors.Is(err, kerr.InvalidProducerIDMapping)
}

// historyEqual reports whether two checkpoint histories hold the same
// changes.
func historyEqual(a, b []Change) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].At.Equal(b[i].At) || a[i].What != b[i].What || a[i].From != b[i].From || a[i].To != b[i].To {
			return false
		}
	}
	return true
}
