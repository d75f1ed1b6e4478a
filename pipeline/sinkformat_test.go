package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/pipeline"
)

// TestSinkFormats: two sinks of one pipeline, one taking Maxwell lines and
// the other Debezium events, each get exactly what a pipeline of that
// format alone writes (testdata/golden and testdata/golden-debezium for
// transactions.sql), whichever format is the pipeline's, with batches small
// enough that transactions are split over several; and the checkpoint ends
// where the stream does.
func TestSinkFormats(t *testing.T) {
	for _, global := range []pipeline.Format{pipeline.FormatDebezium, pipeline.FormatMaxwell} {
		t.Run(string(global), func(t *testing.T) {
			h := newHarness(t, srv)
			h.cfg.Format = global
			h.cfg.BatchBytes = 300
			h.cfg.SinkFormats = []pipeline.Format{pipeline.FormatMaxwell, pipeline.FormatDebezium}
			lake, stream := filepath.Join(h.dir, "lake.jsonl"), filepath.Join(h.dir, "stream.jsonl")
			srv.ExecScript(t, "golden_transactions", filepath.Join("..", "testdata", "golden", "transactions.sql"))
			cfg := h.cfg
			cfg.ExitWhenCaughtUp = true
			p, err := pipeline.New(cfg, h.store, func() ([]emit.Sink, error) {
				a, err := emit.OpenFile(lake)
				if err != nil {
					return nil, err
				}
				b, err := emit.OpenFile(stream)
				if err != nil {
					_ = a.Close()
					return nil, err
				}
				return []emit.Sink{a, b}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := p.Run(ctx); err != nil {
				t.Fatal(err)
			}
			compareGoldenFile(t, filepath.Join("..", "testdata", "golden", "transactions.golden"),
				normalizedLines(t, lake, func(ev map[string]any) {
					for _, k := range volatile {
						delete(ev, k)
					}
				}))
			compareGoldenFile(t, filepath.Join("..", "testdata", "golden-debezium", "transactions.golden"),
				normalizedLines(t, stream, func(ev map[string]any) {
					delete(ev, "ts_ms")
					src := ev["source"].(map[string]any)
					for _, k := range debeziumSourceVolatile {
						delete(src, k)
					}
				}))
			head, err := binlog.Head(ctx, &h.cfg.Source)
			if err != nil {
				t.Fatal(err)
			}
			if cp := h.checkpoint(); cp.Position != head {
				t.Errorf("checkpoint at %s, want the head %s", cp.Position, head)
			}
		})
	}
}

// normalizedLines reads a sink file's events, drops volatile fields with
// drop and re-encodes them with sorted keys, as the golden files hold them.
func normalizedLines(t *testing.T, path string, drop func(map[string]any)) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	for i, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		ev := decodeEvent(t, i, l)
		drop(ev)
		nb, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(nb)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// TestSinkFormatsTransactionEvents: with the lake in Maxwell's format and a
// stream sink in Debezium's with transaction metadata, only the Debezium
// sink gets the BEGIN and END events and the heartbeat records, and both
// sinks get every row.
func TestSinkFormatsTransactionEvents(t *testing.T) {
	srv.Exec(t, "DROP DATABASE IF EXISTS sfmt", "CREATE DATABASE sfmt",
		"CREATE TABLE sfmt.t (id INT PRIMARY KEY)",
		"CREATE TABLE sfmt.heartbeat (pipeline VARCHAR(64) PRIMARY KEY, ts DATETIME(6) NOT NULL)")
	h := newHarness(t, srv)
	h.cfg.Format = pipeline.FormatMaxwell
	h.cfg.SinkFormats = []pipeline.Format{"", pipeline.FormatDebezium}
	h.cfg.Debezium = event.DefaultDebeziumOptions()
	h.cfg.Debezium.TransactionMetadata = true
	h.cfg.HeartbeatTable, h.cfg.HeartbeatInterval = "sfmt.heartbeat", time.Second
	srv.Exec(t, "BEGIN", "INSERT INTO sfmt.t VALUES (1), (2)", "INSERT INTO sfmt.t VALUES (3)", "COMMIT",
		"REPLACE INTO sfmt.heartbeat VALUES ('test', '2026-01-02 03:04:05.000000')")
	lake, stream := filepath.Join(h.dir, "lake.jsonl"), filepath.Join(h.dir, "stream.jsonl")
	cfg := h.cfg
	cfg.ExitWhenCaughtUp = true
	p, err := pipeline.New(cfg, h.store, func() ([]emit.Sink, error) {
		a, err := emit.OpenFile(lake)
		if err != nil {
			return nil, err
		}
		b, err := emit.OpenFile(stream)
		if err != nil {
			_ = a.Close()
			return nil, err
		}
		return []emit.Sink{a, b}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	kinds := func(path string) (out []string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
			ev := decodeEvent(t, i, l)
			switch {
			case ev["status"] != nil:
				out = append(out, ev["status"].(string))
			case ev["type"] == "insert":
				out = append(out, "maxwell-insert")
			case ev["op"] == "c":
				out = append(out, "debezium-insert")
			case len(ev) == 1 && ev["ts_ms"] != nil:
				out = append(out, "heartbeat")
			}
		}
		return out
	}
	if got, want := kinds(lake), []string{"maxwell-insert", "maxwell-insert", "maxwell-insert"}; !reflect.DeepEqual(got, want) {
		t.Errorf("lake: %v, want %v", got, want)
	}
	if got, want := kinds(stream), []string{"BEGIN", "debezium-insert", "debezium-insert", "debezium-insert", "END", "heartbeat"}; !reflect.DeepEqual(got, want) {
		t.Errorf("stream: %v, want %v", got, want)
	}
}
