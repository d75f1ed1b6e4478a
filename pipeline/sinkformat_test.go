package pipeline_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/emit"
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
			execScript(t, srv, "golden_transactions", filepath.Join("..", "testdata", "golden", "transactions.sql"))
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
