package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/emit"
)

// TestKafkaDebeziumKeyConfig: the Kafka sink's key and tombstones follow
// the sink's format and output.debezium.key / tombstones; a sink key: that
// contradicts output.debezium.key is a config error naming the fix.
func TestKafkaDebeziumKeyConfig(t *testing.T) {
	const sink = "sinks: [{type: kafka, brokers: [127.0.0.1:9092]"
	for _, tt := range []struct {
		name, yaml string
		key        emit.KafkaKey
		dbz, tomb  bool
		wantErr    string
	}{
		{"maxwell", sink + "}]", emit.KafkaKeyMaxwell, false, false, ""},
		{"maxwell, debezium key", sink + ", key: debezium}]", emit.KafkaKeyDebezium, false, false, ""},
		{"debezium defaults", "output: {format: debezium}\n" + sink + "}]", emit.KafkaKeyDebezium, true, true, ""},
		{"sink format debezium", sink + ", format: debezium}]", emit.KafkaKeyDebezium, true, true, ""},
		{"key and tombstones off", "output: {format: debezium, debezium: {key: false, tombstones: false}}\n" + sink + "}]", emit.KafkaKeyMaxwell, true, false, ""},
		{"same key twice", "output: {format: debezium}\n" + sink + ", key: debezium}]", emit.KafkaKeyDebezium, true, true, ""},
		{"contradiction", "output: {format: debezium}\n" + sink + ", key: maxwell}]", "", false, false, "sinks[0]: kafka sink key: maxwell contradicts output.debezium.key: true"},
		{"contradiction off", "output: {format: debezium, debezium: {key: false}}\n" + sink + ", key: debezium}]", "", false, false, "contradicts output.debezium.key: false"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sluice.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg, err := loadConfig(path, func() []string { return nil })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			ec, err := cfg.kafkaConfig(context.Background(), cfg.kafkaSinkSpec())
			if err != nil {
				t.Fatal(err)
			}
			if ec.Key != tt.key || ec.Debezium != tt.dbz || ec.Tombstones != tt.tomb {
				t.Errorf("key %s, debezium %v, tombstones %v; want %s, %v, %v", ec.Key, ec.Debezium, ec.Tombstones, tt.key, tt.dbz, tt.tomb)
			}
		})
	}
}

// TestKafkaDebeziumTombstoneThroughBinary: `sluice run` with Debezium
// events and schemas against a real server and kfake: the delete of a row
// is followed, under read_committed, by its tombstone in the same
// partition; both are keyed by Debezium's key document with its schema.
func TestKafkaDebeziumTombstoneThroughBinary(t *testing.T) {
	r := newKafkaRig(t)
	b, err := os.ReadFile(r.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b) + "output: {format: debezium, debezium: {schemas_enable: true}}\n"
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	r.src.Exec(t, "INSERT INTO shop.orders VALUES (1, 10), (2, 20)", "UPDATE shop.orders SET n = 11 WHERE id = 1", "DELETE FROM shop.orders WHERE id = 1")
	if res := sluice(t, nil, "run", "--exit-when-caught-up", "--config", r.cfg); res.code != 0 {
		t.Fatalf("sluice run: exit %d\n%s", res.code, res.stderr)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.kafka.ListenAddrs()...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics("shop.orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	byPart := map[int32][]*kgo.Record{}
	for idle := 0; idle < 4; {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(rec *kgo.Record) { n++; byPart[rec.Partition] = append(byPart[rec.Partition], rec) })
		if n == 0 {
			idle++
		}
	}
	const key1 = `{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"kafkatest.shop.orders.Key"},"payload":{"id":1}}`
	var ops []string
	for _, rs := range byPart {
		for i, rec := range rs {
			if string(rec.Key) != key1 {
				continue
			}
			if rec.Value == nil {
				ops = append(ops, "tombstone")
				if i == 0 || !strings.HasSuffix(string(rs[i-1].Value), `"op":"d"}}`) {
					t.Errorf("the tombstone does not follow the delete in its partition")
				}
				continue
			}
			var v struct{ Payload struct{ Op string } }
			if err := json.Unmarshal(rec.Value, &v); err != nil {
				t.Fatalf("record %s: %v", rec.Value, err)
			}
			ops = append(ops, v.Payload.Op)
		}
	}
	if got := strings.Join(ops, ","); got != "c,u,d,tombstone" {
		t.Fatalf("records keyed %s: %s; want c,u,d,tombstone", key1, got)
	}
}
