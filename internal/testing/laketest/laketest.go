// Package laketest produces S3 lakes for tests: it streams a real MariaDB
// server's binlog through the real pipeline into the S3 sink, in process,
// on a versitygw emulator, and reads snapshot tables back with iceberg-go's
// own scan.
//
//	lake := laketest.New(t, srv, env) // streams from the server's head on
//	srv.Exec(t, "INSERT ...")
//	lake.CatchUp()                    // everything committed is in the lake
package laketest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/internal/testing/awstest"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
	"github.com/sluicecdc/sluice/pipeline"
)

// Lake is a bucket the pipeline streams one server into.
type Lake struct {
	t      testing.TB
	Srv    *mysqltest.Server
	Env    *awstest.Env
	Bucket string
	Prefix string
	Dir    string // scratch: checkpoint, schema registry, spill
	// S3 is the sink's configuration; tests may change RollBytes between
	// catch-ups to cut objects differently.
	S3    emit.S3Config
	store *checkpoint.FileStore
	cfg   pipeline.Config
}

// New creates a bucket and a pipeline checkpoint at the server's current
// head: only what the test does afterwards reaches the lake.
func New(t testing.TB, srv *mysqltest.Server, env *awstest.Env) *Lake {
	t.Helper()
	dir := t.TempDir()
	store, err := checkpoint.NewFileStore(dir, "lake")
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	l := &Lake{t: t, Srv: srv, Env: env, Bucket: "lake-" + hex.EncodeToString(b[:]), Prefix: "raw", Dir: dir, store: store}
	if _, err := env.S3Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(l.Bucket)}); err != nil {
		t.Fatal(err)
	}
	l.S3 = emit.DefaultS3Config()
	l.S3.Bucket, l.S3.Prefix = l.Bucket, l.Prefix
	l.S3.RollBytes = 64 << 10
	l.S3.MaxBufferedBytes = 8 << 20
	l.S3.RollAge = time.Hour // objects are cut by size and at the final sync
	l.S3.WatermarkInterval = 0

	src := binlog.DefaultConfig()
	src.Host, src.Port, src.User, src.Password = srv.Host, uint16(srv.Port), srv.User, srv.Password
	src.HeartbeatPeriod = 250 * time.Millisecond
	src.ReadTimeout = 3 * time.Second
	src.RetryTimeout = 30 * time.Second
	cfg := pipeline.DefaultConfig()
	cfg.Name = "lake"
	cfg.Source = src
	cfg.CheckpointInterval = 50 * time.Millisecond
	cfg.SpillDir = dir
	cfg.SchemaPath = filepath.Join(dir, "lake.schema.json")
	cfg.Logger = Logger(t)
	cfg.ExitWhenCaughtUp = true
	l.cfg = cfg
	head := l.Head()
	if err := store.Save(context.Background(), &checkpoint.Checkpoint{Pipeline: "lake", Position: head}); err != nil {
		t.Fatal(err)
	}
	return l
}

// T is the test the lake belongs to.
func (l *Lake) T() testing.TB { return l.t }

// Head is the server's binlog head.
func (l *Lake) Head() event.Position {
	l.t.Helper()
	head, err := binlog.Head(context.Background(), &l.cfg.Source)
	if err != nil {
		l.t.Fatal(err)
	}
	return head
}

// Checkpoint is the pipeline's checkpoint.
func (l *Lake) Checkpoint() event.Position {
	l.t.Helper()
	cp, err := l.store.Load(context.Background())
	if err != nil {
		l.t.Fatal(err)
	}
	return cp.Position
}

// Source is the pipeline's source configuration, for tests to change
// (source.hosts, TLS) before the next CatchUp.
func (l *Lake) Source() *binlog.Config { return &l.cfg.Source }

// SaveCheckpoint replaces the pipeline's checkpoint.
func (l *Lake) SaveCheckpoint(cp *checkpoint.Checkpoint) {
	l.t.Helper()
	cp.Pipeline = "lake"
	if err := l.store.Save(context.Background(), cp); err != nil {
		l.t.Fatal(err)
	}
}

// Rewind moves the pipeline's checkpoint back to pos: the next CatchUp
// delivers everything after pos again, as after a crash.
func (l *Lake) Rewind(pos event.Position) {
	l.t.Helper()
	if err := l.store.Save(context.Background(), &checkpoint.Checkpoint{Pipeline: "lake", Position: pos}); err != nil {
		l.t.Fatal(err)
	}
}

// CatchUp runs the pipeline until everything committed so far is in the
// lake, listed in manifests.
func (l *Lake) CatchUp() {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	p, err := pipeline.New(l.cfg, l.store, func() ([]emit.Sink, error) {
		s, err := emit.NewS3Sink(l.Env.S3Client(), l.S3, l.cfg.Logger)
		if err != nil {
			return nil, err
		}
		return []emit.Sink{s}, nil
	})
	if err != nil {
		l.t.Fatal(err)
	}
	if err := p.Run(ctx); err != nil {
		l.t.Fatalf("pipeline: %v", err)
	}
}

// Manifests lists the lake's manifests.
func (l *Lake) Manifests() []string {
	l.t.Helper()
	return l.list(l.Prefix + "/_manifests/")
}

// Objects lists the lake's data objects (not manifests or markers).
func (l *Lake) Objects() []string {
	l.t.Helper()
	var out []string
	for _, k := range l.list(l.Prefix + "/") {
		if emit.IsDataObject(k) {
			out = append(out, k)
		}
	}
	return out
}

func (l *Lake) list(prefix string) []string {
	var out []string
	p := s3.NewListObjectsV2Paginator(l.Env.S3Client(), &s3.ListObjectsV2Input{Bucket: aws.String(l.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			l.t.Fatal(err)
		}
		for _, o := range page.Contents {
			out = append(out, aws.ToString(o.Key))
		}
	}
	return out
}

// Put writes an object to the lake's bucket.
func (l *Lake) Put(key string, body []byte) {
	l.t.Helper()
	_, err := l.Env.S3Client().PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String(l.Bucket), Key: aws.String(key), Body: strings.NewReader(string(body)),
	})
	if err != nil {
		l.t.Fatal(err)
	}
}

// Get reads an object of the lake's bucket.
func (l *Lake) Get(key string) []byte {
	l.t.Helper()
	out, err := l.Env.S3Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(l.Bucket), Key: aws.String(key)})
	if err != nil {
		l.t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		l.t.Fatal(err)
	}
	return b
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// Logger logs warnings and errors to the test log.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Main runs a test package against one throwaway source server and one S3
// emulator, handed to set, then stops them and exits. Call it from TestMain.
func Main(m *testing.M, set func(*mysqltest.Server, *awstest.Env)) {
	s, err := mysqltest.Start(mysqltest.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	e, err := awstest.New(awstest.S3)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = s.Stop()
		os.Exit(1)
	}
	set(s, e)
	code := m.Run()
	if err := e.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "awstest:", err)
	}
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "mysqltest:", err)
	}
	os.Exit(code)
}
