package emit

import (
	"context"
	"math/big"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/sluicecdc/sluice/internal/testing/awstest"
)

// newKinesalite starts a kinesalite (internal/testing/awstest) with a stream of
// the given shards, and returns it with a client that makes one attempt
// per request, as NewKinesisClient's does.
func newKinesalite(t testing.TB, shards int32) (*awstest.Env, *kinesis.Client, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts kinesalite")
	}
	env := awstest.StartKinesis(t)
	client := env.KinesisClient(func(o *kinesis.Options) { o.RetryMaxAttempts = 1 })
	const stream = "cdc"
	ctx := context.Background()
	if _, err := client.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		out, err := client.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			break
		}
		if i == 100 {
			t.Fatalf("stream not active: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return env, client, stream
}

// streamRecord is a record read back, with the shard it is on.
type streamRecord struct {
	shard string
	pk    string
	data  []byte
}

// readStream reads every record of every shard from the start, each
// shard's in order, with the shards' hash key ranges.
func readStream(t testing.TB, c *kinesis.Client, stream string) ([]streamRecord, map[string][2]*big.Int) {
	t.Helper()
	ctx := context.Background()
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatal(err)
	}
	ranges := map[string][2]*big.Int{}
	var out []streamRecord
	for _, sh := range shards.Shards {
		lo, _ := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.StartingHashKey), 10)
		hi, _ := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.EndingHashKey), 10)
		ranges[*sh.ShardId] = [2]*big.Int{lo, hi}
		it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		if err != nil {
			t.Fatal(err)
		}
		iter := it.ShardIterator
		for iter != nil {
			page, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range page.Records {
				out = append(out, streamRecord{shard: *sh.ShardId, pk: aws.ToString(r.PartitionKey), data: r.Data})
			}
			if len(page.Records) == 0 && aws.ToInt64(page.MillisBehindLatest) == 0 {
				break
			}
			iter = page.NextShardIterator
		}
	}
	return out, ranges
}

// landedEvents turns what was read back into events: each shard's records
// through a reassembler of its own. It checks that each key stays on one
// shard.
func landedEvents(t testing.TB, recs []streamRecord) []landed {
	t.Helper()
	byShard := map[string]*KinesisReassembler{}
	shardOf := map[string]string{}
	var got []landed
	for _, r := range recs {
		if s, ok := shardOf[r.pk]; ok && s != r.shard {
			t.Fatalf("key %s on shards %s and %s", r.pk, s, r.shard)
		}
		shardOf[r.pk] = r.shard
		ra := byShard[r.shard]
		if ra == nil {
			ra = NewKinesisReassembler()
			byShard[r.shard] = ra
		}
		e, err := ra.Add(r.data)
		if err != nil {
			t.Fatal(err)
		}
		if e != nil {
			got = append(got, parseLanded(t, r.pk, e))
		}
	}
	for s, ra := range byShard {
		if ra.Pending() != 0 {
			t.Errorf("shard %s: %d events with parts missing", s, ra.Pending())
		}
	}
	return got
}

// writeEvents writes batches of random events over keys keys, with an
// event of bigPad bytes every bigEvery batches, and returns what it wrote.
func writeEvents(t testing.TB, s *KinesisSink, batches, keys, bigEvery, bigPad int) []testEvent {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, uint64(batches)))
	var written []testEvent
	for seq := 1; seq <= batches; seq++ {
		evs := genEvents(rng, len(written), 20+rng.IntN(300), keys, 50+rng.IntN(400))
		if bigEvery > 0 && seq%bigEvery == 0 {
			evs[len(evs)/2].pad = bigPad
		}
		if seq%7 == 0 {
			evs[0].key = -1 // keyless, or a schema change
		}
		written = append(written, evs...)
		if err := s.Write(context.Background(), testBatch(uint64(seq), evs)); err != nil {
			t.Fatal(err)
		}
	}
	return written
}

func syncAll(t testing.TB, s *KinesisSink, want uint64, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if d, err := s.Sync(ctx, true); err != nil || d != want {
		t.Fatalf("sync: durable %d, %v; want %d", d, err, want)
	}
}

// TestKinesisKinesaliteDelivers: every event lands in kinesalite, each key
// on one shard and in order; events over 1 MiB arrive in parts and
// reassemble.
func TestKinesisKinesaliteDelivers(t *testing.T) {
	_, client, stream := newKinesalite(t, 4)
	cfg := testKinesisConfig()
	cfg.Stream = stream
	s := newTestKinesisSink(t, client, cfg)
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	written := writeEvents(t, s, 30, 200, 10, 2_500_000)
	syncAll(t, s, 30, time.Minute)
	recs, _ := readStream(t, client, stream)
	if dups := checkKeyOrder(t, written, landedEvents(t, recs), primaryKeyOf); dups != 0 {
		t.Errorf("%d copies without any failure", dups)
	}
	t.Logf("%d events in %d records; %+v", len(written), len(recs), s.Stats())
}

// faultyKinesis passes PutRecords on to a real Kinesis but first lets fault
// pick records to refuse with ProvisionedThroughputExceeded, or throttle
// the whole call; the records not refused go to Kinesis in their order.
type faultyKinesis struct {
	kinesisAPI
	fault func(in *kinesis.PutRecordsInput) (refuse []bool, throttle bool)
}

func (f *faultyKinesis) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	refuse, throttle := f.fault(in)
	if throttle {
		return nil, &types.ProvisionedThroughputExceededException{Message: aws.String("injected: rate exceeded for stream")}
	}
	pass := &kinesis.PutRecordsInput{StreamName: in.StreamName}
	for i, r := range in.Records {
		if !refuse[i] {
			pass.Records = append(pass.Records, r)
		}
	}
	var real *kinesis.PutRecordsOutput
	if len(pass.Records) > 0 {
		var err error
		if real, err = f.kinesisAPI.PutRecords(ctx, pass, opts...); err != nil {
			return nil, err
		}
	}
	out := &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}
	j := 0
	for i := range in.Records {
		if refuse[i] {
			out.Records[i] = types.PutRecordsResultEntry{
				ErrorCode:    aws.String("ProvisionedThroughputExceededException"),
				ErrorMessage: aws.String("injected: rate exceeded for shard"),
			}
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			continue
		}
		out.Records[i] = real.Records[j]
		j++
	}
	return out, nil
}

// TestKinesisKinesalitePartialFailures: with a tenth of the records refused
// and every fifth call throttled, four requests at a time, every event
// still lands in kinesalite. Relaxed: later records of a key land before a
// refused earlier one, and the last copy of each event is in order per
// key. Strict, with and without aggregation: each key's events land
// exactly in order, once each, and so does every record (parts included).
func TestKinesisKinesalitePartialFailures(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ordering  KinesisOrdering
		aggregate bool
	}{
		{"relaxed", OrderRelaxed, false},
		{"strict", OrderStrict, false},
		{"strict/aggregate", OrderStrict, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, client, stream := newKinesalite(t, 4)
			var mu sync.Mutex
			rng := rand.New(rand.NewPCG(3, 4))
			var calls, refused atomic.Int64
			api := &faultyKinesis{kinesisAPI: client, fault: func(in *kinesis.PutRecordsInput) ([]bool, bool) {
				mu.Lock()
				defer mu.Unlock()
				if calls.Add(1)%5 == 0 {
					return nil, true
				}
				refuse := make([]bool, len(in.Records))
				for i := range refuse {
					if rng.IntN(10) == 0 {
						refuse[i] = true
						refused.Add(1)
					}
				}
				return refuse, false
			}}
			cfg := testKinesisConfig()
			cfg.Stream = stream
			cfg.Ordering = tc.ordering
			if tc.aggregate {
				// Small aggregates: more of them, and so more refused.
				cfg.Aggregate, cfg.AggregateMaxBytes = true, 16<<10
			}
			s := newTestKinesisSink(t, api, cfg)
			written := writeEvents(t, s, 30, 50, 15, 1_500_000)
			syncAll(t, s, 30, 2*time.Minute)
			recs, _ := readStream(t, client, stream)
			st := s.Stats()
			if st.Throttles == 0 || st.Retries < refused.Load() {
				t.Errorf("stats %+v: want throttles and at least %d retries", st, refused.Load())
			}
			if tc.ordering == OrderRelaxed {
				dups := checkKeyOrder(t, written, landedEvents(t, recs), primaryKeyOf)
				t.Logf("%d events, %d calls, %d records refused, %d copies landed; %+v", len(written), calls.Load(), refused.Load(), dups, st)
				return
			}
			if int64(len(recs)) != st.Records {
				t.Errorf("%d records in the stream, %d accepted: a record landed twice", len(recs), st.Records)
			}
			users := recs
			if tc.aggregate {
				users = nil
				for _, r := range recs {
					urs, ok := deaggregate(t, r.data)
					if !ok {
						t.Fatalf("record under %s is not an aggregate", r.pk)
					}
					for _, u := range urs {
						users = append(users, streamRecord{shard: r.shard, pk: u.pk, data: u.data})
					}
				}
			}
			if dups := checkStrictKeyOrder(t, written, landedEvents(t, users), primaryKeyOf, true); dups != 0 {
				t.Errorf("%d copies landed", dups)
			}
			t.Logf("%d events in %d records, %d calls, %d records refused; %+v", len(written), len(recs), calls.Load(), refused.Load(), st)
		})
	}
}

// TestKinesisKinesaliteOutage stops kinesalite for 5 s while events keep
// coming: Write blocks once the buffer cap is reached, the senders retry,
// and after the restart every event is in the stream, in order per key.
func TestKinesisKinesaliteOutage(t *testing.T) {
	env, client, stream := newKinesalite(t, 2)
	cfg := testKinesisConfig()
	cfg.Stream = stream
	cfg.MaxBufferedBytes = 2 << 20
	cfg.RetryBackoff = 50 * time.Millisecond
	cfg.RetryBackoffMax = time.Second
	cfg.RequestTimeout = 5 * time.Second
	s := newTestKinesisSink(t, client, cfg)

	done := make(chan []testEvent)
	var longestWrite time.Duration
	go func() {
		var all []testEvent
		rng := rand.New(rand.NewPCG(1, 9))
		for seq := uint64(1); seq <= 100; seq++ {
			evs := genEvents(rng, len(all), 200, 100, 200)
			all = append(all, evs...)
			start := time.Now()
			if err := s.Write(context.Background(), testBatch(seq, evs)); err != nil {
				t.Error(err)
				break
			}
			longestWrite = max(longestWrite, time.Since(start))
			time.Sleep(80 * time.Millisecond)
		}
		done <- all
	}()
	time.Sleep(time.Second)
	if err := env.Kinesis.Stop(); err != nil {
		t.Fatal(err)
	}
	before, _ := s.Sync(context.Background(), false)
	time.Sleep(5 * time.Second)
	during, _ := s.Sync(context.Background(), false)
	if err := env.Kinesis.Restart(); err != nil {
		t.Fatal(err)
	}
	written := <-done
	syncAll(t, s, 100, time.Minute)
	if during != before {
		t.Errorf("durable moved from %d to %d while kinesalite was down", before, during)
	}
	// 5 s of events (about 3 MiB) do not fit the 2 MiB cap: Write waited.
	if longestWrite < time.Second {
		t.Errorf("longest Write took %v: want it blocked at the memory cap", longestWrite)
	}
	recs, _ := readStream(t, client, stream)
	dups := checkKeyOrder(t, written, landedEvents(t, recs), primaryKeyOf)
	t.Logf("%d events; durable %d when stopped; longest Write %v; %d copies; %+v", len(written), before, longestWrite, dups, s.Stats())
}

// TestKinesisKinesaliteAggregate: aggregated records land on the shard
// whose hash key range holds their explicit hash key, every user record in
// them is in that range too (a KCL consumer keeps them all), and they
// unpack to every event, in order per key.
func TestKinesisKinesaliteAggregate(t *testing.T) {
	_, client, stream := newKinesalite(t, 4)
	cfg := testKinesisConfig()
	cfg.Stream = stream
	cfg.Aggregate = true
	s := newTestKinesisSink(t, client, cfg)
	written := writeEvents(t, s, 30, 300, 10, 1_200_000)
	syncAll(t, s, 30, time.Minute)
	recs, ranges := readStream(t, client, stream)
	var users []streamRecord
	for _, r := range recs {
		urs, ok := deaggregate(t, r.data)
		if !ok {
			t.Fatalf("record under %s is not an aggregate", r.pk)
		}
		rg := ranges[r.shard]
		for _, u := range urs {
			hk, _ := new(big.Int).SetString(u.ehk, 10)
			if hk == nil || hk.Cmp(rg[0]) < 0 || hk.Cmp(rg[1]) > 0 {
				t.Fatalf("user record %s with hash key %s on shard %s [%s, %s]: a KCL consumer would drop it", u.pk, u.ehk, r.shard, rg[0], rg[1])
			}
			users = append(users, streamRecord{shard: r.shard, pk: u.pk, data: u.data})
		}
	}
	checkKeyOrder(t, written, landedEvents(t, users), primaryKeyOf)
	t.Logf("%d events in %d Kinesis records; %+v", len(written), len(recs), s.Stats())
}

func TestKinesisKinesaliteCheck(t *testing.T) {
	_, client, _ := newKinesalite(t, 1)
	cfg := testKinesisConfig()
	cfg.Stream = "missing"
	s := newTestKinesisSink(t, client, cfg)
	err := s.Check(context.Background())
	if err == nil || !strings.Contains(err.Error(), `stream "missing" does not exist: create it`) {
		t.Fatalf("check of a missing stream: %v", err)
	}
	t.Log(err)
}
