package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/sluicecdc/sluice/emit"
)

// countFile counts the events (lines) of a file sink's output and its bytes.
func countFile(path string) (events int, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, 1<<20)
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		n, err := r.Read(buf)
		events += bytes.Count(buf[:n], []byte{'\n'})
		size += int64(n)
		if errors.Is(err, io.EOF) {
			return events, size, nil
		}
		if err != nil {
			return events, size, err
		}
	}
}

// countLake reads every data object of the lake under prefix (JSON lines
// in any compression; manifests, watermarks and schemas left out) and counts its events
// and uncompressed bytes.
func countLake(ctx context.Context, c *s3.Client, bucket, prefix string) (events, objects int, size int64, err error) {
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return events, objects, size, fmt.Errorf("list s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			if !emit.IsDataObject(key) {
				continue
			}
			n, sz, err := countObject(ctx, c, bucket, key)
			if err != nil {
				return events, objects, size, err
			}
			events += n
			size += sz
			objects++
		}
	}
	return events, objects, size, nil
}

func countObject(ctx context.Context, c *s3.Client, bucket, key string) (int, int64, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return 0, 0, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer func() { _ = out.Body.Close() }()
	raw, err := io.ReadAll(out.Body)
	if err != nil {
		return 0, 0, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	lines, err := emit.DecodeObject(key, raw)
	if err != nil {
		return 0, 0, fmt.Errorf("s3://%s/%s: %w", bucket, key, err)
	}
	return bytes.Count(lines, []byte{'\n'}), int64(len(lines)), nil
}

// createStream creates a stream and waits until it is active.
func createStream(ctx context.Context, kc *kinesis.Client, name string, shards int) error {
	if _, err := kc.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(int32(shards))}); err != nil {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	for {
		out, err := kc.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kinesisRecord is one event read from a stream, with when Kinesis
// accepted the record that holds it (ApproximateArrivalTimestamp,
// millisecond resolution on kinesalite) and when the reader got it.
type kinesisRecord struct {
	data    []byte
	arrival time.Time
	readAt  time.Time
}

// readStream reads every shard of stream from its start, handing each
// event to fn (from one goroutine per shard: fn must be safe for
// concurrent use). KPL aggregated records are unpacked. With untilEmpty
// each shard is read until a read returns nothing; otherwise until ctx
// ends, waiting poll after each empty read. limit caps records per read.
func readStream(ctx context.Context, kc *kinesis.Client, stream string, limit int, poll time.Duration, untilEmpty bool, fn func(kinesisRecord)) error {
	shards, err := kc.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		return fmt.Errorf("list shards of %s: %w", stream, err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(shards.Shards))
	for i, sh := range shards.Shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = readShard(ctx, kc, stream, aws.ToString(sh.ShardId), limit, poll, untilEmpty, fn)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func readShard(ctx context.Context, kc *kinesis.Client, stream, shard string, limit int, poll time.Duration, untilEmpty bool, fn func(kinesisRecord)) error {
	it, err := kc.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		return fmt.Errorf("shard iterator of %s/%s: %w", stream, shard, err)
	}
	iter := it.ShardIterator
	for iter != nil {
		out, err := kc.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(int32(limit))})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read %s/%s: %w", stream, shard, err)
		}
		readAt := time.Now()
		for _, r := range out.Records {
			arrival := aws.ToTime(r.ApproximateArrivalTimestamp)
			events, err := deaggregate(r.Data)
			if err != nil {
				return fmt.Errorf("record %s of %s/%s: %w", aws.ToString(r.SequenceNumber), stream, shard, err)
			}
			for _, ev := range events {
				fn(kinesisRecord{data: ev, arrival: arrival, readAt: readAt})
			}
		}
		iter = out.NextShardIterator
		if len(out.Records) == 0 {
			if untilEmpty {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(poll):
			}
		}
	}
	return nil
}

// kplMagic begins a KPL aggregated record.
var kplMagic = []byte{0xF3, 0x89, 0x9A, 0xC2}

// deaggregate returns the user records of a KPL aggregated record (the
// data of field 3 of each Record in field 3 of the AggregatedRecord,
// checked against the trailing MD5), or the record itself when it is not
// aggregated.
func deaggregate(data []byte) ([][]byte, error) {
	if !bytes.HasPrefix(data, kplMagic) || len(data) < len(kplMagic)+md5.Size {
		return [][]byte{data}, nil
	}
	body := data[len(kplMagic) : len(data)-md5.Size]
	if sum := md5.Sum(body); !bytes.Equal(sum[:], data[len(data)-md5.Size:]) {
		return [][]byte{data}, nil // not an aggregate after all
	}
	var out [][]byte
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		body = body[n:]
		if num != 3 || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, body); n < 0 {
				return nil, protowire.ParseError(n)
			}
			body = body[n:]
			continue
		}
		rec, n := protowire.ConsumeBytes(body)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		body = body[n:]
		for len(rec) > 0 {
			rnum, rtyp, m := protowire.ConsumeTag(rec)
			if m < 0 {
				return nil, protowire.ParseError(m)
			}
			rec = rec[m:]
			if rnum == 3 && rtyp == protowire.BytesType {
				d, m := protowire.ConsumeBytes(rec)
				if m < 0 {
					return nil, protowire.ParseError(m)
				}
				out = append(out, d)
				rec = rec[m:]
				continue
			}
			if m = protowire.ConsumeFieldValue(rnum, rtyp, rec); m < 0 {
				return nil, protowire.ParseError(m)
			}
			rec = rec[m:]
		}
	}
	return out, nil
}

// countMu counts events and their bytes from several goroutines.
type countMu struct {
	mu   sync.Mutex
	n    int
	size int64
}

func (c *countMu) add(size int) {
	c.mu.Lock()
	c.n++
	c.size += int64(size)
	c.mu.Unlock()
}
