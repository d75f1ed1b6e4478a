package emit

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/event"
)

func newKfake(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(4)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func kafkaTestConfig(brokers []string) KafkaConfig {
	c := DefaultKafkaConfig()
	c.Brokers = brokers
	c.Pipeline, c.TransactionalID = "main", "main"
	c.RequestTimeout = 10 * time.Second
	c.extraOpts = []kgo.Opt{kgo.MetadataMinAge(50 * time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond })}
	return c
}

func openKafka(t *testing.T, cfg KafkaConfig) *KafkaSink {
	t.Helper()
	s, err := NewKafkaSink(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if _, err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// kafkaBatch makes batch seq with one event per (key, n) pair of table
// shop.orders, each value {"id":key,"n":n}, ending at a boundary at
// binlog offset seq*1000.
func kafkaBatch(seq uint64, rows [][2]int) *Batch {
	b := &Batch{Seq: seq}
	for i, r := range rows {
		off := len(b.Data)
		b.Data = fmt.Appendf(b.Data, `{"id":%d,"n":%d}`+"\n", r[0], r[1])
		b.Events = append(b.Events, Ref{
			Off: off, Len: len(b.Data) - off - 1, Database: "shop", Table: "orders",
			Key: fmt.Appendf(nil, "[%d]", r[0]), KeyColumns: []string{"id"},
			Pos: event.Position{File: "bin.000001", Offset: seq*1000 + uint64(i)}, Index: i, ServerID: 1,
		})
	}
	b.Checkpoint, _ = checkpoint.Encode(&checkpoint.Checkpoint{Pipeline: "main", Position: event.Position{File: "bin.000001", Offset: seq * 1000}, ServerID: 1})
	return b
}

type kafkaRow struct {
	ID, N int
	Key   string
	Part  int32
}

// readCommitted reads every committed record of topic.
func readCommitted(t *testing.T, brokers []string, topic string) []kafkaRow {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var rows []kafkaRow
	for idle := 0; idle < 3; {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			var v struct{ ID, N int }
			if err := json.Unmarshal(r.Value, &v); err != nil {
				t.Fatalf("record %s: %v", r.Value, err)
			}
			rows = append(rows, kafkaRow{ID: v.ID, N: v.N, Key: string(r.Key), Part: r.Partition})
		})
		if n == 0 {
			idle++
		}
	}
	return rows
}

// TestKafkaOrderUnderProduceErrors: with produce requests failing now and
// then (retriable errors the idempotent producer retries), a
// read_committed consumer sees every event once, each key's events in
// order and in one partition; the checkpoint record is the last boundary.
func TestKafkaOrderUnderProduceErrors(t *testing.T) {
	c := newKfake(t)
	var produces, injected atomic.Int32
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		if produces.Add(1)%3 != 0 {
			return nil, nil, false
		}
		injected.Add(1)
		resp := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, rt := range pr.Topics {
			st := kmsg.NewProduceResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewProduceResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.NotLeaderForPartition.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	cfg := kafkaTestConfig(c.ListenAddrs())
	s := openKafka(t, cfg)
	ctx := context.Background()
	const keys, batches, perBatch = 10, 40, 25
	n := 0
	var acked uint64
	for seq := uint64(1); seq <= batches; seq++ {
		var rows [][2]int
		for range perBatch {
			rows = append(rows, [2]int{n % keys, n})
			n++
		}
		if err := s.Write(ctx, kafkaBatch(seq, rows)); err != nil {
			t.Fatal(err)
		}
		if seq%4 == 0 {
			var err error
			if acked, err = s.Sync(ctx, false); err != nil {
				t.Fatal(err)
			}
			if acked != seq {
				t.Fatalf("Sync after batch %d acknowledged %d", seq, acked)
			}
		}
	}
	if injected.Load() == 0 {
		t.Fatal("no produce error was injected")
	}
	rows := readCommitted(t, c.ListenAddrs(), "shop.orders")
	if len(rows) != batches*perBatch {
		t.Fatalf("read %d records, want %d exactly once", len(rows), batches*perBatch)
	}
	last := map[int]int{}
	part := map[int]int32{}
	for _, r := range rows {
		if p, ok := part[r.ID]; ok && p != r.Part {
			t.Fatalf("key %d in partitions %d and %d", r.ID, p, r.Part)
		}
		part[r.ID] = r.Part
		if prev, ok := last[r.ID]; ok && r.N <= prev {
			t.Fatalf("key %d: n %d after %d: out of order or repeated", r.ID, r.N, prev)
		}
		last[r.ID] = r.N
		if want := fmt.Sprintf(`{"database":"shop","table":"orders","pk.id":%d}`, r.ID); r.Key != want {
			t.Fatalf("key %s, want %s", r.Key, want)
		}
	}
	opts, _ := cfg.ClientOpts()
	cp, err := checkpoint.NewKafkaStore(opts, cfg.CheckpointTopic, "main", nil).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Position.Offset != batches*1000 {
		t.Fatalf("checkpoint at %s, want offset %d", cp.Position, batches*1000)
	}
	t.Logf("%d produce requests, %d failed", produces.Load(), injected.Load())
}

// TestKafkaFencedZombie: once a second producer claims the transactional
// id, the first one's commit fails with a fencing error the pipeline
// halts on, its open transaction is not seen, and the checkpoint stays at
// its last commit.
func TestKafkaFencedZombie(t *testing.T) {
	c := newKfake(t)
	cfg := kafkaTestConfig(c.ListenAddrs())
	ctx := context.Background()
	old := openKafka(t, cfg)
	if err := old.Write(ctx, kafkaBatch(1, [][2]int{{1, 1}, {2, 2}})); err != nil {
		t.Fatal(err)
	}
	if seq, err := old.Sync(ctx, false); err != nil || seq != 1 {
		t.Fatalf("Sync = %d, %v", seq, err)
	}
	if err := old.Write(ctx, kafkaBatch(2, [][2]int{{1, 3}, {3, 4}})); err != nil {
		t.Fatal(err)
	}
	openKafka(t, cfg) // the new leader: InitProducerID fences old
	seq, err := old.Sync(ctx, false)
	if err == nil {
		t.Fatal("the fenced producer's commit succeeded")
	}
	if !Fenced(err) || !checkpoint.Permanent(err) {
		t.Fatalf("Sync error %v: want a fencing error that halts the pipeline", err)
	}
	if seq != 1 {
		t.Fatalf("fenced Sync acknowledged %d, want 1", seq)
	}
	if err := old.Write(ctx, kafkaBatch(3, [][2]int{{5, 5}})); err == nil {
		t.Fatal("the fenced producer accepted another batch")
	}
	rows := readCommitted(t, c.ListenAddrs(), "shop.orders")
	if len(rows) != 2 || rows[0].N+rows[1].N != 3 {
		t.Fatalf("read %+v, want the first batch's two rows only", rows)
	}
	opts, _ := cfg.ClientOpts()
	cp, err := checkpoint.NewKafkaStore(opts, cfg.CheckpointTopic, "main", nil).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cp.Position.Offset != 1000 {
		t.Fatalf("checkpoint moved to %s by the fenced producer", cp.Position)
	}
}

// TestKafkaPartialTransaction: a batch that ends inside a transaction is
// not committed until the batch that ends it is written.
func TestKafkaPartialTransaction(t *testing.T) {
	c := newKfake(t)
	cfg := kafkaTestConfig(c.ListenAddrs())
	ctx := context.Background()
	s := openKafka(t, cfg)
	b1 := kafkaBatch(1, [][2]int{{1, 1}})
	b2 := kafkaBatch(2, [][2]int{{1, 2}})
	b2.Checkpoint = nil // the transaction goes on in batch 3
	b3 := kafkaBatch(3, [][2]int{{1, 3}})
	for _, b := range []*Batch{b1, b2} {
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	if seq, err := s.Sync(ctx, true); err != nil || seq != 0 {
		t.Fatalf("Sync inside a transaction = %d, %v; want 0 (nothing committed)", seq, err)
	}
	if rows := readCommitted(t, c.ListenAddrs(), "shop.orders"); len(rows) != 0 {
		t.Fatalf("read %+v before the transaction ended", rows)
	}
	if err := s.Write(ctx, b3); err != nil {
		t.Fatal(err)
	}
	if seq, err := s.Sync(ctx, false); err != nil || seq != 3 {
		t.Fatalf("Sync = %d, %v; want 3", seq, err)
	}
	if rows := readCommitted(t, c.ListenAddrs(), "shop.orders"); len(rows) != 3 {
		t.Fatalf("read %+v, want 3 rows", rows)
	}
}

func TestKafkaKeysAndTopics(t *testing.T) {
	ref := Ref{Database: "shop", Table: "lines", Key: []byte(`[7,"2024-01-02"]`), KeyColumns: []string{"Order_ID", "day"}}
	keyless := Ref{Database: "shop", Table: "log"}
	tests := []struct {
		key     KafkaKey
		r       Ref
		want    string
		wantNil bool
	}{
		{KafkaKeyMaxwell, ref, `{"database":"shop","table":"lines","pk.order_id":7,"pk.day":"2024-01-02"}`, false},
		{KafkaKeyDebezium, ref, `{"Order_ID":7,"day":"2024-01-02"}`, false},
		{KafkaKeyMaxwell, keyless, `{"database":"shop","table":"log"}`, false},
		{KafkaKeyDebezium, keyless, ``, true},
	}
	for _, tt := range tests {
		s := &KafkaSink{cfg: KafkaConfig{Key: tt.key}}
		got, err := s.appendRefKey(nil, &tt.r)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want || (got == nil) != tt.wantNil {
			t.Errorf("%s key of %s: got %q, want %q", tt.key, tt.r.Table, got, tt.want)
		}
	}
	tn := topicNamer{template: "cdc.{database}.{table}"}
	if got := tn.name("shop", "orders"); got != "cdc.shop.orders" {
		t.Errorf("topic %q", got)
	}
	one := topicNamer{template: "events"}
	if got := one.name("shop", "orders"); got != "events" {
		t.Errorf("topic %q", got)
	}
}

// TestKafkaLargeEventRefused: an event over max_record_bytes halts with
// its table and key named, and nothing of the transaction is committed.
func TestKafkaLargeEventRefused(t *testing.T) {
	c := newKfake(t)
	cfg := kafkaTestConfig(c.ListenAddrs())
	cfg.MaxRecordBytes = 1024
	s := openKafka(t, cfg)
	ctx := context.Background()
	b := kafkaBatch(1, [][2]int{{1, 1}})
	big := kafkaBatch(2, [][2]int{{42, 2}})
	big.Data = append(big.Data[:len(big.Data)-2], []byte(`,"pad":"`+strings.Repeat("x", 2000)+`"}`+"\n")...)
	big.Events[0].Len = len(big.Data) - 1
	if err := s.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	err := s.Write(ctx, big)
	if err == nil || !strings.Contains(err.Error(), "shop.orders") || !strings.Contains(err.Error(), "[42]") {
		t.Fatalf("Write of a large event: %v; want an error naming shop.orders and key [42]", err)
	}
	if _, err := s.Sync(ctx, true); err == nil {
		t.Fatal("Sync after a refused event succeeded")
	}
	_ = s.Close()
	if rows := readCommitted(t, c.ListenAddrs(), "shop.orders"); len(rows) != 0 {
		t.Fatalf("read %+v, want nothing committed", rows)
	}
}

// TestKafkaBadSettings: bad brokers or TLS settings fail at start with an
// error that says what to check, before anything is written.
func TestKafkaBadSettings(t *testing.T) {
	c := newKfake(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	check := func(cfg KafkaConfig) error {
		s, err := NewKafkaSink(cfg, nil)
		if err != nil {
			return err
		}
		defer s.Close()
		_, err = s.Check(context.Background())
		return err
	}
	short := func(brokers ...string) KafkaConfig {
		cfg := kafkaTestConfig(brokers)
		cfg.RequestTimeout, cfg.DialTimeout = 3*time.Second, time.Second
		return cfg
	}
	noBroker := short(closed)
	tlsToPlain := short(c.ListenAddrs()...)
	tlsToPlain.TLS.Enabled = true
	missingCA := short(c.ListenAddrs()...)
	missingCA.TLS = KafkaTLS{Enabled: true, CAFile: "/nonexistent/ca.pem"}
	tlsOff := short(c.ListenAddrs()...)
	tlsOff.TLS.CAFile = "ca.pem"
	badSASL := short(c.ListenAddrs()...)
	badSASL.SASL.Mechanism = "GSSAPI"
	noBrokers := short()
	badTopic := short(c.ListenAddrs()...)
	badTopic.Topic = "{schema}.{table}"
	tests := []struct {
		name string
		cfg  KafkaConfig
		want string
	}{
		{"unreachable broker", noBroker, "reach kafka brokers"},
		{"tls to a plaintext broker", tlsToPlain, "reach kafka brokers"},
		{"missing ca file", missingCA, "tls ca_file"},
		{"tls settings without tls", tlsOff, "tls.enabled"},
		{"unknown sasl", badSASL, "sasl mechanism"},
		{"no brokers", noBrokers, "brokers"},
		{"bad template", badTopic, "placeholders"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := check(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if rows := readCommitted(t, c.ListenAddrs(), DefaultCheckpointTopic); len(rows) != 0 {
		t.Fatal("a refused start wrote a checkpoint")
	}
}

// TestKafkaLargeTransactionBounded: a source transaction far larger than
// max_buffered_bytes is produced into its open Kafka transaction as it
// comes: after every Write the batches not yet released fit in the cap
// (each is released once Kafka acknowledged its records, not at the
// commit), Buffered counts them, and the commit at the end delivers every
// record once, in order.
func TestKafkaLargeTransactionBounded(t *testing.T) {
	c := newKfake(t)
	cfg := kafkaTestConfig(c.ListenAddrs())
	cfg.MaxBufferedBytes = 1 << 20
	s := openKafka(t, cfg)
	ctx := context.Background()
	const batches, perBatch = 48, 64
	pad := strings.Repeat("x", 2000)
	var released atomic.Int64
	var batchCap int
	n := 0
	for seq := uint64(1); seq <= batches; seq++ {
		var rows [][2]int
		for range perBatch {
			rows = append(rows, [2]int{n % 7, n})
			n++
		}
		b := kafkaBatch(seq, rows)
		// Pad each value: {"id":…,"n":…,"pad":"xx…"}.
		var data []byte
		for i := range b.Events {
			r := &b.Events[i]
			line := b.Data[r.Off : r.Off+r.Len]
			off := len(data)
			data = append(data, line[:len(line)-1]...)
			data = append(data, `,"pad":"`+pad+`"}`...)
			r.Off, r.Len = off, len(data)-off
			data = append(data, '\n')
		}
		b.Data = data
		if seq < batches {
			b.Checkpoint = nil // one source transaction: only its last batch ends at a boundary
		}
		b.Hold(1, func(*Batch) { released.Add(1) })
		batchCap = cap(b.Data)
		if err := s.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		held, capacity := s.Buffered()
		if capacity != cfg.MaxBufferedBytes || held > capacity {
			t.Fatalf("after batch %d: Buffered = %d of %d", seq, held, capacity)
		}
		if unreleased := int(seq) - int(released.Load()); unreleased*batchCap > cfg.MaxBufferedBytes {
			t.Fatalf("after batch %d: %d batches of %d bytes not released, over max_buffered_bytes %d", seq, unreleased, batchCap, cfg.MaxBufferedBytes)
		}
		if seq < batches {
			if acked, err := s.Sync(ctx, false); err != nil || acked != 0 {
				t.Fatalf("Sync inside the transaction = %d, %v: want 0 (nothing committed)", acked, err)
			}
		}
	}
	if batches*batchCap < 4*cfg.MaxBufferedBytes {
		t.Fatalf("the transaction (%d bytes) is not much larger than the cap", batches*batchCap)
	}
	if acked, err := s.Sync(ctx, false); err != nil || acked != batches {
		t.Fatalf("Sync at the boundary = %d, %v", acked, err)
	}
	if got := released.Load(); got != batches {
		t.Fatalf("%d batches released after the commit, want %d", got, batches)
	}
	if held, _ := s.Buffered(); held != 0 {
		t.Fatalf("Buffered = %d after the commit", held)
	}
	rows := readCommitted(t, c.ListenAddrs(), "shop.orders")
	if len(rows) != batches*perBatch {
		t.Fatalf("read %d records, want %d", len(rows), batches*perBatch)
	}
	last := map[int]int{}
	for _, r := range rows {
		if prev, ok := last[r.ID]; ok && r.N <= prev {
			t.Fatalf("key %d: n %d after %d", r.ID, r.N, prev)
		}
		last[r.ID] = r.N
	}
}
