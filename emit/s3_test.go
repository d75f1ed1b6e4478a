package emit

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/sluicecdc/sluice/event"
)

// fakeS3 is an S3 with one bucket: in-process (gofakes3, memory backend)
// or a versitygw.
type fakeS3 struct {
	client *s3.Client
	bucket string
}

func newFakeS3(t testing.TB) *fakeS3 {
	t.Helper()
	srv := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(srv.Close)
	f := &fakeS3{client: newTestClient(srv.URL), bucket: "lake"}
	if _, err := f.client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(f.bucket)}); err != nil {
		t.Fatal(err)
	}
	return f
}

// newTestClient returns a client for an S3 at endpoint with fixed credentials.
func newTestClient(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "testsecret", ""),
	})
}

// objects returns every key under prefix with its content, decompressed
// for .gz keys.
func (f *fakeS3) objects(t testing.TB, prefix string) map[string][]byte {
	t.Helper()
	return listObjects(t, f.client, f.bucket, prefix)
}

func listObjects(t testing.TB, c *s3.Client, bucket, prefix string) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := make(map[string][]byte)
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			out[*o.Key] = getObject(t, c, bucket, *o.Key, true)
		}
	}
	return out
}

func getObject(t testing.TB, c *s3.Client, bucket, key string, gunzip bool) []byte {
	t.Helper()
	obj, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	defer func() { _ = obj.Body.Close() }()
	b, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if gunzip && IsDataObject(key) {
		if b, err = DecodeObject(key, b); err != nil {
			t.Fatal(err)
		}
	}
	return b
}

// ev is a test event: a row of db.table committed at ts, at file:off row idx.
type ev struct {
	db, table string
	ts        uint32
	file      string
	off       uint64
	idx       int
	pad       int // bytes of filler in the event's data
}

func (e ev) line() string {
	return fmt.Sprintf(`{"database":%q,"table":%q,"ts":%d,"dedupe_key":"7:%s:%d:%d","data":{"v":%q}}`,
		e.db, e.table, e.ts, e.file, e.off, e.idx, strings.Repeat("x", e.pad))
}

func mkBatch(seq uint64, evs ...ev) *Batch {
	b := &Batch{Seq: seq}
	for _, e := range evs {
		off := len(b.Data)
		b.Data = append(b.Data, e.line()...)
		b.Events = append(b.Events, Ref{
			Off: off, Len: len(b.Data) - off, Database: e.db, Table: e.table, Timestamp: e.ts,
			Pos: event.Position{File: e.file, Offset: e.off}, Index: e.idx, ServerID: 7,
		})
		b.Data = append(b.Data, '\n')
	}
	return b
}

// seqEvents returns n events of db.table from one binlog file, one row per
// rows event, committed at ts.
func seqEvents(db, table string, ts uint32, from uint64, n int) []ev {
	out := make([]ev, n)
	for i := range out {
		out[i] = ev{db: db, table: table, ts: ts, file: "mysql-bin.000003", off: from + uint64(i)*100, idx: 0}
	}
	return out
}

// fakeClock is a settable now.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testS3Config(bucket string) S3Config {
	cfg := DefaultS3Config()
	cfg.Bucket = bucket
	cfg.Prefix = "cdc"
	cfg.RetryBackoff = 10 * time.Millisecond
	cfg.RetryBackoffMax = 50 * time.Millisecond
	cfg.RequestTimeout = 10 * time.Second
	return cfg
}

func newTestSink(t testing.TB, api s3API, cfg S3Config) (*S3Sink, *fakeClock) {
	t.Helper()
	s, err := NewS3Sink(api, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC)}
	s.now = clock.now
	t.Cleanup(func() { _ = s.Close() })
	return s, clock
}

func write(t testing.TB, s *S3Sink, b *Batch) {
	t.Helper()
	if err := s.Write(context.Background(), b); err != nil {
		t.Fatalf("write batch %d: %v", b.Seq, err)
	}
}

func syncTo(t testing.TB, s *S3Sink, force bool, want uint64) {
	t.Helper()
	got, err := s.Sync(context.Background(), force)
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	if got != want {
		t.Fatalf("sync(force=%v) durable seq = %d, want %d", force, got, want)
	}
}

// dataKeys returns the keys of event objects, sorted.
func dataKeys(objs map[string][]byte) []string {
	var keys []string
	for k := range objs {
		if IsDataObject(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func linesOf(evs ...ev) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.line())
		b.WriteByte('\n')
	}
	return b.String()
}

var (
	h13 = uint32(time.Date(2026, 5, 1, 13, 59, 59, 0, time.UTC).Unix())
	h14 = uint32(time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC).Unix())
)

func TestS3PartitionsByCommitHour(t *testing.T) {
	f := newFakeS3(t)
	s, _ := newTestSink(t, f.client, testS3Config(f.bucket))
	a := ev{db: "shop", table: "orders", ts: h13, file: "mysql-bin.000003", off: 4711, idx: 0}
	b := ev{db: "shop", table: "orders", ts: h13, file: "mysql-bin.000003", off: 4711, idx: 1}
	c := ev{db: "shop", table: "items", ts: h13, file: "mysql-bin.000003", off: 4800, idx: 0}
	d := ev{db: "shop", table: "orders", ts: h14, file: "mysql-bin.000003", off: 5000, idx: 0}
	write(t, s, mkBatch(1, a, b, c))
	write(t, s, mkBatch(2, d))
	syncTo(t, s, true, 2)

	objs := f.objects(t, "cdc/")
	want := map[string]string{
		"cdc/shop/orders/dt=2026-05-01/hr=13/mysql-bin.000003-000000004711-0000000000_mysql-bin.000003-000000004711-0000000001.json.zst": linesOf(a, b),
		"cdc/shop/items/dt=2026-05-01/hr=13/mysql-bin.000003-000000004800-0000000000_mysql-bin.000003-000000004800-0000000000.json.zst":  linesOf(c),
		"cdc/shop/orders/dt=2026-05-01/hr=14/mysql-bin.000003-000000005000-0000000000_mysql-bin.000003-000000005000-0000000000.json.zst": linesOf(d),
	}
	keys := dataKeys(objs)
	if len(keys) != len(want) {
		t.Fatalf("objects %q, want %d", keys, len(want))
	}
	for k, lines := range want {
		if got, ok := objs[k]; !ok || string(got) != lines {
			t.Errorf("object %s = %q (present %v), want %q", k, got, ok, lines)
		}
	}
	// One manifest lists the three objects.
	var manifests []manifest
	for k, v := range objs {
		if strings.HasPrefix(k, "cdc/_manifests/") {
			var m manifest
			if err := json.Unmarshal(v, &m); err != nil {
				t.Fatalf("manifest %s: %v", k, err)
			}
			manifests = append(manifests, m)
			if !strings.HasPrefix(k, "cdc/_manifests/mysql-bin.000003-000000004711-0000000000_mysql-bin.000003-000000005000-0000000000_") {
				t.Errorf("manifest name %s: want the binlog range it covers", k)
			}
		}
	}
	if len(manifests) != 1 || len(manifests[0].Objects) != 3 {
		t.Fatalf("manifests %+v: want one listing 3 objects", manifests)
	}
	for _, o := range manifests[0].Objects {
		if want[o.Key] == "" || o.Bytes != len(want[o.Key]) || o.Events != strings.Count(want[o.Key], "\n") {
			t.Errorf("manifest entry %+v does not match its object", o)
		}
	}
	if o := manifests[0].Objects[0]; o.First != "7:mysql-bin.000003:4800:0" || o.MinTS != h13 {
		t.Errorf("manifest entry %+v: want first dedupe key 7:mysql-bin.000003:4800:0 and min_ts %d", o, h13)
	}
}

func TestS3Layout(t *testing.T) {
	for _, tc := range []struct {
		layout, db, table string
		want              string
	}{
		{DefaultS3Layout, "shop", "orders", "shop/orders/dt=2026-05-01/hr=13"},
		{"{database}.{table}/{year}/{month}", "a/b", "50%", "a%2Fb.50%25/2026/05"},
		{"tables/{table}", "d", "t", "tables/t"},
	} {
		l, err := parseLayout(tc.layout)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(l.render(nil, tc.db, tc.table, h13)); got != tc.want {
			t.Errorf("layout %q renders %q, want %q", tc.layout, got, tc.want)
		}
	}
	for _, bad := range []string{"", "/{table}", "{table}/", "{db}/{table}", "{table", "a//{table}"} {
		if _, err := parseLayout(bad); err == nil {
			t.Errorf("layout %q: no error", bad)
		}
	}
	l, _ := parseLayout("{table}/{year}-{month}")
	if got, want := l.floor(time.Unix(int64(h13), 0)), time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("month floor = %v, want %v", got, want)
	}
	if l.unit(h13) != l.unit(h14) {
		t.Error("one month, two units")
	}
}

func TestS3ConfigValidate(t *testing.T) {
	for name, mod := range map[string]func(*S3Config){
		"no bucket":         func(c *S3Config) { c.Bucket = "" },
		"leading slash":     func(c *S3Config) { c.Prefix = "/x" },
		"bad layout":        func(c *S3Config) { c.Layout = "{nope}" },
		"cap below roll":    func(c *S3Config) { c.RollBytes = 1 << 20; c.MaxBufferedBytes = c.RollBytes - 1 },
		"negative roll":     func(c *S3Config) { c.RollBytes = -1 },
		"zero concurrency":  func(c *S3Config) { c.Concurrency = 0 },
		"backoff inverted":  func(c *S3Config) { c.RetryBackoffMax = c.RetryBackoff / 2 },
		"negative interval": func(c *S3Config) { c.WatermarkInterval = -1 },
		"negative lateness": func(c *S3Config) { c.WatermarkLateness = -1 },
	} {
		cfg := testS3Config("b")
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	cfg := testS3Config("b")
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestS3DeterministicOutput: the same events, batched differently, give
// the same names and the same bytes. Objects roll by size every 5 events:
// in batches of 5 every roll falls on a batch boundary, in batches of 7
// most fall inside a batch. The default compression, zstd, and gzip.
func TestS3DeterministicOutput(t *testing.T) {
	for _, comp := range []Compression{CompressionZstd, CompressionGzip} {
		t.Run(string(comp), func(t *testing.T) { testS3DeterministicOutput(t, comp) })
	}
}

func testS3DeterministicOutput(t *testing.T, comp Compression) {
	// Offsets of equal width: every event of a table has the same length.
	evs := append(seqEvents("shop", "orders", h14, 10000, 40), seqEvents("shop", "items", h14, 20000, 40)...)
	rollBytes := 5 * (len(evs[len(evs)-1].line()) + 1) // 5 items, or 5 of the 1 byte longer orders
	run := func(batchSize int) (raw map[string][]byte, rolls, midBatch int) {
		f := newFakeS3(t)
		cfg := testS3Config(f.bucket)
		cfg.RollBytes = rollBytes
		cfg.Compression = comp
		s, _ := newTestSink(t, f.client, cfg)
		// Rolled buffers may be uploading already (see kick): count the
		// events that left the open buffers, 5 per roll.
		seq, written := uint64(0), 0
		for i := 0; i < len(evs); i += batchSize {
			seq++
			batch := evs[i:min(i+batchSize, len(evs))]
			write(t, s, mkBatch(seq, batch...))
			written += len(batch)
			s.mu.Lock()
			open := 0
			for _, buf := range s.open {
				open += buf.events
			}
			if sealed := (written-open)/5 - rolls; sealed > 0 {
				rolls += sealed
				if len(s.open) > 0 { // events of this batch after its roll
					midBatch++
				}
			}
			s.mu.Unlock()
		}
		syncTo(t, s, true, seq)
		raw = make(map[string][]byte)
		for k := range f.objects(t, "cdc/") {
			raw[k] = getObject(t, f.client, f.bucket, k, false)
		}
		return raw, rolls, midBatch
	}
	a, rollsA, midA := run(5)
	b, rollsB, midB := run(7)
	if rollsA != 16 || rollsB != 16 || midA != 0 || midB == 0 {
		t.Fatalf("rolls %d and %d (want 16 each), inside a batch %d and %d (want 0 and some): the test does not test what it says",
			rollsA, rollsB, midA, midB)
	}
	if keys := dataKeys(a); len(keys) != 16 {
		t.Fatalf("objects %q: want 8 per table", keys)
	}
	if ka, kb := dataKeys(a), dataKeys(b); !slices.Equal(ka, kb) {
		t.Fatalf("object names differ:\n%q\n%q", ka, kb)
	}
	for _, k := range dataKeys(a) {
		if !bytes.Equal(b[k], a[k]) {
			t.Errorf("%s differs between runs", k)
		}
	}
	// Which objects share a manifest depends on when background rounds
	// ran; what the manifests say of each object does not.
	if ma, mb := manifestEntries(t, a), manifestEntries(t, b); !slices.Equal(ma, mb) {
		t.Errorf("manifest entries differ:\n%+v\n%+v", ma, mb)
	} else if len(ma) != 16 {
		t.Errorf("manifests list %d objects, want the 16 written once each", len(ma))
	}
	if comp != CompressionGzip {
		return
	}
	// gzip header: no name, mtime 0.
	for _, k := range dataKeys(a) {
		zr, err := gzip.NewReader(bytes.NewReader(a[k]))
		if err != nil {
			t.Fatal(err)
		}
		if zr.Name != "" || !zr.ModTime.IsZero() {
			t.Errorf("%s: gzip header name %q mtime %v", k, zr.Name, zr.ModTime)
		}
	}
}

// manifestEntries returns the entries of every manifest in objs, sorted
// by key.
func manifestEntries(t *testing.T, objs map[string][]byte) []manifestObject {
	t.Helper()
	var all []manifestObject
	for k, v := range objs {
		if !strings.Contains(k, "/_manifests/") {
			continue
		}
		var m manifest
		if err := json.Unmarshal(v, &m); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		all = append(all, m.Objects...)
	}
	slices.SortFunc(all, func(x, y manifestObject) int { return strings.Compare(x.Key, y.Key) })
	return all
}

// TestS3ConditionalWrites covers a new leader re-emitting a range (same
// bytes: fine) and another writer's different content under the same name
// (an alarm), after checking that the fake honours If-None-Match at all.
func TestS3ConditionalWrites(t *testing.T) {
	f := newFakeS3(t)
	testConditionalWrites(t, f)
}

func testConditionalWrites(t *testing.T, f *fakeS3) {
	ctx := context.Background()
	put := func(body string) error {
		_, err := f.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(f.bucket), Key: aws.String("probe"), Body: strings.NewReader(body), IfNoneMatch: aws.String("*"),
		})
		return err
	}
	if err := put("a"); err != nil {
		t.Fatal(err)
	}
	if err := put("b"); !isPreconditionFailed(err) {
		t.Fatalf("the fake does not honour If-None-Match (second put: %v): this test would prove nothing", err)
	}

	evs := seqEvents("shop", "orders", h14, 1000, 10)
	first, _ := newTestSink(t, f.client, testS3Config(f.bucket))
	write(t, first, mkBatch(1, evs...))
	syncTo(t, first, true, 1)
	before := f.objects(t, "cdc/")

	// A new leader, from an older checkpoint, re-emits the same range.
	again, _ := newTestSink(t, f.client, testS3Config(f.bucket))
	write(t, again, mkBatch(1, evs[:4]...))
	write(t, again, mkBatch(2, evs[4:]...))
	syncTo(t, again, true, 2)
	if after := f.objects(t, "cdc/"); len(after) != len(before) {
		t.Fatalf("re-emitting the range changed the objects: %d before, %d after", len(before), len(after))
	}

	// Another writer puts other events under the same binlog range.
	other, _ := newTestSink(t, f.client, testS3Config(f.bucket))
	changed := slices.Clone(evs)
	changed[5].pad = 3
	write(t, other, mkBatch(1, changed...))
	_, err := other.Sync(ctx, true)
	if !errors.Is(err, ErrObjectConflict) {
		t.Fatalf("sync over different content: %v, want ErrObjectConflict", err)
	}
	var ce *ObjectConflictError
	if !errors.As(err, &ce) || !strings.Contains(ce.Key, "cdc/shop/orders/dt=2026-05-01/hr=14/") {
		t.Fatalf("conflict error %v does not name the object", err)
	}
}

// TestS3SameContentOtherCompression: an object another build compressed
// differently still counts as the same write.
func TestS3SameContentOtherCompression(t *testing.T) {
	raw := []byte(linesOf(seqEvents("d", "t", h14, 1, 50)...))
	var other bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&other, gzip.BestSpeed)
	zw.Name = "other"
	_, _ = zw.Write(raw)
	_ = zw.Close()
	c, err := newCompressor(CompressionGzip, 0)
	if err != nil {
		t.Fatal(err)
	}
	body := c.compress(raw, nil)
	if bytes.Equal(other.Bytes(), body) {
		t.Fatal("test needs different compressed bytes")
	}
	const key = "d/t/x.json.gz"
	if !sameContent(key, other.Bytes(), body, raw) {
		t.Error("same content, other compression: not the same")
	}
	if sameContent(key, other.Bytes(), body, raw[:len(raw)-2]) {
		t.Error("different content: the same")
	}
}

func TestS3RollBySize(t *testing.T) {
	f := newFakeS3(t)
	cfg := testS3Config(f.bucket)
	evs := seqEvents("shop", "orders", h14, 1000, 10)
	cfg.RollBytes = 3 * len(evs[0].line()) // three events per object
	s, _ := newTestSink(t, f.client, cfg)
	for i, e := range evs {
		write(t, s, mkBatch(uint64(i+1), e))
	}
	// Nine events are in three full objects; the tenth, from batch 10, is
	// in an open buffer and holds batch 10 back.
	syncTo(t, s, false, 9)
	if keys := dataKeys(f.objects(t, "cdc/")); len(keys) != 3 {
		t.Fatalf("objects %q: want 3", keys)
	}
	syncTo(t, s, true, 10)
	objs := f.objects(t, "cdc/")
	keys := dataKeys(objs)
	if len(keys) != 4 {
		t.Fatalf("objects %q: want 4", keys)
	}
	var all strings.Builder
	for _, k := range keys { // names sort in binlog order
		all.Write(objs[k])
	}
	if all.String() != linesOf(evs...) {
		t.Errorf("objects in name order hold\n%s\nwant\n%s", all.String(), linesOf(evs...))
	}
}

func TestS3RollByAge(t *testing.T) {
	f := newFakeS3(t)
	cfg := testS3Config(f.bucket)
	cfg.RollAge = time.Minute
	s, clock := newTestSink(t, f.client, cfg)
	write(t, s, mkBatch(1, seqEvents("shop", "orders", h14, 1000, 3)...))
	clock.advance(30 * time.Second)
	write(t, s, mkBatch(2, seqEvents("shop", "items", h14, 2000, 3)...))
	syncTo(t, s, false, 0)
	if n := len(dataKeys(f.objects(t, "cdc/"))); n != 0 {
		t.Fatalf("%d objects before any buffer is due", n)
	}
	clock.advance(30 * time.Second) // orders is a minute old, items half
	syncTo(t, s, false, 1)
	if keys := dataKeys(f.objects(t, "cdc/")); len(keys) != 1 || !strings.Contains(keys[0], "/orders/") {
		t.Fatalf("objects %q: want orders only", keys)
	}
	clock.advance(30 * time.Second)
	syncTo(t, s, false, 2)
}

// TestS3DurableSeq: an open buffer holds back the durable Seq at the batch
// before its first event, however much later batches have been uploaded.
func TestS3DurableSeq(t *testing.T) {
	f := newFakeS3(t)
	cfg := testS3Config(f.bucket)
	s, clock := newTestSink(t, f.client, cfg)
	write(t, s, mkBatch(1, seqEvents("d", "a", h14, 100, 1)...))
	write(t, s, &Batch{Seq: 2}) // a batch with no events: a bare boundary
	syncTo(t, s, false, 0)
	clock.advance(cfg.RollAge)
	write(t, s, mkBatch(3, seqEvents("d", "b", h14, 300, 1)...)) // opened now
	syncTo(t, s, false, 2)                                       // a uploaded, b open since batch 3
	write(t, s, mkBatch(4, seqEvents("d", "b", h14, 400, 1)...))
	write(t, s, &Batch{Seq: 5})
	syncTo(t, s, false, 2)
	syncTo(t, s, true, 5)
	write(t, s, &Batch{Seq: 6})
	syncTo(t, s, false, 6)
}

// TestS3MemoryCap: past MaxBufferedBytes Write uploads the largest buffers
// itself, with no Sync.
func TestS3MemoryCap(t *testing.T) {
	f := newFakeS3(t)
	cfg := testS3Config(f.bucket)
	line := len(ev{db: "d", table: "t0", file: "mysql-bin.000003"}.line()) + 10
	cfg.RollBytes = 100 * line
	cfg.MaxBufferedBytes = 100 * line
	s, _ := newTestSink(t, f.client, cfg)
	seq := uint64(0)
	var total int
	for i := range 60 {
		seq++
		b := mkBatch(seq, seqEvents("d", fmt.Sprintf("t%d", i%4), h14, uint64(1000*i), 5)...)
		total += len(b.Data)
		write(t, s, b)
		s.mu.Lock()
		held := s.buffered
		s.mu.Unlock()
		if held > cfg.MaxBufferedBytes {
			t.Fatalf("after batch %d: %d bytes held, cap %d", seq, held, cfg.MaxBufferedBytes)
		}
	}
	objs := f.objects(t, "cdc/")
	if len(dataKeys(objs)) == 0 {
		t.Fatal("nothing uploaded under memory pressure")
	}
	d, err := s.Sync(context.Background(), true)
	if err != nil || d != seq {
		t.Fatalf("sync: %d, %v", d, err)
	}
	var got int
	for _, k := range dataKeys(f.objects(t, "cdc/")) {
		got += len(f.objects(t, k)[k])
	}
	if got != total {
		t.Fatalf("objects hold %d bytes, batches had %d", got, total)
	}
}

func TestS3Watermarks(t *testing.T) {
	f := newFakeS3(t)
	cfg := testS3Config(f.bucket)
	s, clock := newTestSink(t, f.client, cfg)
	hb := time.Date(2026, 5, 1, 14, 20, 0, 0, time.UTC)

	// An open buffer with an event from 13:59:59 holds the watermark back.
	write(t, s, mkBatch(1, ev{db: "shop", table: "orders", ts: h13, file: "mysql-bin.000003", off: 4}))
	write(t, s, mkBatch(2, ev{db: "shop", table: "items", ts: h14 + 60, file: "mysql-bin.000003", off: 400}))
	s.Watermark(hb)
	s.Watermark(hb.Add(-time.Hour)) // ignored: earlier
	syncTo(t, s, false, 0)
	readWM := func(key string) watermarkDoc {
		t.Helper()
		var d watermarkDoc
		if err := json.Unmarshal(getObject(t, f.client, f.bucket, key, false), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if got := readWM("cdc/_watermark.json"); got.CompleteBefore != "2026-05-01T13:59:59Z" {
		t.Errorf("global watermark %+v: want 13:59:59, held by the open buffer", got)
	}
	if got := readWM("cdc/shop/orders/_watermark.json"); got.CompleteBefore != "2026-05-01T13:00:00Z" {
		t.Errorf("orders watermark %+v: want hour 13", got)
	}

	// Nothing held: what Watermark heard less WatermarkLateness.
	syncTo(t, s, true, 2)
	clock.advance(cfg.WatermarkInterval)
	syncTo(t, s, false, 2)
	for key, want := range map[string]string{
		"cdc/_watermark.json":             "2026-05-01T14:10:00Z",
		"cdc/shop/orders/_watermark.json": "2026-05-01T14:00:00Z",
		"cdc/shop/items/_watermark.json":  "2026-05-01T14:00:00Z",
	} {
		if got := readWM(key); got.CompleteBefore != want {
			t.Errorf("%s = %+v, want %s", key, got, want)
		}
	}
}

// fakeAPI is an s3API whose calls a test scripts.
type fakeAPI struct {
	put  func(*s3.PutObjectInput) (*s3.PutObjectOutput, error)
	get  func(*s3.GetObjectInput) (*s3.GetObjectOutput, error)
	head func(*s3.HeadBucketInput) (*s3.HeadBucketOutput, error)
}

func (f *fakeAPI) PutObject(ctx context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return f.put(in)
}

func (f *fakeAPI) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	return f.get(in)
}

func (f *fakeAPI) HeadBucket(_ context.Context, in *s3.HeadBucketInput, _ ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	return f.head(in)
}

// TestS3RidesOutOutage: while puts fail for lack of an answer, Sync retries
// until they succeed; a context ending stops it, and what it held is
// uploaded by a later Sync.
func TestS3RidesOutOutage(t *testing.T) {
	var mu sync.Mutex
	down := true
	attempts := 0
	stored := map[string][]byte{}
	api := &fakeAPI{put: func(in *s3.PutObjectInput) (*s3.PutObjectOutput, error) {
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if down {
			return nil, errors.New("dial tcp 127.0.0.1:9: connect: connection refused")
		}
		b, _ := io.ReadAll(in.Body)
		stored[*in.Key] = b
		return &s3.PutObjectOutput{}, nil
	}}
	cfg := testS3Config("lake")
	cfg.WatermarkInterval = 0
	s, _ := newTestSink(t, api, cfg)
	write(t, s, mkBatch(1, seqEvents("d", "t", h14, 100, 3)...))

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := s.Sync(ctx, true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("sync during outage: %v, want the context's end", err)
	}
	mu.Lock()
	if attempts < 3 {
		t.Errorf("%d attempts in 200ms: want retries", attempts)
	}
	down = false
	mu.Unlock()
	write(t, s, mkBatch(2, seqEvents("d", "t", h14, 400, 1)...))
	syncTo(t, s, true, 2)
	mu.Lock()
	defer mu.Unlock()
	// The buffer the failed Sync held went back to the queue, sealed; the
	// later event opened a new one: two objects, one manifest for both.
	var objects, manifests int
	for k := range stored {
		switch {
		case IsDataObject(k):
			objects++
		case strings.HasPrefix(k, "cdc/_manifests/"):
			manifests++
		}
	}
	if objects != 2 || manifests != 1 {
		t.Fatalf("stored %d objects and %d manifests, want 2 and 1", objects, manifests)
	}

	// An error the store will repeat ends Sync at once.
	s2, _ := newTestSink(t, &fakeAPI{put: func(*s3.PutObjectInput) (*s3.PutObjectOutput, error) {
		return nil, accessDenied()
	}}, cfg)
	write(t, s2, mkBatch(1, seqEvents("d", "t", h14, 100, 1)...))
	start := time.Now()
	if _, err := s2.Sync(context.Background(), true); err == nil || time.Since(start) > time.Second {
		t.Fatalf("sync on access denied: %v after %v: want an error at once", err, time.Since(start))
	}
}

func TestS3Check(t *testing.T) {
	f := newFakeS3(t)
	ctx := context.Background()
	s, _ := newTestSink(t, f.client, testS3Config(f.bucket))
	if err := s.Check(ctx); err != nil {
		t.Fatalf("check: %v", err)
	}
	if err := s.Check(ctx); err != nil { // the probe object exists now
		t.Fatalf("second check: %v", err)
	}
	missing, _ := newTestSink(t, f.client, testS3Config("no-such-bucket"))
	if err := missing.Check(ctx); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("check on a missing bucket: %v", err)
	}
	// A store that ignores If-None-Match.
	careless, _ := newTestSink(t, &fakeAPI{
		head: func(*s3.HeadBucketInput) (*s3.HeadBucketOutput, error) { return &s3.HeadBucketOutput{}, nil },
		put:  func(*s3.PutObjectInput) (*s3.PutObjectOutput, error) { return &s3.PutObjectOutput{}, nil },
	}, testS3Config("lake"))
	if err := careless.Check(ctx); err == nil || !strings.Contains(err.Error(), "ignores If-None-Match") {
		t.Fatalf("check on a store ignoring If-None-Match: %v", err)
	}
}

// accessDenied is the error the SDK returns for a 403.
func accessDenied() error {
	return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: http.StatusForbidden}},
		Err:      &smithy.GenericAPIError{Code: "AccessDenied", Message: "Access Denied"},
	}}
}

func TestS3ErrorClasses(t *testing.T) {
	status := func(code int, apiCode string) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}},
			Err:      &smithy.GenericAPIError{Code: apiCode},
		}}
	}
	for _, tc := range []struct {
		name      string
		err       error
		transient bool
	}{
		{"no answer (the SDK's status 0)", status(0, ""), true},
		{"plain network error", errors.New("connection reset by peer"), true},
		{"deadline", context.DeadlineExceeded, true},
		{"503 SlowDown", status(503, "SlowDown"), true},
		{"500", status(500, "InternalError"), true},
		{"400 RequestTimeout", status(400, "RequestTimeout"), true},
		{"409 ConditionalRequestConflict", status(409, "ConditionalRequestConflict"), true},
		{"403", accessDenied(), false},
		{"404 NoSuchBucket", status(404, "NoSuchBucket"), false},
		{"conflict", &ObjectConflictError{Bucket: "b", Key: "k"}, false},
		{"412 then 404 on read back", fmt.Errorf("%w: %w", errVanished, status(404, "NoSuchKey")), true},
	} {
		if got := transient(tc.err); got != tc.transient {
			t.Errorf("%s: transient = %v", tc.name, got)
		}
	}
	if !isPreconditionFailed(status(412, "PreconditionFailed")) || isPreconditionFailed(status(0, "")) {
		t.Error("412 classification")
	}
}

// TestS3ConcurrentWriteAndSync: Write (with memory-cap uploads) and Sync
// run at once, as in the pipeline; durable seqs only grow, a forced Sync
// returns while writes go on, and when Sync returns d every event of the
// batches up to d is in an object some manifest lists.
func TestS3ConcurrentWriteAndSync(t *testing.T) {
	f := newFakeS3(t)
	cfg := testS3Config(f.bucket)
	cfg.RollBytes = 4 << 10
	cfg.MaxBufferedBytes = 16 << 10
	s, _ := newTestSink(t, f.client, cfg)
	const batches, perBatch = 300, 4
	batch := func(i int) []ev { return seqEvents("d", fmt.Sprintf("t%d", i%5), h14, uint64(1000*i), perBatch) }
	done := make(chan error, 1)
	go func() {
		for i := range batches {
			if err := s.Write(context.Background(), mkBatch(uint64(i+1), batch(i)...)); err != nil {
				done <- err
				return
			}
			if i%25 == 24 {
				// Bursts over the memory cap, with room for Syncs between.
				time.Sleep(2 * time.Millisecond)
			}
		}
		done <- nil
	}()
	listed := newListedEvents(f, "cdc/")
	check := func(d uint64) {
		t.Helper()
		listed.refresh(t)
		for i := range int(d) {
			for _, e := range batch(i) {
				if k := fmt.Sprintf("7:%s:%d:%d", e.file, e.off, e.idx); !listed.keys[k] {
					t.Fatalf("sync returned %d, but event %s of batch %d is in no object a manifest lists", d, k, i+1)
				}
			}
		}
	}
	var last uint64
	syncs := 0
	for writing := true; writing; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			writing = false
		default:
		}
		d, err := s.Sync(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		if d < last {
			t.Fatalf("durable seq went back from %d to %d", last, d)
		}
		check(d)
		last = d
		syncs++
	}
	syncTo(t, s, true, batches)
	check(batches)
	t.Logf("%d syncs while writing", syncs)
}

// listedEvents collects the dedupe keys of the events in objects some
// manifest under prefix lists, reading each manifest and object once.
type listedEvents struct {
	f         *fakeS3
	prefix    string
	manifests map[string]bool
	objects   map[string]bool
	keys      map[string]bool
}

func newListedEvents(f *fakeS3, prefix string) *listedEvents {
	return &listedEvents{f: f, prefix: prefix, manifests: map[string]bool{}, objects: map[string]bool{}, keys: map[string]bool{}}
}

func (l *listedEvents) refresh(t testing.TB) {
	t.Helper()
	p := s3.NewListObjectsV2Paginator(l.f.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(l.f.bucket), Prefix: aws.String(l.prefix + "_manifests/"),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			if l.manifests[*o.Key] {
				continue
			}
			l.manifests[*o.Key] = true
			var m manifest
			if err := json.Unmarshal(getObject(t, l.f.client, l.f.bucket, *o.Key, false), &m); err != nil {
				t.Fatalf("manifest %s: %v", *o.Key, err)
			}
			for _, obj := range m.Objects {
				if l.objects[obj.Key] {
					continue
				}
				l.objects[obj.Key] = true
				for line := range strings.Lines(string(getObject(t, l.f.client, l.f.bucket, obj.Key, true))) {
					var e struct {
						DedupeKey string `json:"dedupe_key"`
					}
					if err := json.Unmarshal([]byte(line), &e); err != nil {
						t.Fatalf("%s: %v", obj.Key, err)
					}
					l.keys[e.DedupeKey] = true
				}
			}
		}
	}
}

// TestS3PermanentErrors: errors the store will repeat come out of Sync as
// a *PermanentError naming the fix; an outage does not.
func TestS3PermanentErrors(t *testing.T) {
	status := func(code int, apiCode string) error {
		return &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{
			Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}},
			Err:      &smithy.GenericAPIError{Code: apiCode},
		}}
	}
	cfg := testS3Config("lake")
	cfg.WatermarkInterval = 0
	for _, tc := range []struct {
		name string
		err  error
		fix  string // "" when the error is transient
	}{
		{"access denied", accessDenied(), "s3:PutObject on bucket \"lake\""},
		{"no such bucket", status(404, "NoSuchBucket"), "create bucket \"lake\""},
		{"conflict", &ObjectConflictError{Bucket: "lake", Key: "k"}, "its own prefix"},
		{"no answer", errors.New("dial tcp 127.0.0.1:9: connect: connection refused"), ""},
	} {
		s, _ := newTestSink(t, &fakeAPI{put: func(*s3.PutObjectInput) (*s3.PutObjectOutput, error) { return nil, tc.err }}, cfg)
		write(t, s, mkBatch(1, seqEvents("d", "t", h14, 100, 1)...))
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := s.Sync(ctx, true)
		cancel()
		pe, ok := errors.AsType[*PermanentError](err)
		if tc.fix == "" {
			if ok || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: sync = %v, want retries until the context ends", tc.name, err)
			}
			continue
		}
		if !ok || !Permanent(err) || !strings.Contains(pe.Fix, tc.fix) || !strings.Contains(err.Error(), tc.fix) {
			t.Errorf("%s: sync = %v, want a permanent error with the fix %q", tc.name, err, tc.fix)
		}
	}
}

// TestS3WatermarkNeverBackwards: a marker already further than what the
// sink would publish (written by a newer leader) is left as it is.
func TestS3WatermarkNeverBackwards(t *testing.T) {
	f := newFakeS3(t)
	cfg := testS3Config(f.bucket)
	s, clock := newTestSink(t, f.client, cfg)
	later := time.Date(2026, 5, 1, 16, 0, 0, 0, time.UTC)
	for _, key := range []string{"cdc/_watermark.json", "cdc/shop/orders/_watermark.json"} {
		if _, err := f.client.PutObject(context.Background(), s.putInput(key, s.watermarkBody(later), "application/json", false)); err != nil {
			t.Fatal(err)
		}
	}
	write(t, s, mkBatch(1, ev{db: "shop", table: "orders", ts: h14, file: "mysql-bin.000003", off: 4}))
	write(t, s, mkBatch(2, ev{db: "shop", table: "items", ts: h14, file: "mysql-bin.000003", off: 400}))
	s.Watermark(time.Date(2026, 5, 1, 15, 30, 0, 0, time.UTC))
	syncTo(t, s, true, 2)
	clock.advance(cfg.WatermarkInterval)
	syncTo(t, s, false, 2)
	for key, want := range map[string]string{
		"cdc/_watermark.json":             "2026-05-01T16:00:00Z", // kept: further than 15:20
		"cdc/shop/orders/_watermark.json": "2026-05-01T16:00:00Z", // kept: further than 15:00
		"cdc/shop/items/_watermark.json":  "2026-05-01T15:00:00Z", // new
	} {
		var d watermarkDoc
		if err := json.Unmarshal(getObject(t, f.client, f.bucket, key, false), &d); err != nil {
			t.Fatal(err)
		}
		if d.CompleteBefore != want {
			t.Errorf("%s = %s, want %s", key, d.CompleteBefore, want)
		}
	}
}
