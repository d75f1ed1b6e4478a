package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
