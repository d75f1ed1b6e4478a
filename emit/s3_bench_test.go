package emit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/event"
)

// BenchmarkS3Sink streams 1 KiB events of 8 tables, 1000 to a batch, into
// gofakes3 (in process, memory backend) or a versitygw (POSIX backend on
// local disk): copying, compression, hashing and HTTP, with Sync every 8
// batches and objects rolled at 8 MiB. Event data is JSON-like text drawn
// from a small vocabulary, which compresses about as well as real row
// images (about 4:1).
func BenchmarkS3Sink(b *testing.B) {
	b.Run("gofakes3", func(b *testing.B) {
		f := newFakeS3(b)
		benchmarkS3Sink(b, f, testS3Config(f.bucket))
	})
	b.Run("versitygw", func(b *testing.B) {
		_, f, cfg := newVersitygwS3(b)
		benchmarkS3Sink(b, f, cfg)
	})
}

func benchmarkS3Sink(b *testing.B, f *fakeS3, cfg S3Config) {
	cfg.RollBytes = 8 << 20
	cfg.MaxBufferedBytes = 128 << 20
	s, err := NewS3Sink(f.client, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = s.Close() }()

	const perBatch, variants = 1000, 16
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("alpha beta gamma delta order item paid shipped pending 2026-05-01 EUR USD 19.99 42 true false null customer address berlin paris")
	datas := make([][]byte, variants)
	for v := range datas {
		for j := range perBatch {
			line := fmt.Appendf(nil, `{"database":"shop","table":"t%d","type":"update","ts":%d,"data":{`, j%8, h14)
			for k := 0; len(line) < 1000; k++ {
				line = fmt.Appendf(line, `"c%d":"%s %s",`, k, words[rng.IntN(len(words))], words[rng.IntN(len(words))])
			}
			line = append(line, `"x":0}}`...)
			datas[v] = append(datas[v], line...)
			datas[v] = append(datas[v], '\n')
		}
	}
	tables := []string{"t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"}
	ctx := context.Background()
	var total int64
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		batch := &Batch{Seq: uint64(i + 1), Data: datas[i%variants], Events: make([]Ref, 0, perBatch)}
		off := 0
		for j := 0; off < len(batch.Data); j++ {
			n := bytes.IndexByte(batch.Data[off:], '\n')
			batch.Events = append(batch.Events, Ref{
				Off: off, Len: n, Database: "shop", Table: tables[j%8], Timestamp: h14,
				Pos: event.Position{File: "mysql-bin.000001", Offset: uint64(i*perBatch + j)}, ServerID: 1,
			})
			off += n + 1
		}
		total += int64(len(batch.Data))
		if err := s.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
		if i%8 == 7 {
			if _, err := s.Sync(ctx, false); err != nil {
				b.Fatal(err)
			}
		}
	}
	if _, err := s.Sync(ctx, true); err != nil {
		b.Fatal(err)
	}
	secs := time.Since(start).Seconds()
	b.SetBytes(total / int64(b.N))
	b.ReportMetric(float64(b.N*perBatch)/secs, "events/s")
}
