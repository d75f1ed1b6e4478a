package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
)

// TestMemoryLimitFromCaps: the runtime's limit is derived from the
// configured caps (sinks' max_buffered_bytes, Kafka's included, the transaction held in
// memory, batches), and GOMEMLIMIT, when set, wins.
func TestMemoryLimitFromCaps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sluice.yaml")
	yaml := `source: {host: 127.0.0.1, port: 3306, user: u, server_id: 9}
checkpoint: {dir: ` + dir + `}
sinks:
  - type: s3
    bucket: b
    max_buffered_bytes: 100000000
  - type: kinesis
    stream: s
    max_buffered_bytes: 30000000
  - type: kafka
    brokers: [k:9092]
    max_buffered_bytes: 20000000
  - type: file
    path: ` + filepath.Join(dir, "out") + `
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(path, func() []string { return nil })
	if err != nil {
		t.Fatal(err)
	}
	pc := cfg.pipelineConfig(nil)
	caps := cfg.memoryCaps(pc)
	want := int64(100000000+30000000+20000000) + int64(pc.TxMemoryBytes) + 4*int64(pc.BatchBytes)
	if caps != want {
		t.Fatalf("caps %d, want %d", caps, want)
	}
	if got := memoryLimit(caps); got != caps+caps/8+memoryBase || got > caps*3/2+48<<20-unmanagedRoom {
		t.Fatalf("limit %d for caps %d", got, caps)
	}

	// Small caps: the limit keeps room under the target instead of the
	// whole base (8 MiB: the file sink's defaults).
	if got, small := memoryLimit(8<<20), int64(8<<20); got != small*3/2+48<<20-unmanagedRoom || got >= small+small/8+memoryBase {
		t.Fatalf("limit %d for caps %d", got, small)
	}

	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	var logged strings.Builder
	log := slog.New(slog.NewTextHandler(&logged, nil))
	setMemoryLimit(caps, func(string) string { return "" }, log)
	if got := debug.SetMemoryLimit(-1); got != memoryLimit(caps) {
		t.Fatalf("runtime limit %d, want %d", got, memoryLimit(caps))
	}
	// The bench reads the caps from this line at the default level.
	if want := fmt.Sprintf("level=INFO msg=\"memory caps; limit derived from them (set GOMEMLIMIT to override)\" caps_bytes=%d ", caps); !strings.Contains(logged.String(), want) {
		t.Fatalf("log %q, want it to contain %q", logged.String(), want)
	}
	debug.SetMemoryLimit(prev)
	setMemoryLimit(caps, func(k string) string {
		if k == "GOMEMLIMIT" {
			return "1GiB"
		}
		return ""
	}, log)
	if got := debug.SetMemoryLimit(-1); got != prev {
		t.Fatalf("GOMEMLIMIT set: runtime limit changed to %d", got)
	}
	if want := fmt.Sprintf("caps_bytes=%d limit=1GiB", caps); !strings.Contains(logged.String(), want) {
		t.Fatalf("log %q, want it to contain %q", logged.String(), want)
	}
}
