package emit

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicecdc/sluice/internal/testing/awstest"
)

// newVersitygwS3 starts a versitygw (internal/testing/awstest) with one bucket, and
// a client built the way sluice builds it: NewS3Client, credentials from
// the environment. Like the other awstest users these run under -short
// too; only the long outage is left out.
func newVersitygwS3(t testing.TB) (*awstest.Emulator, *fakeS3, S3Config) {
	t.Helper()
	env := awstest.StartS3(t)
	for k, val := range map[string]string{
		"AWS_ACCESS_KEY_ID": env.AccessKeyID, "AWS_SECRET_ACCESS_KEY": env.SecretAccessKey,
		"AWS_SESSION_TOKEN": "", "AWS_PROFILE": "", "AWS_CONFIG_FILE": os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		t.Setenv(k, val)
	}
	cfg := testS3Config("lake")
	cfg.Region, cfg.Endpoint, cfg.PathStyle = env.Region, env.S3.Endpoint(), true
	client, err := NewS3Client(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(cfg.Bucket)}); err != nil {
		t.Fatal(err)
	}
	return env.S3, &fakeS3{client: client, bucket: cfg.Bucket}, cfg
}

func TestS3VersitygwConditionalWrites(t *testing.T) {
	_, f, cfg := newVersitygwS3(t)
	s, _ := newTestSink(t, f.client, cfg)
	if err := s.Check(context.Background()); err != nil {
		t.Fatalf("check against versitygw: %v", err)
	}
	testConditionalWrites(t, f)
}

// TestS3VersitygwOutage streams while the gateway is down for 5 s: Write
// blocks once the memory cap is reached, Sync keeps retrying, and after the
// restart every event is in an object listed in a manifest.
func TestS3VersitygwOutage(t *testing.T) {
	testVersitygwOutage(t, 5*time.Second, func(cfg *S3Config) {
		cfg.RetryBackoffMax = 500 * time.Millisecond
	})
}

// TestS3VersitygwLongOutage is the same with a 30 s outage and the default
// backoff (500 ms doubling to 10 s): the sink gets going again within a
// backoff of the restart. About 45 s, so not under -short.
func TestS3VersitygwLongOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s outage")
	}
	testVersitygwOutage(t, 30*time.Second, func(cfg *S3Config) {
		def := DefaultS3Config()
		cfg.RetryBackoff, cfg.RetryBackoffMax = def.RetryBackoff, def.RetryBackoffMax
	})
}

func testVersitygwOutage(t *testing.T, outageFor time.Duration, configure func(*S3Config)) {
	v, f, cfg := newVersitygwS3(t)
	cfg.RollAge = 200 * time.Millisecond
	cfg.RollBytes = 64 << 10
	cfg.MaxBufferedBytes = 256 << 10
	cfg.RequestTimeout = 5 * time.Second
	configure(&cfg)
	s, _ := newTestSink(t, f.client, cfg)
	s.now = time.Now

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute+outageFor)
	defer cancel()
	const batches, perBatch = 300, 20
	var (
		mu        sync.Mutex
		durable   uint64
		syncErr   error
		maxWrite  time.Duration
		maxEnd    time.Time // when the longest Write returned
		restarted time.Time
	)
	stopSync := make(chan struct{})
	syncDone := make(chan struct{})
	go func() {
		defer close(syncDone)
		for {
			select {
			case <-stopSync:
				return
			case <-time.After(100 * time.Millisecond):
			}
			d, err := s.Sync(ctx, false)
			mu.Lock()
			if err != nil && syncErr == nil {
				syncErr = err
			}
			if d < durable {
				syncErr = fmt.Errorf("durable seq went back from %d to %d", durable, d)
			}
			durable = max(durable, d)
			mu.Unlock()
		}
	}()
	outage := make(chan struct{})
	var outageErr error
	go func() {
		defer close(outage)
		time.Sleep(time.Second)
		if outageErr = v.Stop(); outageErr != nil {
			return
		}
		time.Sleep(outageFor)
		outageErr = v.Restart()
		mu.Lock()
		restarted = time.Now()
		mu.Unlock()
	}()
	want := map[string]bool{}
	for i := range batches {
		evs := make([]ev, perBatch)
		for j := range evs {
			evs[j] = ev{db: "shop", table: fmt.Sprintf("t%d", j%3), ts: h14, file: "mysql-bin.000007", off: uint64(4 + 1000*i + j), pad: 200}
			want[fmt.Sprintf("7:mysql-bin.000007:%d:0", evs[j].off)] = true
		}
		start := time.Now()
		if err := s.Write(ctx, mkBatch(uint64(i+1), evs...)); err != nil {
			t.Fatalf("write batch %d: %v", i+1, err)
		}
		mu.Lock()
		if took := time.Since(start); took > maxWrite {
			maxWrite, maxEnd = took, time.Now()
		}
		mu.Unlock()
		s.mu.Lock()
		held := s.buffered
		s.mu.Unlock()
		if held > cfg.MaxBufferedBytes {
			t.Fatalf("%d bytes held, cap %d", held, cfg.MaxBufferedBytes)
		}
		time.Sleep(25 * time.Millisecond)
	}
	<-outage
	if outageErr != nil {
		t.Fatal(outageErr)
	}
	close(stopSync)
	<-syncDone
	if syncErr != nil {
		t.Fatalf("sync: %v", syncErr)
	}
	if d, err := s.Sync(ctx, true); err != nil || d != batches {
		t.Fatalf("final sync: %d, %v; want %d", d, err, batches)
	}
	t.Logf("longest Write: %v (blocked by the memory cap during the %v outage), returned %v after the restart",
		maxWrite.Round(time.Millisecond), outageFor, maxEnd.Sub(restarted).Round(time.Millisecond))
	if maxWrite < outageFor/5 {
		t.Errorf("no Write blocked during the outage (longest %v): the memory cap did not bite", maxWrite)
	}

	// Every event is in an object, and every object is in a manifest.
	objs := f.objects(t, "cdc/")
	listed := map[string]bool{}
	for k, body := range objs {
		if !strings.HasPrefix(k, "cdc/_manifests/") {
			continue
		}
		var m manifest
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatal(err)
		}
		for _, o := range m.Objects {
			listed[o.Key] = true
		}
	}
	got := map[string]bool{}
	for _, k := range dataKeys(objs) {
		if !listed[k] {
			t.Errorf("object %s is in no manifest", k)
		}
		for line := range strings.Lines(string(objs[k])) {
			var e struct {
				DedupeKey string `json:"dedupe_key"`
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			if got[e.DedupeKey] {
				t.Errorf("event %s twice", e.DedupeKey)
			}
			got[e.DedupeKey] = true
		}
	}
	for k := range want {
		if !got[k] {
			t.Errorf("event %s lost", k)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d events stored, %d written", len(got), len(want))
	}
}

// TestS3VersitygwHang: a store that accepts connections but answers
// nothing (SIGSTOP) costs each attempt RequestTimeout, not the sink's life:
// Sync goes on once it answers again.
func TestS3VersitygwHang(t *testing.T) {
	v, f, cfg := newVersitygwS3(t)
	cfg.RequestTimeout = time.Second
	cfg.RetryBackoffMax = 200 * time.Millisecond
	s, _ := newTestSink(t, f.client, cfg)
	evs := seqEvents("shop", "orders", h14, 1000, 20)
	write(t, s, mkBatch(1, evs...))
	if err := v.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := make(chan error, 1)
	go func() {
		time.Sleep(3 * time.Second)
		resumed <- v.Resume()
	}()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := s.Sync(ctx, true)
	if rerr := <-resumed; rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil || d != 1 {
		t.Fatalf("sync across a hung store: %d, %v", d, err)
	}
	if took := time.Since(start); took < 3*time.Second {
		t.Fatalf("sync returned after %v, before the store answered again", took)
	}
	objs := f.objects(t, "cdc/")
	if keys := dataKeys(objs); len(keys) != 1 || string(objs[keys[0]]) != linesOf(evs...) {
		t.Fatalf("objects %q after the hang: want the 20 events in one", keys)
	}
}
