package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/internal/testing/awstest"
	"github.com/sluicecdc/sluice/pipeline"
)

// benchBinlog is one binlog range every throughput benchmark reads.
var benchBinlog struct {
	once       sync.Once
	from, to   event.Position
	rows       int
	err        error
	sourceConf binlog.Config
}

// prepareBenchBinlog writes the workload once: 200,000 inserts in
// 1,000-row transactions into a sysbench-like table, then 200,000 updates and
// 100,000 deletes — 500,000 row changes.
func prepareBenchBinlog(b *testing.B) {
	b.Helper()
	bb := &benchBinlog
	bb.once.Do(func() {
		bb.sourceConf = sourceConfig(srv)
		ctx := context.Background()
		srv.Exec(b, "DROP DATABASE IF EXISTS bench", "CREATE DATABASE bench", "USE bench",
			`CREATE TABLE sbtest (id INT PRIMARY KEY, k INT NOT NULL, c CHAR(120) NOT NULL, pad CHAR(60) NOT NULL,
				amount DECIMAL(12,2), created DATETIME(6), note VARCHAR(255) CHARACTER SET utf8mb4)`)
		if bb.from, bb.err = binlog.Head(ctx, &bb.sourceConf); bb.err != nil {
			return
		}
		stmts := []string{"USE bench"}
		for i := range 200 {
			stmts = append(stmts, fmt.Sprintf(`INSERT INTO sbtest SELECT seq, seq %% 1000, REPEAT('c', 120), REPEAT('p', 60),
				seq / 7, '2024-01-02 03:04:05.123456' + INTERVAL seq SECOND, CONCAT('note ✓ ', seq)
				FROM seq_%d_to_%d`, i*1000+1, (i+1)*1000))
		}
		for i := range 200 {
			stmts = append(stmts, fmt.Sprintf("UPDATE sbtest SET k = k + 1 WHERE id BETWEEN %d AND %d", i*1000+1, (i+1)*1000))
		}
		for i := range 100 {
			stmts = append(stmts, fmt.Sprintf("DELETE FROM sbtest WHERE id BETWEEN %d AND %d", i*1000+1, (i+1)*1000))
		}
		srv.Exec(b, stmts...)
		bb.rows = 500_000
		bb.to, bb.err = binlog.Head(ctx, &bb.sourceConf)
	})
	if bb.err != nil {
		b.Fatal(bb.err)
	}
}

// BenchmarkThroughput reads the same binlog range (a) with go-mysql's
// BinlogSyncer alone, decoding rows and nothing else — the limit — and (b)
// through sluice to a file sink. Compare the rows/s of the two.
func BenchmarkThroughput(b *testing.B) {
	prepareBenchBinlog(b)
	bb := &benchBinlog
	b.Run("decode-only", func(b *testing.B) {
		for b.Loop() {
			rows, err := binlog.DecodeOnly(context.Background(), &bb.sourceConf, mysql.MariaDBFlavor, bb.from, bb.to)
			if err != nil {
				b.Fatal(err)
			}
			if rows != bb.rows {
				b.Fatalf("decoded %d rows, want %d", rows, bb.rows)
			}
		}
		b.ReportMetric(float64(bb.rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("s3-lake", func(b *testing.B) {
		env := awstest.Start(b, awstest.S3)
		if _, err := env.S3Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("bench")}); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			runBenchPipeline(b, func() ([]emit.Sink, error) {
				cfg := emit.DefaultS3Config()
				cfg.Bucket, cfg.Prefix = "bench", fmt.Sprintf("run-%d", time.Now().UnixNano())
				cfg.CheckConditionalWrites = false
				s, err := emit.NewS3Sink(env.S3Client(), cfg, testLogger(b))
				return []emit.Sink{s}, err
			})
		}
		b.ReportMetric(float64(bb.rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("kinesis", func(b *testing.B) {
		env := awstest.Start(b, awstest.Kinesis)
		kc := env.KinesisClient()
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			stream := fmt.Sprintf("bench-%d", i)
			if _, err := kc.CreateStream(context.Background(), &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(4)}); err != nil {
				b.Fatal(err)
			}
			for {
				out, err := kc.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
				if err == nil && out.StreamDescriptionSummary.StreamStatus == ktypes.StreamStatusActive {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			b.StartTimer()
			runBenchPipeline(b, func() ([]emit.Sink, error) {
				cfg := emit.DefaultKinesisConfig()
				cfg.Stream = stream
				cfg.Aggregate = os.Getenv("SLUICE_BENCH_KINESIS_AGGREGATE") != ""
				s, err := emit.NewKinesisSink(kc, cfg, testLogger(b))
				return []emit.Sink{s}, err
			})
		}
		b.ReportMetric(float64(bb.rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("kafka", func(b *testing.B) {
		// kfake, franz-go's in-process Kafka, shares the process and the
		// cores with sluice.
		kc, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(4))
		if err != nil {
			b.Fatal(err)
		}
		defer kc.Close()
		for i := 0; b.Loop(); i++ {
			topic := fmt.Sprintf("bench-%d", i)
			runBenchPipeline(b, func() ([]emit.Sink, error) {
				cfg := emit.DefaultKafkaConfig()
				cfg.Brokers, cfg.Topic = kc.ListenAddrs(), topic
				cfg.Pipeline, cfg.TransactionalID = "bench", "bench"
				cfg.Compression = os.Getenv("SLUICE_BENCH_KAFKA_COMPRESSION")
				s, err := emit.NewKafkaSink(cfg, testLogger(b))
				if err != nil {
					return nil, err
				}
				if _, err := s.Check(context.Background()); err != nil {
					_ = s.Close()
					return nil, err
				}
				return []emit.Sink{s}, nil
			})
			b.StopTimer()
			if n := countCommitted(b, kc.ListenAddrs(), topic); n != bb.rows {
				b.Fatalf("a read_committed consumer read %d records, want %d", n, bb.rows)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(bb.rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("file-sink", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			dir := b.TempDir()
			store, err := checkpoint.NewFileStore(dir, "bench")
			if err != nil {
				b.Fatal(err)
			}
			if err := store.Save(context.Background(), &checkpoint.Checkpoint{Pipeline: "bench", Position: bb.from}); err != nil {
				b.Fatal(err)
			}
			cfg := pipeline.DefaultConfig()
			cfg.Name = "bench"
			cfg.Source = bb.sourceConf
			cfg.ExitWhenCaughtUp = true
			cfg.SpillDir = dir
			cfg.Logger = testLogger(b)
			out := dir + "/events.jsonl"
			p, err := pipeline.New(cfg, store, func() ([]emit.Sink, error) {
				f, err := emit.OpenFile(out)
				return []emit.Sink{f}, err
			})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := p.Run(context.Background()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			data, err := os.ReadFile(out)
			if err != nil {
				b.Fatal(err)
			}
			if n := bytes.Count(data, []byte("\n")); n != bb.rows {
				b.Fatalf("sluice emitted %d events, want %d", n, bb.rows)
			}
			b.SetBytes(int64(len(data)))
			b.StartTimer()
		}
		b.ReportMetric(float64(bb.rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// countCommitted counts the records of topic a read_committed consumer reads.
func countCommitted(b *testing.B, brokers []string, topic string) int {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	n := 0
	for idle := 0; idle < 3; {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		got := fs.NumRecords()
		if got == 0 {
			idle++
		}
		n += got
	}
	return n
}

// runBenchPipeline runs sluice over the benchmark's binlog range into the
// sinks open returns, timing only the run.
func runBenchPipeline(b *testing.B, open pipeline.OpenSinks) {
	b.Helper()
	bb := &benchBinlog
	b.StopTimer()
	dir := b.TempDir()
	store := checkpoint.NewMemoryStore(&checkpoint.Checkpoint{Pipeline: "bench", Position: bb.from})
	cfg := pipeline.DefaultConfig()
	cfg.Name = "bench"
	cfg.Source = bb.sourceConf
	cfg.StopAt = bb.to
	cfg.SpillDir = dir
	cfg.Logger = testLogger(b)
	p, err := pipeline.New(cfg, store, open)
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	if err := p.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if got := p.Delivered(); got != uint64(bb.rows) {
		b.Fatalf("delivered %d events, want %d", got, bb.rows)
	}
	b.StartTimer()
}
