package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/pipeline"
)

// TestSinkFormatConfig: a sink's format key, and the lake (s3) kept in
// Maxwell's format, which the compactor reads, whatever output.format says.
func TestSinkFormatConfig(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		want       []pipeline.Format
		wantErr    string
	}{
		{"default", "sinks: [{type: file, path: a}]", []pipeline.Format{""}, ""},
		{"lake stays maxwell", "output: {format: debezium}\nsinks: [{type: s3, bucket: lake}, {type: stdout}]",
			[]pipeline.Format{pipeline.FormatMaxwell, ""}, ""},
		{"per sink", "sinks: [{type: file, path: a, format: debezium}, {type: file, path: b, format: maxwell}]",
			[]pipeline.Format{pipeline.FormatDebezium, pipeline.FormatMaxwell}, ""},
		{"lake in debezium on request", "sinks: [{type: s3, bucket: lake, format: debezium}]",
			[]pipeline.Format{pipeline.FormatDebezium}, ""},
		{"bad format", "sinks: [{type: file, path: a, format: avro}]", nil, "sinks[0].format avro: want maxwell or debezium"},
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
			if got := cfg.pipelineConfig(nil).SinkFormats; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("sink formats %q, want %q", got, tt.want)
			}
		})
	}
}
