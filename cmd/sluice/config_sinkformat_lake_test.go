//go:build lake

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCompactRefusesADebeziumLake: the compactor reads Maxwell lines, so a
// lake whose s3 sink was told to write Debezium is refused as a config
// error (exit 2), and the default lake is taken whatever output.format says.
func TestCompactRefusesADebeziumLake(t *testing.T) {
	for _, tt := range []struct{ yaml, wantErr string }{
		{"output: {format: debezium}\nsinks: [{type: s3, bucket: lake}]", ""},
		{"sinks: [{type: s3, bucket: lake, format: debezium}]", "the compactor reads Maxwell lines"},
	} {
		path := filepath.Join(t.TempDir(), "sluice.yaml")
		if err := os.WriteFile(path, []byte(tt.yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(path, func() []string { return nil })
		if err != nil {
			t.Fatal(err)
		}
		_, err = cfg.lake()
		var ce *configError
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: lake() error %v, want %q", tt.yaml, err, tt.wantErr)
		}
	}
}
