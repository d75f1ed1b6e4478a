package compact_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/gzip"

	"github.com/sluicecdc/sluice/compact"
	"github.com/sluicecdc/sluice/internal/testing/laketest"
)

// benchGen writes a lake of Maxwell events on one table straight to a
// bucket, as the S3 sink lays it out: objects of perObject events, a
// manifest per ten objects. Events are 60% inserts, 30% updates (a tenth
// of them changing the key), 10% deletes.
type benchGen struct {
	b         *testing.B
	c         *s3.Client
	bucket    string
	perObject int
	r         *rand.Rand
	live      []int64
	nextID    int64
	events    int
	objects   int
	manifests int
}

func newBenchGen(b *testing.B, perObject int) *benchGen {
	b.Helper()
	g := &benchGen{b: b, c: env.S3Client(), bucket: fmt.Sprintf("bench-%d", time.Now().UnixNano()), perObject: perObject,
		r: rand.New(rand.NewPCG(1, 2)), nextID: 1}
	if _, err := g.c.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(g.bucket)}); err != nil {
		b.Fatal(err)
	}
	return g
}

func (g *benchGen) put(key string, body []byte) {
	_, err := g.c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(g.bucket), Key: aws.String(key), Body: bytes.NewReader(body)})
	if err != nil {
		g.b.Fatal(err)
	}
}

func (g *benchGen) row(id int64) string {
	r := g.r
	return fmt.Sprintf(`{"id":%d,"customer":"customer-%d","total":%d.%02d,"status":"s%d","created_at":"2024-11-24 06:%02d:%02d.000","note":null}`,
		id, r.IntN(1000), r.IntN(100000), r.IntN(100), r.IntN(5), r.IntN(60), r.IntN(60))
}

// write adds n events.
func (g *benchGen) write(n int) {
	var (
		lines bytes.Buffer
		objs  []map[string]any
		first string
	)
	ts := uint32(1732430000)
	flush := func() {
		if len(objs) == 0 {
			return
		}
		body, _ := json.Marshal(map[string]any{"version": 1, "objects": objs})
		g.put(fmt.Sprintf("raw/_manifests/m-%06d.json", g.manifests), body)
		g.manifests++
		objs = nil
	}
	r := g.r
	for i := range n {
		offset := 4 + uint64(g.events)*100
		g.events++
		dk := fmt.Sprintf("1:mysql-bin.000001:%d:0", offset)
		head := fmt.Sprintf(`{"database":"bench","table":"orders","type":%%q,"ts":%d,"xid":%d,"commit":true,"position":"mysql-bin.000001:%d","server_id":1,"dedupe_key":%q,"schema_version":1,`, ts, g.events, offset, dk)
		var line string
		switch p := r.IntN(10); {
		case p < 6 || len(g.live) < 10:
			id := g.nextID
			g.nextID++
			g.live = append(g.live, id)
			line = fmt.Sprintf(head, "insert") + fmt.Sprintf(`"primary_key":{"id":%d},"data":%s}`, id, g.row(id))
		case p < 9:
			j := r.IntN(len(g.live))
			id := g.live[j]
			old := `{"status":"x"}`
			if r.IntN(10) == 0 {
				old = fmt.Sprintf(`{"id":%d}`, id)
				id = g.nextID
				g.nextID++
				g.live[j] = id
			}
			line = fmt.Sprintf(head, "update") + fmt.Sprintf(`"primary_key":{"id":%d},"data":%s,"old":%s}`, id, g.row(id), old)
		default:
			j := r.IntN(len(g.live))
			id := g.live[j]
			g.live[j] = g.live[len(g.live)-1]
			g.live = g.live[:len(g.live)-1]
			line = fmt.Sprintf(head, "delete") + fmt.Sprintf(`"primary_key":{"id":%d},"data":%s}`, id, g.row(id))
		}
		if lines.Len() == 0 {
			first = dk
		}
		lines.WriteString(line)
		lines.WriteByte('\n')
		if (i+1)%g.perObject == 0 || i == n-1 {
			var gz bytes.Buffer
			w := gzip.NewWriter(&gz)
			_, _ = w.Write(lines.Bytes())
			_ = w.Close()
			key := fmt.Sprintf("raw/bench/orders/dt=2024-11-24/hr=06/obj-%06d.json.gz", g.objects)
			g.put(key, gz.Bytes())
			sum := sha256.Sum256(lines.Bytes())
			objs = append(objs, map[string]any{"key": key, "bytes": lines.Len(), "sha256": hex.EncodeToString(sum[:]),
				"events": g.perObject, "first_dedupe_key": first, "last_dedupe_key": dk, "min_ts": ts, "max_ts": ts})
			g.objects++
			lines.Reset()
			if len(objs) == 10 {
				flush()
			}
		}
	}
	flush()
}

// compactor opens a compactor of the generated lake into the catalog in dir.
func (g *benchGen) compactor(dir string) *compact.Compactor {
	return g.compactorWith(dir, func(*compact.Config) {})
}

// compactorWith is compactor with the config changed by set.
func (g *benchGen) compactorWith(dir string, set func(*compact.Config)) *compact.Compactor {
	cfg := compact.DefaultConfig()
	cfg.Bucket, cfg.Prefix, cfg.Tables = g.bucket, "raw", []string{"bench.orders"}
	cfg.Catalog.URI = filepath.Join(dir, "catalog.db")
	cfg.Catalog.Warehouse = filepath.Join(dir, "warehouse")
	cfg.Logger = laketest.Logger(g.b)
	set(&cfg)
	c, err := compact.New(context.Background(), env.S3Client(), cfg)
	if err != nil {
		g.b.Fatal(err)
	}
	return c
}

func runOnce(b *testing.B, c *compact.Compactor) compact.TableReport {
	rep, err := c.Run(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	return rep.Tables[0]
}

// BenchmarkCompact compacts a lake of 200,000 events (about 100,000
// rows remain) into a new Iceberg table: a first, full run.
func BenchmarkCompact(b *testing.B) {
	const events = 200_000
	g := newBenchGen(b, 5000)
	g.write(events)
	b.ResetTimer()
	var rows int64
	for range b.N {
		c := g.compactor(b.TempDir())
		rows = runOnce(b, c).Rows
		if err := c.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sec := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(events/sec, "events/s")
	b.ReportMetric(float64(rows)/sec, "rows/s")
	b.ReportMetric(float64(rows), "rows")
}

// BenchmarkCompactIncremental: a table of about 100,000 rows, then runs
// that each merge 2,000 new events. Each run reads only the new objects,
// but reads and rewrites the whole table (copy on write).
func BenchmarkCompactIncremental(b *testing.B) {
	g := newBenchGen(b, 5000)
	g.write(200_000)
	c := g.compactor(b.TempDir())
	defer c.Close()
	runOnce(b, c)
	b.ResetTimer()
	var rows int64
	for range b.N {
		b.StopTimer()
		g.write(2000)
		b.StartTimer()
		tr := runOnce(b, c)
		if tr.Events != 2000 {
			b.Fatalf("run read %d events: want the 2000 new ones", tr.Events)
		}
		rows = tr.Rows
	}
	b.StopTimer()
	b.ReportMetric(float64(rows), "rows")
	b.ReportMetric(2000/(b.Elapsed().Seconds()/float64(b.N)), "new-events/s")
}
