package compact

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
)

// TestLakeReadsEachCompression writes events through the S3 sink on
// gofakes3 in each compression, then reads them back the way the
// compactor does: manifests, then the objects they list. Every event comes
// back, whatever the compression.
func TestLakeReadsEachCompression(t *testing.T) {
	for _, comp := range []emit.Compression{emit.CompressionGzip, emit.CompressionZstd, emit.CompressionNone} {
		t.Run(string(comp), func(t *testing.T) {
			ctx := context.Background()
			srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
			t.Cleanup(srv.Close)
			client := s3.New(s3.Options{
				Region: "us-east-1", BaseEndpoint: aws.String(srv.URL), UsePathStyle: true,
				Credentials: credentials.NewStaticCredentialsProvider("test", "testsecret", ""),
			})
			if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("lake")}); err != nil {
				t.Fatal(err)
			}
			scfg := emit.DefaultS3Config()
			scfg.Bucket, scfg.Prefix, scfg.Compression = "lake", "cdc", comp
			scfg.RollBytes = 4 << 10
			sink, err := emit.NewS3Sink(client, scfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sink.Close() }()
			ts := uint32(time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC).Unix())
			want := map[string]bool{}
			b := &emit.Batch{Seq: 1}
			for i := range 300 {
				dk := fmt.Sprintf("7:mysql-bin.000001:%d:0", 1000+i*100)
				line := fmt.Sprintf(`{"database":"shop","table":"orders","type":"insert","ts":%d,"dedupe_key":%q,"data":{"id":%d}}`, ts, dk, i)
				want[line] = true
				off := len(b.Data)
				b.Data = append(b.Data, line...)
				b.Events = append(b.Events, emit.Ref{
					Off: off, Len: len(line), Database: "shop", Table: "orders", Timestamp: ts,
					Pos: event.Position{File: "mysql-bin.000001", Offset: uint64(1000 + i*100)}, ServerID: 7,
				})
				b.Data = append(b.Data, '\n')
			}
			b.Hold(1, nil)
			if err := sink.Write(ctx, b); err != nil {
				t.Fatal(err)
			}
			if _, err := sink.Sync(ctx, true); err != nil {
				t.Fatal(err)
			}

			cfg := DefaultConfig()
			cfg.Bucket, cfg.Prefix = "lake", "cdc"
			l, err := newLake(client, &cfg)
			if err != nil {
				t.Fatal(err)
			}
			refs, err := l.listManifests(ctx)
			if err != nil {
				t.Fatal(err)
			}
			keys := make([]string, len(refs))
			for i, r := range refs {
				keys[i] = r.Key
			}
			ms, err := l.readManifests(ctx, keys, 2, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, objects := 0, 0
			for _, m := range ms {
				for _, o := range m.Objects {
					if !strings.HasSuffix(o.Key, comp.Extension()) {
						t.Errorf("object %s: want extension %s", o.Key, comp.Extension())
					}
					lines, err := l.readObject(ctx, o.Key)
					if err != nil {
						t.Fatal(err)
					}
					if len(lines) != o.Bytes {
						t.Errorf("object %s: %d bytes read, manifest says %d", o.Key, len(lines), o.Bytes)
					}
					objects++
					for _, line := range strings.Split(strings.TrimSuffix(string(lines), "\n"), "\n") {
						if !want[line] {
							t.Fatalf("object %s: unexpected line %q", o.Key, line)
						}
						got++
					}
				}
			}
			if got != len(want) || objects < 2 {
				t.Fatalf("read %d events in %d objects, want %d in several", got, objects, len(want))
			}
		})
	}
}
