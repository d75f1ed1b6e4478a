package emit

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkKinesisSink puts ~500-byte events, 2000 to a batch (about the
// pipeline's 1 MiB), keyed over 10,000 rows of two tables, into a
// kinesalite stream of 4 shards, and syncs every 8 batches. kinesalite (one
// node process, LevelDB) is the bottleneck: the figures compare the sink's
// settings, not what AWS would take.
func BenchmarkKinesisSink(b *testing.B) {
	for _, bc := range []struct {
		name string
		mod  func(*KinesisConfig)
	}{
		{"in_flight_1", func(c *KinesisConfig) { c.MaxInFlight = 1 }},
		{"in_flight_4", func(c *KinesisConfig) { c.MaxInFlight = 4 }},
		{"in_flight_4/by_table", func(c *KinesisConfig) { c.MaxInFlight, c.PartitionKey = 4, PartitionByTable }},
		{"in_flight_4/aggregate", func(c *KinesisConfig) { c.MaxInFlight, c.Aggregate = 4, true }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			_, client, stream := newKinesalite(b, 4)
			cfg := DefaultKinesisConfig()
			cfg.Stream = stream
			bc.mod(&cfg)
			s, err := NewKinesisSink(client, cfg, quietLogger())
			if err != nil {
				b.Fatal(err)
			}
			defer func() { _ = s.Close() }()
			const perBatch, variants = 2000, 8
			rng := rand.New(rand.NewPCG(1, 2))
			batches := make([][]testEvent, variants)
			for v := range batches {
				batches[v] = genEvents(rng, 0, perBatch, 10_000, 430) // ~500 bytes each
			}
			ctx := context.Background()
			var total int64
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				batch := testBatch(uint64(i+1), batches[i%variants])
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
			if d, err := s.Sync(ctx, true); err != nil || d != uint64(b.N) {
				b.Fatalf("sync: %d, %v", d, err)
			}
			secs := time.Since(start).Seconds()
			b.SetBytes(total / int64(b.N))
			b.ReportMetric(float64(b.N*perBatch)/secs, "events/s")
			st := s.Stats()
			// Kinesis records: fewer than events when aggregating.
			b.ReportMetric(float64(st.Records)/secs, "records/s")
			if st.Retries > 0 {
				b.Logf("%+v", st)
			}
		})
	}
}
