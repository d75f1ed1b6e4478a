package emit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// hookedS3 is an S3 (gofakes3) whose PutObject calls first go through
// beforePut, which may block or fail them.
type hookedS3 struct {
	s3API
	beforePut func(ctx context.Context, in *s3.PutObjectInput) error
}

func (h *hookedS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if err := h.beforePut(ctx, in); err != nil {
		return nil, err
	}
	return h.s3API.PutObject(ctx, in, opts...)
}

func isDataKey(key string) bool     { return IsDataObject(key) }
func isManifestKey(key string) bool { return strings.Contains(key, "/_manifests/") }

// logBuffer is a log that tests read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func captureLog(s *S3Sink) *logBuffer {
	l := &logBuffer{}
	s.log = slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return l
}

// padded returns n events of db.table, each with pad bytes of filler.
func padded(table string, from uint64, n, pad int) []ev {
	evs := seqEvents("d", table, h14, from, n)
	for i := range evs {
		evs[i].pad = pad
	}
	return evs
}

// TestS3RelieveUploadHoldsSync: while an upload Write started to free
// memory is under way, Sync reports nothing from the first batch of that
// buffer on as durable, even once everything else is uploaded; a forced
// Sync waits for it.
func TestS3RelieveUploadHoldsSync(t *testing.T) {
	f := newFakeS3(t)
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	api := &hookedS3{s3API: f.client, beforePut: func(ctx context.Context, in *s3.PutObjectInput) error {
		if isDataKey(*in.Key) && strings.Contains(*in.Key, "/a/") {
			once.Do(func() { close(started) })
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	}}
	cfg := testS3Config(f.bucket)
	cfg.RollBytes, cfg.MaxBufferedBytes = 64<<10, 64<<10
	s, clock := newTestSink(t, api, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	write(t, s, mkBatch(1, padded("c", 100, 1, 10)...))
	syncTo(t, s, true, 1)
	write(t, s, mkBatch(2, padded("a", 1000, 4, 10000)...)) // 40 kB, minSeq 2
	// 30 kB more passes the cap: Write uploads the largest buffer, a.
	writeErr := make(chan error, 1)
	go func() { writeErr <- s.Write(ctx, mkBatch(3, padded("b", 2000, 3, 10000)...)) }()
	<-started

	// b is due by age and uploaded; a, in Write's round, holds seq 2 back.
	clock.advance(cfg.RollAge)
	d, err := s.Sync(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if d >= 2 {
		t.Fatalf("sync returned %d while the upload of a (from batch 2) is under way: want < 2", d)
	}
	if keys := dataKeys(f.objects(t, "cdc/d/b/")); len(keys) != 1 {
		t.Fatalf("objects of b %q: want b uploaded, so that only a holds the seq back", keys)
	}

	forced := make(chan error, 1)
	go func() {
		d, err := s.Sync(ctx, true)
		if err == nil && d != 3 {
			err = fmt.Errorf("forced sync returned %d, want 3", d)
		}
		forced <- err
	}()
	select {
	case err := <-forced:
		t.Fatalf("forced sync returned (%v) while the upload of a is under way", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-writeErr; err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := <-forced; err != nil {
		t.Fatalf("forced sync: %v", err)
	}
}

// TestS3ManifestFailureHoldsDurable: objects are written but their
// manifest is not: the durable seq does not move, whether the store is
// down (Sync retries until ctx ends) or refuses (Sync returns at once).
func TestS3ManifestFailureHoldsDurable(t *testing.T) {
	f := newFakeS3(t)
	var fail atomic.Pointer[error]
	api := &hookedS3{s3API: f.client, beforePut: func(_ context.Context, in *s3.PutObjectInput) error {
		if err := fail.Load(); err != nil && isManifestKey(*in.Key) {
			return *err
		}
		return nil
	}}
	s, _ := newTestSink(t, api, testS3Config(f.bucket))
	write(t, s, mkBatch(1, seqEvents("d", "t", h14, 100, 2)...))
	syncTo(t, s, true, 1)

	for _, tc := range []struct {
		name string
		seq  uint64
		err  error
	}{
		{"down", 2, errors.New("read tcp 127.0.0.1:4242: connection reset by peer")},
		{"refusing", 3, accessDenied()},
	} {
		fail.Store(&tc.err)
		write(t, s, mkBatch(tc.seq, seqEvents("d", "t", h14, 1000*tc.seq, 2)...))
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		d, err := s.Sync(ctx, true)
		cancel()
		if err == nil {
			t.Fatalf("%s: sync returned %d and no error while manifests fail", tc.name, d)
		}
		if got := s.durable(); got != 1 {
			t.Fatalf("%s: durable seq %d after a failed manifest, want 1", tc.name, got)
		}
	}
	// The objects are there; only the manifests listing them are not.
	if keys := dataKeys(f.objects(t, "cdc/")); len(keys) != 3 {
		t.Fatalf("objects %q: want the 3 written", keys)
	}
	fail.Store(nil)
	syncTo(t, s, true, 3)
}

// TestS3ForcedSyncUnderSteadyWrites: a forced Sync returns once what was
// written before it is durable, though the upload round of those events
// lets another batch in that fills an object: the round of that object,
// the Sync's or a background one, waits for the Sync to return, so a Sync
// that waited for it too would never return.
func TestS3ForcedSyncUnderSteadyWrites(t *testing.T) {
	f := newFakeS3(t)
	cfg := testS3Config(f.bucket)
	cfg.RollBytes = 1024 // every event fills its object
	var (
		s         *S3Sink
		manifests atomic.Int32
		writeErr  error
	)
	synced := make(chan struct{})
	api := &hookedS3{s3API: f.client}
	api.beforePut = func(ctx context.Context, in *s3.PutObjectInput) error {
		if !isManifestKey(*in.Key) {
			return nil
		}
		if manifests.Add(1) > 1 {
			select {
			case <-synced:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// The first round's manifest: the writer writes while it is under way.
		writeErr = s.Write(context.Background(), mkBatch(2, padded("t", 2000, 1, 2000)...))
		return nil
	}
	s, _ = newTestSink(t, api, cfg)
	write(t, s, mkBatch(1, padded("t", 1000, 1, 2000)...))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := s.Sync(ctx, true)
	close(synced)
	if err != nil || writeErr != nil {
		t.Fatalf("sync: %v; write: %v", err, writeErr)
	}
	if d != 1 {
		t.Fatalf("forced sync returned %d: want 1 (batch 2, written meanwhile, is the next sync's)", d)
	}
	syncTo(t, s, true, 2)
}

// TestS3CloseUnblocksWrite: Close ends a Write that waits for memory,
// whether it waits for another round or retries its own, and the Sync
// whose round it waits for.
func TestS3CloseUnblocksWrite(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wantClosed := func(what string, errc <-chan error) {
		t.Helper()
		select {
		case err := <-errc:
			if !errors.Is(err, errSinkClosed) {
				t.Fatalf("%s after close: %v, want errSinkClosed", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s still blocked 5s after close", what)
		}
	}
	waitOver := func(s *S3Sink) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			s.mu.Lock()
			over := s.buffered > s.cfg.MaxBufferedBytes
			s.mu.Unlock()
			if over {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("write never passed the memory cap")
			}
		}
	}
	cfg := testS3Config("lake")
	cfg.RollBytes, cfg.MaxBufferedBytes = 64<<10, 64<<10

	t.Run("waiting for a Sync's round", func(t *testing.T) {
		f := newFakeS3(t)
		started := make(chan struct{})
		var once sync.Once
		api := &hookedS3{s3API: f.client, beforePut: func(ctx context.Context, in *s3.PutObjectInput) error {
			once.Do(func() { close(started) })
			<-ctx.Done() // the store hangs
			return ctx.Err()
		}}
		s, _ := newTestSink(t, api, cfg)
		write(t, s, mkBatch(1, padded("a", 1000, 4, 10000)...))
		syncErr, writeErr := make(chan error, 1), make(chan error, 1)
		go func() { _, err := s.Sync(ctx, true); syncErr <- err }()
		<-started
		// a is in the Sync's round: nothing for Write to upload, it waits.
		go func() { writeErr <- s.Write(ctx, mkBatch(2, padded("b", 2000, 3, 10000)...)) }()
		waitOver(s)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wantClosed("write", writeErr)
		wantClosed("sync", syncErr)
	})

	t.Run("retrying its own round", func(t *testing.T) {
		var attempts atomic.Int32
		api := &hookedS3{beforePut: func(context.Context, *s3.PutObjectInput) error {
			attempts.Add(1)
			return errors.New("dial tcp 127.0.0.1:9: connect: connection refused")
		}}
		s, _ := newTestSink(t, api, cfg)
		write(t, s, mkBatch(1, padded("a", 1000, 4, 10000)...))
		writeErr := make(chan error, 1)
		go func() { writeErr <- s.Write(ctx, mkBatch(2, padded("b", 2000, 3, 10000)...)) }()
		for attempts.Load() < 2 {
			time.Sleep(time.Millisecond)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		wantClosed("write", writeErr)
	})
}

// TestS3WatermarkFailureKeepsDurable: a watermark that cannot be written
// costs one attempt, is logged, and does not hide the durable seq; the
// next Sync publishes it.
func TestS3WatermarkFailureKeepsDurable(t *testing.T) {
	f := newFakeS3(t)
	var failing atomic.Bool
	failing.Store(true)
	var attempts atomic.Int32
	api := &hookedS3{s3API: f.client, beforePut: func(_ context.Context, in *s3.PutObjectInput) error {
		if strings.HasSuffix(*in.Key, "_watermark.json") && failing.Load() {
			attempts.Add(1)
			return errors.New("dial tcp 127.0.0.1:9: connect: connection refused")
		}
		return nil
	}}
	s, _ := newTestSink(t, api, testS3Config(f.bucket))
	logs := captureLog(s)
	write(t, s, mkBatch(1, seqEvents("shop", "orders", h14, 100, 3)...))
	s.Watermark(time.Unix(int64(h14), 0).Add(30 * time.Minute))
	start := time.Now()
	syncTo(t, s, true, 1)
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("sync took %v: a watermark failure must not be retried until ctx ends", took)
	}
	if n := attempts.Load(); n != 1 {
		t.Errorf("%d watermark attempts in one sync: want 1 (the table's marker, which fails first)", n)
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "watermark not published") {
		t.Errorf("no warning logged:\n%s", logs)
	}
	if _, ok := f.objects(t, "cdc/")["cdc/_watermark.json"]; ok {
		t.Fatal("watermark written while puts fail")
	}
	failing.Store(false)
	syncTo(t, s, false, 1)
	if got := string(f.objects(t, "cdc/")["cdc/_watermark.json"]); !strings.Contains(got, `"complete_before":"2026-05-01T14:20:00Z"`) {
		t.Fatalf("watermark after the store answers again: %q, want 14:30 less 10m lateness", got)
	}
}

// TestS3LateEvents: the watermark published is what Watermark heard less
// WatermarkLateness; an event older than it is counted and logged at
// debug, not warned about.
func TestS3LateEvents(t *testing.T) {
	f := newFakeS3(t)
	cfg := testS3Config(f.bucket)
	s, _ := newTestSink(t, f.client, cfg)
	logs := captureLog(s)
	at := func(hhmm string) uint32 {
		tm, _ := time.Parse(time.DateTime, "2026-05-01 "+hhmm+":00")
		return uint32(tm.Unix())
	}
	write(t, s, mkBatch(1, ev{db: "d", table: "t", ts: at("14:25"), file: "mysql-bin.000003", off: 100}))
	s.Watermark(time.Unix(int64(at("14:30")), 0))
	syncTo(t, s, true, 1)
	if got := string(f.objects(t, "cdc/")["cdc/_watermark.json"]); !strings.Contains(got, `"complete_before":"2026-05-01T14:20:00Z"`) {
		t.Fatalf("watermark %q: want 14:30 less 10m", got)
	}
	// A long statement that began at 14:15 commits now; one of 14:22 is
	// not late: it is after the published watermark.
	write(t, s, mkBatch(2,
		ev{db: "d", table: "t", ts: at("14:15"), file: "mysql-bin.000003", off: 200},
		ev{db: "d", table: "t", ts: at("14:22"), file: "mysql-bin.000003", off: 300}))
	if n := s.LateEvents(); n != 1 {
		t.Fatalf("LateEvents = %d, want 1", n)
	}
	out := logs.String()
	if strings.Contains(out, "level=WARN") || !strings.Contains(out, "level=DEBUG msg=\"late events") {
		t.Fatalf("late events: want a debug line and no warning:\n%s", out)
	}
}

// sdkErrorClient returns an S3 client that fails before any store
// answers, the way the SDK does for a bad configuration.
func sdkErrorClient(mod func(*s3.Options)) *s3.Client {
	o := s3.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String("http://127.0.0.1:1"),
		UsePathStyle:     true,
		Credentials:      credentials.NewStaticCredentialsProvider("test", "testsecret", ""),
		RetryMaxAttempts: 1,
	}
	mod(&o)
	return s3.New(o)
}

// TestS3ConfigErrorsArePermanent: errors of the configuration, which come
// with no HTTP status, end Sync and Check at once with what to fix, while
// a refused connection (no status either) is retried. The errors are the
// SDK's own, so a change in how it reports them fails here.
func TestS3ConfigErrorsArePermanent(t *testing.T) {
	noSuchHost := &http.Client{Transport: &http.Transport{DialContext: func(_ context.Context, network, _ string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "s3.nowhere.example", IsNotFound: true}}
	}}}
	for _, tc := range []struct {
		name, fix string
		mod       func(*s3.Options)
	}{
		{"no region", "set the sink's region", func(o *s3.Options) { o.Region = "" }},
		{"no credentials", "no usable AWS credentials", func(o *s3.Options) {
			o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{}, errors.New("no EC2 IMDS role found")
			})
		}},
		{"host does not resolve", `"s3.nowhere.example" does not resolve`, func(o *s3.Options) { o.HTTPClient = noSuchHost }},
	} {
		s, _ := newTestSink(t, sdkErrorClient(tc.mod), testS3Config("lake"))
		write(t, s, mkBatch(1, seqEvents("d", "t", h14, 100, 1)...))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		_, err := s.Sync(ctx, true)
		cancel()
		if err == nil || time.Since(start) > 2*time.Second || !strings.Contains(err.Error(), tc.fix) {
			t.Errorf("%s: sync: %v after %v: want at once, naming the fix (%s)", tc.name, err, time.Since(start), tc.fix)
		}
		if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), tc.fix) {
			t.Errorf("%s: check: %v: want the fix (%s)", tc.name, err, tc.fix)
		}
	}

	// Parameters the SDK refuses (no key).
	_, err := sdkErrorClient(func(*s3.Options) {}).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("lake")})
	if err == nil || transient(err) || configFix(err) == "" {
		t.Errorf("invalid parameters: %v: transient %v, fix %q", err, transient(err), configFix(err))
	}
	// Nothing listens: no status, and no fix either: retried.
	_, err = sdkErrorClient(func(*s3.Options) {}).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("k")})
	if err == nil || !transient(err) {
		t.Errorf("connection refused: %v: want transient", err)
	}
	// A credential provider that timed out may answer next time.
	_, err = sdkErrorClient(func(o *s3.Options) {
		o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, context.DeadlineExceeded
		})
	}).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("k")})
	if err == nil || !transient(err) {
		t.Errorf("credentials timed out: %v: want transient", err)
	}
	// So does one whose STS answered 503.
	_, err = sdkErrorClient(func(o *s3.Options) {
		o.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{}, fmt.Errorf("operation error STS: AssumeRoleWithWebIdentity: %w", &awshttp.ResponseError{
				ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 503}}, Err: errors.New("unavailable")},
			})
		})
	}).PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String("lake"), Key: aws.String("k")})
	if err == nil || !transient(err) {
		t.Errorf("STS answered 503: %v: want transient", err)
	}
}

// TestS3ClientNeedsRegion: NewS3Client fails at once, naming the fix, when
// neither the config nor the environment gives a region.
func TestS3ClientNeedsRegion(t *testing.T) {
	for k, v := range map[string]string{
		"AWS_REGION": "", "AWS_DEFAULT_REGION": "", "AWS_PROFILE": "",
		"AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	} {
		t.Setenv(k, v)
	}
	_, err := NewS3Client(context.Background(), testS3Config("lake"))
	if _, ok := errors.AsType[*aws.MissingRegionError](err); !ok || !strings.Contains(err.Error(), "set the sink's region") {
		t.Fatalf("NewS3Client without a region: %v", err)
	}
	cfg := testS3Config("lake")
	cfg.Region = "eu-west-1"
	if _, err := NewS3Client(context.Background(), cfg); err != nil {
		t.Fatalf("NewS3Client with a region: %v", err)
	}
}

// waitS3Durable waits, without calling Sync, until the sink's durable seq
// reaches want: background rounds alone must get it there.
func waitS3Durable(t *testing.T, s *S3Sink, want uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		s.mu.Lock()
		d, changed := s.durableLocked(), s.changed
		s.mu.Unlock()
		if d >= want {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("durable seq %d with no Sync, want %d: the rolled object was not uploaded in the background", d, want)
		}
	}
}

// TestS3BackgroundUpload: an object rolled by RollBytes is uploaded with
// its manifest without a Sync; the open buffer after it is not, and holds
// the durable seq back to the batch before its first event.
func TestS3BackgroundUpload(t *testing.T) {
	f := newFakeS3(t)
	cfg := testS3Config(f.bucket)
	cfg.RollBytes = 4 << 10
	s, _ := newTestSink(t, f.client, cfg)
	write(t, s, mkBatch(1, padded("t", 1000, 2, 3000)...)) // rolls after the second event
	write(t, s, mkBatch(2, padded("t", 2000, 1, 100)...))  // stays open
	waitS3Durable(t, s, 1)
	if d := s.durable(); d != 1 {
		t.Fatalf("durable seq %d, want 1: batch 2 is in an open buffer", d)
	}
	objs := f.objects(t, "cdc/")
	keys := dataKeys(objs)
	entries := manifestEntries(t, objs)
	if len(keys) != 1 || len(entries) != 1 || entries[0].Key != keys[0] || entries[0].Events != 2 {
		t.Fatalf("objects %q, manifest entries %+v: want the rolled object, listed with its 2 events", keys, entries)
	}
	syncTo(t, s, true, 2)
}

// TestS3BackgroundUploadFailure: a background round the store refuses for
// good puts its object back; the next Sync uploads it itself and returns
// the error, and once the store accepts, a Sync makes it durable.
func TestS3BackgroundUploadFailure(t *testing.T) {
	f := newFakeS3(t)
	var refuse atomic.Bool
	refuse.Store(true)
	var refused atomic.Int32
	api := &hookedS3{s3API: f.client, beforePut: func(_ context.Context, in *s3.PutObjectInput) error {
		if refuse.Load() && isDataKey(*in.Key) {
			refused.Add(1)
			return accessDenied()
		}
		return nil
	}}
	cfg := testS3Config(f.bucket)
	cfg.RollBytes = 4 << 10
	s, _ := newTestSink(t, api, cfg)
	write(t, s, mkBatch(1, padded("t", 1000, 2, 3000)...))
	// Wait for the background round to fail: the object is back in the queue.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		s.mu.Lock()
		failed, changed := s.eagerFailed && !s.eager, s.changed
		s.mu.Unlock()
		if failed {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("the background round never failed")
		}
	}
	if refused.Load() != 1 || s.durable() != 0 {
		t.Fatalf("%d PUTs refused, durable %d: want 1 and 0", refused.Load(), s.durable())
	}
	if _, err := s.Sync(ctx, false); !Permanent(err) {
		t.Fatalf("sync after a refused background round: %v, want the permanent error", err)
	}
	if refused.Load() != 2 {
		t.Fatalf("%d PUTs refused: want the Sync to have retried the object", refused.Load())
	}
	refuse.Store(false)
	syncTo(t, s, true, 1)
	if keys := dataKeys(f.objects(t, "cdc/")); len(keys) != 1 {
		t.Fatalf("objects %q: want the one rolled", keys)
	}
}

// TestS3CloseEndsBackgroundUpload: Close cancels a background round that
// waits for the store and returns only once it has ended: a deposed
// leader writes nothing after Close.
func TestS3CloseEndsBackgroundUpload(t *testing.T) {
	f := newFakeS3(t)
	started := make(chan struct{})
	var once sync.Once
	var closed, putAfterClose, reached atomic.Bool
	api := &hookedS3{s3API: f.client, beforePut: func(ctx context.Context, in *s3.PutObjectInput) error {
		if closed.Load() {
			putAfterClose.Store(true)
		}
		once.Do(func() { close(started) })
		<-ctx.Done() // the store hangs
		reached.Store(true)
		return ctx.Err()
	}}
	cfg := testS3Config(f.bucket)
	cfg.RollBytes = 4 << 10
	s, _ := newTestSink(t, api, cfg)
	write(t, s, mkBatch(1, padded("t", 1000, 2, 3000)...))
	<-started // the background round is under way, with no Sync
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	closed.Store(true)
	s.mu.Lock()
	eager, flying := s.eager, len(s.flying)
	s.mu.Unlock()
	if !reached.Load() || eager || flying != 0 {
		t.Fatalf("after Close: PUT cancelled %v, round running %v, %d objects in flight: want the round ended", reached.Load(), eager, flying)
	}
	if putAfterClose.Load() || len(f.objects(t, "cdc/")) != 0 {
		t.Fatal("written after Close")
	}
}

// TestS3BackgroundUploadEndsWithWriter: a background round runs under its
// writer's context. When that ends (a deposed leader's term), the round
// gives up and no other starts, before any Close: a stopped writer's sink
// writes nothing more.
func TestS3BackgroundUploadEndsWithWriter(t *testing.T) {
	f := newFakeS3(t)
	started, gaveUp := make(chan struct{}), make(chan struct{})
	var once, onceUp sync.Once
	var puts atomic.Int32
	api := &hookedS3{s3API: f.client, beforePut: func(ctx context.Context, in *s3.PutObjectInput) error {
		puts.Add(1)
		once.Do(func() { close(started) })
		<-ctx.Done() // held until the writer stops
		onceUp.Do(func() { close(gaveUp) })
		return ctx.Err()
	}}
	cfg := testS3Config(f.bucket)
	cfg.RollBytes = 4 << 10
	s, _ := newTestSink(t, api, cfg)
	wctx, stop := context.WithCancel(context.Background())
	if err := s.Write(wctx, mkBatch(1, padded("t", 1000, 2, 3000)...)); err != nil { // rolls: a background round
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no background round started")
	}
	stop()
	select {
	case <-gaveUp:
	case <-time.After(10 * time.Second):
		t.Fatal("the background round went on after its writer's context ended")
	}
	// The round ends, and nothing more starts: its object waits for a
	// writer.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		s.mu.Lock()
		eager := s.eager
		s.mu.Unlock()
		if !eager {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background round did not end")
		}
	}
	s.mu.Lock()
	s.kick()
	eager, sealed := s.eager, len(s.sealed)
	s.mu.Unlock()
	if eager || sealed != 1 || puts.Load() != 1 {
		t.Fatalf("after the writer stopped: round under way %v, %d sealed buffers (want 1, put back), %d puts (want 1)", eager, sealed, puts.Load())
	}
}
