package emit

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// countingKinesis counts PutRecords calls.
type countingKinesis struct {
	kinesisAPI
	calls atomic.Int64
}

func (c *countingKinesis) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	c.calls.Add(1)
	return c.kinesisAPI.PutRecords(ctx, in, opts...)
}

// BenchmarkKinesisSink puts ~500-byte events, 2000 to a batch (about the
// pipeline's 1 MiB), keyed over 10,000 rows of two tables, into a
// kinesalite stream of 4 shards, and syncs every 8 batches: strict and
// relaxed ordering, by row and by table, with and without aggregation.
// kinesalite (one node process, LevelDB) is the bottleneck: the figures
// compare the sink's settings, not what AWS would take. Strict by table
// without aggregation sends two records (one per table) per request: run
// it with a small -benchtime (e.g. 3x).
func BenchmarkKinesisSink(b *testing.B) {
	type benchCase struct {
		name string
		mods []func(*KinesisConfig)
	}
	byTable := func(c *KinesisConfig) { c.PartitionKey = PartitionByTable }
	aggregate := func(c *KinesisConfig) { c.Aggregate = true }
	variants := []benchCase{
		{"by_row", nil},
		{"by_row/in_flight_1", []func(*KinesisConfig){func(c *KinesisConfig) { c.MaxInFlight = 1 }}},
		{"by_table", []func(*KinesisConfig){byTable}},
		{"by_row/aggregate", []func(*KinesisConfig){aggregate}},
		{"by_table/aggregate", []func(*KinesisConfig){byTable, aggregate}},
		{"by_table/aggregate_1MiB", []func(*KinesisConfig){byTable, aggregate, func(c *KinesisConfig) { c.AggregateMaxBytes = 1 << 20 }}},
	}
	var cases []benchCase
	for _, ord := range []KinesisOrdering{OrderStrict, OrderRelaxed} {
		ordering := func(c *KinesisConfig) { c.Ordering = ord }
		for _, v := range variants {
			cases = append(cases, benchCase{string(ord) + "/" + v.name, append([]func(*KinesisConfig){ordering}, v.mods...)})
		}
	}
	// Nearly one row per group (10,000 rows, 65,536 groups): what grouping
	// aggregates by partition key instead of by hash would give.
	cases = append(cases, benchCase{"strict/by_row/aggregate_65536_groups", []func(*KinesisConfig){aggregate, func(c *KinesisConfig) { c.AggregateGroups = 1 << 16 }}})
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			_, client, stream := newKinesalite(b, 4)
			cfg := DefaultKinesisConfig()
			cfg.Stream = stream
			for _, m := range bc.mods {
				m(&cfg)
			}
			api := &countingKinesis{kinesisAPI: client}
			s, err := NewKinesisSink(api, cfg, quietLogger())
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
			b.ReportMetric(float64(st.Records)/float64(api.calls.Load()), "records/request")
			if st.Retries > 0 {
				b.Logf("%+v", st)
			}
		})
	}
}
