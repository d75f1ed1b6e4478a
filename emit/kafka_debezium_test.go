package emit

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/schema"
)

func dbzOrders() *schema.Table {
	return &schema.Table{
		Database: "shop", Name: "orders",
		Columns: []schema.Column{
			{Name: "id", Type: mysql.MYSQL_TYPE_LONG},
			{Name: "note", Type: mysql.MYSQL_TYPE_VARCHAR, Charset: "utf8mb4", Nullable: true},
		},
		PrimaryKey: []int{0},
	}
}

// debeziumBatch makes batch seq of rows, encoded as the pipeline encodes
// them in the Debezium format with opts, ending at a boundary.
func debeziumBatch(t *testing.T, seq uint64, opts event.DebeziumOptions, rows ...*event.Row) *Batch {
	t.Helper()
	d := event.NewDebeziumWith("main", opts)
	b := &Batch{Seq: seq}
	c := &event.Commit{Timestamp: 1700000000, Pos: event.Position{File: "bin.000001", Offset: seq*1000 + 999}}
	for i, r := range rows {
		r.Pos, r.Index = event.Position{File: "bin.000001", Offset: seq * 1000}, i
		row, split, err := d.AppendRow(nil, &event.Tx{ServerID: 1}, r)
		if err != nil {
			t.Fatal(err)
		}
		off := len(b.Data)
		b.Data = append(b.Data, row[:split]...)
		b.Data = d.AppendCommit(b.Data, c, i, i == len(rows)-1)
		b.Data = append(b.Data, row[split:]...)
		b.Data = append(b.Data, '\n')
		key, err := event.NewKeys().AppendKey(nil, r)
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for _, k := range r.Table.PrimaryKey {
			cols = append(cols, r.Table.Columns[k].Name)
		}
		b.Events = append(b.Events, Ref{Off: off, Len: len(b.Data) - off - 1, Database: r.Table.Database, Table: r.Table.Name,
			Key: key, KeyColumns: cols, Pos: r.Pos, Index: i, ServerID: 1, Commit: c.Pos})
	}
	b.Checkpoint, _ = checkpoint.Encode(&checkpoint.Checkpoint{Pipeline: "main", Position: c.Pos, ServerID: 1})
	return b
}

// readRecords reads every committed record of topic, in each partition's
// order.
func readRecords(t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for idle := 0; idle < 3; {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) { n++; recs = append(recs, r) })
		if n == 0 {
			idle++
		}
	}
	return recs
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// TestKafkaDebeziumTombstones: with tombstones, each delete of a keyed row
// is followed in its partition, in the same committed transaction, by a
// record with the same key, a null value and the delete's dedupe key with
// ":tombstone"; a keyless row's delete gets none. Without tombstones no
// record has a null value. With Maxwell's key the tombstones carry it.
func TestKafkaDebeziumTombstones(t *testing.T) {
	tbl := dbzOrders()
	keyless := &schema.Table{Database: "shop", Name: "orders", Columns: tbl.Columns}
	rows := func() []*event.Row {
		return []*event.Row{
			{Table: tbl, Type: event.Insert, After: []any{int32(1), "a"}},
			{Table: tbl, Type: event.Insert, After: []any{int32(2), "b"}},
			{Table: tbl, Type: event.Delete, Before: []any{int32(1), "a"}},
			{Table: tbl, Type: event.Update, Before: []any{int32(2), "b"}, After: []any{int32(2), "c"}},
			{Table: tbl, Type: event.Delete, Before: []any{int32(2), "c"}},
			{Table: keyless, Type: event.Delete, Before: []any{int32(3), "k"}},
		}
	}
	for _, v := range []struct {
		key        KafkaKey
		tombstones bool
	}{{KafkaKeyDebezium, true}, {KafkaKeyDebezium, false}, {KafkaKeyMaxwell, true}} {
		tombstones := v.tombstones
		keyOf := func(id int) string {
			if v.key == KafkaKeyMaxwell {
				return fmt.Sprintf(`{"database":"shop","table":"orders","pk.id":%d}`, id)
			}
			return fmt.Sprintf(`{"id":%d}`, id)
		}
		keylessKey := ""
		if v.key == KafkaKeyMaxwell {
			keylessKey = `{"database":"shop","table":"orders"}`
		}
		c := newKfake(t)
		cfg := kafkaTestConfig(c.ListenAddrs())
		cfg.Key, cfg.Debezium, cfg.Tombstones = v.key, true, tombstones
		s := openKafka(t, cfg)
		ctx := context.Background()
		if err := s.Write(ctx, debeziumBatch(t, 1, event.DefaultDebeziumOptions(), rows()...)); err != nil {
			t.Fatal(err)
		}
		if seq, err := s.Sync(ctx, false); err != nil || seq != 1 {
			t.Fatalf("Sync = %d, %v", seq, err)
		}
		recs := readRecords(t, c.ListenAddrs(), "shop.orders")
		if !tombstones {
			if len(recs) != 6 {
				t.Fatalf("tombstones off: read %d records, want the 6 events", len(recs))
			}
			for _, r := range recs {
				if r.Value == nil {
					t.Fatalf("tombstones off: a record with a null value (key %s)", r.Key)
				}
			}
			continue
		}
		if len(recs) != 8 {
			t.Fatalf("read %d records, want 6 events and 2 tombstones", len(recs))
		}
		byPart := map[int32][]*kgo.Record{}
		for _, r := range recs {
			byPart[r.Partition] = append(byPart[r.Partition], r)
		}
		// Each key's records, in partition order.
		perKey := map[string][]*kgo.Record{}
		parts := map[string]int32{}
		tombs := 0
		for p, rs := range byPart {
			for i, r := range rs {
				k := string(r.Key)
				if q, ok := parts[k]; ok && q != p {
					t.Fatalf("key %s in partitions %d and %d", k, q, p)
				}
				parts[k] = p
				perKey[k] = append(perKey[k], r)
				if r.Value != nil {
					continue
				}
				tombs++
				if i == 0 || !bytes.HasSuffix(rs[i-1].Value, []byte(`"op":"d"}`)) || !bytes.Equal(rs[i-1].Key, r.Key) {
					t.Fatalf("tombstone of key %s is not right after its delete in partition %d", r.Key, p)
				}
				if got, want := header(r, kafkaDedupeHeader), header(rs[i-1], kafkaDedupeHeader)+":tombstone"; got != want {
					t.Errorf("tombstone dedupe key %q, want %q", got, want)
				}
			}
		}
		if tombs != 2 {
			t.Fatalf("%d tombstones, want 2 (none for the keyless row)", tombs)
		}
		for k, want := range map[string]int{keyOf(1): 3, keyOf(2): 4} {
			rs := perKey[k]
			if len(rs) != want || rs[len(rs)-1].Value != nil {
				t.Errorf("key %s: %d records ending with value %q; want %d ending with a tombstone", k, len(rs), rs[len(rs)-1].Value, want)
			}
		}
		if rs := perKey[keylessKey]; len(rs) != 1 || rs[0].Value == nil {
			t.Errorf("keyless rows: %d records, want the delete alone", len(rs))
		}
	}
}

// TestKafkaDebeziumKeyGolden: the record key of a Debezium event is the
// key document, in both schema modes equal to the golden bytes and to
// event.AppendDebeziumKey's for the row.
func TestKafkaDebeziumKeyGolden(t *testing.T) {
	tbl := &schema.Table{
		Database: "shop", Name: "lines",
		Columns: []schema.Column{
			{Name: "Order_ID", Type: mysql.MYSQL_TYPE_LONGLONG, Unsigned: true},
			{Name: "day", Type: mysql.MYSQL_TYPE_DATE},
			{Name: "note", Type: mysql.MYSQL_TYPE_VARCHAR, Charset: "utf8mb4", Nullable: true},
		},
		PrimaryKey: []int{0, 1},
	}
	row := &event.Row{Table: tbl, Type: event.Update, Before: []any{uint64(7), "2024-01-02", "a"}, After: []any{uint64(7), "2024-01-02", "b"}}
	for _, tt := range []struct {
		schemas bool
		golden  string
	}{{false, "kafka-debezium-key.json"}, {true, "kafka-debezium-key-schema.json"}} {
		opts := event.DefaultDebeziumOptions()
		opts.SchemasEnable = tt.schemas
		b := debeziumBatch(t, 1, opts, row)
		s := &KafkaSink{cfg: KafkaConfig{Key: KafkaKeyDebezium, Debezium: true}}
		r := &b.Events[0]
		got, del, err := s.appendKey(nil, r, b.Data[r.Off:r.Off+r.Len])
		if err != nil || del {
			t.Fatalf("schemas=%v: %v, delete %v", tt.schemas, err, del)
		}
		want, err := os.ReadFile(filepath.Join("testdata", tt.golden))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, bytes.TrimRight(want, "\n")) {
			t.Errorf("schemas=%v: key\n%s\nwant (testdata/%s)\n%s", tt.schemas, got, tt.golden, want)
		}
		dbz, err := event.AppendDebeziumKey(nil, "main", row, opts)
		if err != nil || !bytes.Equal(got, dbz) {
			t.Errorf("schemas=%v: key %s, AppendDebeziumKey %s (%v)", tt.schemas, got, dbz, err)
		}
	}
}
