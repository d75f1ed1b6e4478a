package emit

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// TestKinesisRouterDurability: a batch is durable only once every stream
// that got part of it accepted that part; each stream gets only its events.
func TestKinesisRouterDurability(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	got := map[string][]string{}
	api := &fakeKinesis{
		describe: func(_ context.Context, in *kinesis.DescribeStreamSummaryInput) (*kinesis.DescribeStreamSummaryOutput, error) {
			return &kinesis.DescribeStreamSummaryOutput{StreamDescriptionSummary: &types.StreamDescriptionSummary{
				StreamName: in.StreamName, StreamStatus: types.StreamStatusActive}}, nil
		},
		put: func(ctx context.Context, in *kinesis.PutRecordsInput) (*kinesis.PutRecordsOutput, error) {
			if aws.ToString(in.StreamName) == "cdc-shop-t0" {
				select { // t0's stream holds its records until released
				case <-release:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			mu.Lock()
			for _, r := range in.Records {
				got[aws.ToString(in.StreamName)] = append(got[aws.ToString(in.StreamName)], string(r.Data))
			}
			mu.Unlock()
			out := &kinesis.PutRecordsOutput{}
			for range in.Records {
				out.Records = append(out.Records, types.PutRecordsResultEntry{SequenceNumber: aws.String("1"), ShardId: aws.String("s")})
			}
			return out, nil
		},
	}
	cfg := testKinesisConfig()
	cfg.Stream = "cdc-{database}-{table}"
	if _, err := NewKinesisRouter(api, cfg, "", quietLogger()); err == nil || !strings.Contains(err.Error(), "database_stream") {
		t.Fatalf("a per-table template without database_stream: %v", err)
	}
	k, err := NewKinesisRouter(api, cfg, "cdc-{database}", quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = k.Close() }()
	ctx := context.Background()
	b1 := testBatch(1, []testEvent{{db: "shop", table: "t0", key: 1, n: 1}, {db: "shop", table: "t1", key: 2, n: 2}, {db: "shop", table: "", key: -1, n: 3}})
	b2 := testBatch(2, []testEvent{{db: "shop", table: "t1", key: 2, n: 4}})
	for _, b := range []*Batch{b1, b2} {
		b.Hold(1, nil)
		if err := k.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // t1's and the database's records are accepted by now
	if d, err := k.Sync(ctx, false); err != nil || d != 0 {
		t.Fatalf("Sync with t0's part of batch 1 pending = %d, %v; want 0", d, err)
	}
	close(release)
	if d, err := k.Sync(ctx, true); err != nil || d != 2 {
		t.Fatalf("Sync(force) = %d, %v; want 2", d, err)
	}
	mu.Lock()
	defer mu.Unlock()
	for stream, want := range map[string]int{"cdc-shop-t0": 1, "cdc-shop-t1": 2, "cdc-shop": 1} {
		if len(got[stream]) != want {
			t.Errorf("%s got %d records, want %d: %v", stream, len(got[stream]), want, got)
		}
		for _, rec := range got[stream] {
			table := strings.TrimPrefix(strings.TrimPrefix(stream, "cdc-shop"), "-")
			if !strings.Contains(rec, `"table":"`+table+`"`) {
				t.Errorf("%s holds %s", stream, rec)
			}
		}
	}
	bad := testBatch(3, []testEvent{{db: "shop", table: "naïve", key: 1, n: 5}})
	bad.Hold(1, nil)
	if err := k.Write(ctx, bad); err == nil || !strings.Contains(err.Error(), "not a valid Kinesis stream name") {
		t.Errorf("a table that makes an invalid stream name: %v", err)
	}
}
