package emit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// recordingKinesis accepts every record and keeps their data.
type recordingKinesis struct {
	mu    sync.Mutex
	data  [][]byte
	calls atomic.Int32
}

func (r *recordingKinesis) api() *fakeKinesis {
	return &fakeKinesis{put: func(ctx context.Context, in *kinesis.PutRecordsInput) (*kinesis.PutRecordsOutput, error) {
		r.calls.Add(1)
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, e := range in.Records {
			r.data = append(r.data, bytes.Clone(e.Data))
		}
		return &kinesis.PutRecordsOutput{Records: make([]types.PutRecordsResultEntry, len(in.Records))}, nil
	}}
}

func (r *recordingKinesis) records() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.data...)
}

// TestKinesisLeaseLapsed: while the leader's lease has lapsed nothing is
// sent and nothing becomes durable; once a quorum renews it, the records
// go.
func TestKinesisLeaseLapsed(t *testing.T) {
	rec := &recordingKinesis{}
	var until atomic.Pointer[time.Time]
	past := time.Now().Add(-time.Second)
	until.Store(&past)
	cfg := testKinesisConfig()
	cfg.Lease = func() time.Time { return *until.Load() }
	s := newTestKinesisSink(t, rec.api(), cfg)
	ctx := context.Background()
	if err := s.Write(ctx, testBatch(1, []testEvent{{db: "a", table: "t", key: 1, n: 1}})); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n := rec.calls.Load(); n != 0 {
		t.Fatalf("%d PutRecords calls with the lease lapsed", n)
	}
	if d, err := s.Sync(ctx, false); err != nil || d != 0 {
		t.Fatalf("Sync = %d, %v with the lease lapsed; want 0", d, err)
	}
	later := time.Now().Add(time.Minute)
	until.Store(&later)
	waitDurable(t, s, 1)
	if got := rec.records(); len(got) != 1 {
		t.Fatalf("%d records after the lease was renewed, want 1", len(got))
	}
}

// TestKinesisTermEnded: when the leadership term's context ends, the
// senders stop at once, nothing more is sent, and Write and Sync fail
// instead of waiting.
func TestKinesisTermEnded(t *testing.T) {
	rec := &recordingKinesis{}
	term, endTerm := context.WithCancelCause(context.Background())
	cfg := testKinesisConfig()
	cfg.Term = term
	s := newTestKinesisSink(t, rec.api(), cfg)
	ctx := context.Background()
	if err := s.Write(ctx, testBatch(1, []testEvent{{db: "a", table: "t", key: 1, n: 1}})); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, s, 1)
	lost := errors.New("leadership lost")
	endTerm(lost)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.Sync(ctx, false)
		if err != nil {
			if !errors.Is(err, lost) {
				t.Fatalf("Sync after the term: %v, want the term's cause", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sink still works 5 s after its term ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Write(ctx, testBatch(2, []testEvent{{db: "a", table: "t", key: 1, n: 2}})); err == nil {
		t.Fatal("Write after the term succeeded")
	}
	time.Sleep(50 * time.Millisecond)
	if got := rec.records(); len(got) != 1 {
		t.Fatalf("%d records, want only the first term's one", len(got))
	}
}

// TestKinesisEpoch: with an epoch every record's JSON begins with it;
// without one, records are the events as they are.
func TestKinesisEpoch(t *testing.T) {
	for _, epoch := range []uint64{0, 7} {
		rec := &recordingKinesis{}
		cfg := testKinesisConfig()
		cfg.Epoch = epoch
		s := newTestKinesisSink(t, rec.api(), cfg)
		b := testBatch(1, []testEvent{{db: "a", table: "t", key: 1, n: 1}, {db: "a", table: "t", key: 2, n: 2, pad: 2 << 20}})
		want := [][]byte{
			b.Data[b.Events[0].Off : b.Events[0].Off+b.Events[0].Len],
		}
		if err := s.Write(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		waitDurable(t, s, 1)
		got := rec.records()
		if len(got) < 3 {
			t.Fatalf("epoch %d: %d records, want the small event and the large one's parts", epoch, len(got))
		}
		if epoch == 0 {
			if !bytes.Equal(got[0], want[0]) {
				t.Fatalf("without an epoch the record is %s, want the event %s unchanged", got[0], want[0])
			}
			continue
		}
		var ev struct {
			Epoch uint64
			N     int
		}
		if err := json.Unmarshal(got[0], &ev); err != nil || ev.Epoch != epoch || ev.N != 1 || !bytes.HasPrefix(got[0], []byte(`{"epoch":7,"database"`)) {
			t.Fatalf("record %s (%v): want epoch 7 first, then the event", got[0], err)
		}
		ra := NewKinesisReassembler()
		var whole []byte
		for _, p := range got[1:] {
			out, err := ra.Add(p)
			if err != nil {
				t.Fatalf("part %.80s: %v", p, err)
			}
			if out != nil {
				whole = out
			}
		}
		if !bytes.HasPrefix(whole, []byte(`{"epoch":7,"database"`)) {
			t.Fatalf("the large event reassembled begins %.40s, want the epoch", whole)
		}
	}
	if got := withEpoch([]byte(`{"epoch":3,`), []byte(`{}`)); string(got) != `{"epoch":3}` {
		t.Fatalf("empty object: %s", got)
	}
}

// TestKinesisLeaseGate: the HTTP attempt itself is refused, unsent, once
// the lease has lapsed.
func TestKinesisLeaseGate(t *testing.T) {
	sent := 0
	next := httpClientFunc(func(*http.Request) (*http.Response, error) { sent++; return &http.Response{StatusCode: 200}, nil })
	var until time.Time
	g := leaseGate{next: next, until: func() time.Time { return until }}
	req, _ := http.NewRequest(http.MethodPost, "http://kinesis.invalid/", nil)
	until = time.Now().Add(time.Minute)
	if _, err := g.Do(req); err != nil || sent != 1 {
		t.Fatalf("within the lease: %v, sent %d", err, sent)
	}
	until = time.Now().Add(-time.Millisecond)
	if _, err := g.Do(req); !errors.Is(err, errLeaseLapsed) || sent != 1 {
		t.Fatalf("after the lease: %v, sent %d; want errLeaseLapsed and nothing sent", err, sent)
	}
}

type httpClientFunc func(*http.Request) (*http.Response, error)

func (f httpClientFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// TestKinesisAttemptEndsWithLease: a request under way follows the lease
// as a quorum renews it, and is abandoned the moment it lapses, long
// before RequestTimeout.
func TestKinesisAttemptEndsWithLease(t *testing.T) {
	type ended struct {
		at    time.Time
		cause error
	}
	entered, done := make(chan struct{}, 1), make(chan ended, 1)
	api := &fakeKinesis{put: func(ctx context.Context, in *kinesis.PutRecordsInput) (*kinesis.PutRecordsOutput, error) {
		entered <- struct{}{}
		<-ctx.Done() // no answer: the request hangs until abandoned
		done <- ended{time.Now(), context.Cause(ctx)}
		return nil, ctx.Err()
	}}
	var until atomic.Pointer[time.Time]
	first := time.Now().Add(100 * time.Millisecond)
	until.Store(&first)
	cfg := testKinesisConfig()
	cfg.Lease = func() time.Time { return *until.Load() }
	s := newTestKinesisSink(t, api, cfg)
	if err := s.Write(context.Background(), testBatch(1, []testEvent{{db: "a", table: "t", key: 1, n: 1}})); err != nil {
		t.Fatal(err)
	}
	<-entered
	renewed := time.Now().Add(200 * time.Millisecond) // a quorum confirmed the leader again
	until.Store(&renewed)
	select {
	case e := <-done:
		if e.at.Before(renewed) {
			t.Fatalf("the request was abandoned at %s, before the renewed lease's end %s", e.at.Format(time.StampMicro), renewed.Format(time.StampMicro))
		}
		if !errors.Is(e.cause, errLeaseLapsed) {
			t.Fatalf("the request ended with %v, want errLeaseLapsed", e.cause)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the request is still under way 5 s after the lease lapsed (request timeout %s)", cfg.RequestTimeout)
	}
}

// delayingProxy passes each request on to target after holding it for
// delay, as a slow network or server would: a request it has taken in
// whole is applied even when the client has given up on it meanwhile.
type delayingProxy struct {
	*httptest.Server
	received  chan struct{} // one per request taken in
	forwarded chan error    // one per request passed on: nil once target answered 200
}

func newDelayingProxy(t *testing.T, target string, delay time.Duration) *delayingProxy {
	p := &delayingProxy{received: make(chan struct{}, 16), forwarded: make(chan error, 16)}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // not taken in whole: never applied
		}
		p.received <- struct{}{}
		time.Sleep(delay) // the request on its way, whatever its client does
		req, err := http.NewRequestWithContext(context.WithoutCancel(r.Context()), r.Method, target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			p.forwarded <- err
			return
		}
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			p.forwarded <- err
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		answer, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s", resp.Status, answer)
		}
		p.forwarded <- err
		maps.Copy(w.Header(), resp.Header)
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(answer) // the client may be gone
	}))
	t.Cleanup(p.Close)
	return p
}

// TestKinesisDeposedLeaderLateRequest: a request the old leader sent
// within its lease reaches Kinesis only after its lease ended (a proxy
// holds it for three lease lengths and then passes it on, even though the
// old leader abandoned it when its lease lapsed). The successor, elected
// after that lease ended, sends nothing before ha.Lease.WritesFrom
// (MaxWriteTime later), so its record of the same key lands after the old
// one, never before.
func TestKinesisDeposedLeaderLateRequest(t *testing.T) {
	env, client, stream := newKinesalite(t, 1)
	const (
		lease    = 100 * time.Millisecond
		delay    = 3 * lease   // the old request on its way: longer than the lease
		maxWrite = time.Second // ha.Config.MaxWriteTime: above any such delay
	)
	proxy := newDelayingProxy(t, env.Kinesis.Endpoint(), delay)
	oldClient := env.KinesisClient(func(o *kinesis.Options) { o.RetryMaxAttempts = 1; o.BaseEndpoint = aws.String(proxy.URL) })
	ctx := context.Background()

	var until atomic.Pointer[time.Time]
	held := time.Now().Add(time.Minute)
	until.Store(&held)
	oc := testKinesisConfig()
	oc.Stream, oc.Epoch, oc.RequestTimeout = stream, 1, maxWrite
	oc.Lease = func() time.Time { return *until.Load() }
	old := newTestKinesisSink(t, oldClient, oc)
	if err := old.Write(ctx, testBatch(1, []testEvent{{db: "a", table: "t", key: 1, n: 1}})); err != nil {
		t.Fatal(err)
	}
	select {
	case <-proxy.received:
	case <-time.After(10 * time.Second):
		t.Fatal("the old leader's request did not leave within 10 s")
	}
	// Cut off right after its request left: the old lease ends at once,
	// and the successor takes office after that.
	lapsed := time.Now()
	until.Store(&lapsed)
	elected := time.Now()

	nc := testKinesisConfig()
	nc.Stream, nc.Epoch, nc.RequestTimeout = stream, 2, maxWrite
	nc.NotBefore = elected.Add(maxWrite) // what ha.Lease.WritesFrom gives it
	next := newTestKinesisSink(t, client, nc)
	if err := next.Write(ctx, testBatch(1, []testEvent{{db: "a", table: "t", key: 1, n: 1}})); err != nil {
		t.Fatal(err)
	}
	waitDurable(t, next, 1)
	select {
	case err := <-proxy.forwarded:
		if err != nil {
			t.Fatalf("the old leader's late request was not applied: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the proxy did not pass the old leader's request on within 10 s")
	}

	recs, _ := readStream(t, client, stream)
	var epochs []uint64
	for _, r := range recs {
		var ev struct{ Epoch uint64 }
		if err := json.Unmarshal(r.data, &ev); err != nil {
			t.Fatalf("record %s: %v", r.data, err)
		}
		epochs = append(epochs, ev.Epoch)
	}
	if len(epochs) != 2 {
		t.Fatalf("records of epochs %v, want the old leader's and the new one's", epochs)
	}
	if epochs[0] != 1 || epochs[1] != 2 {
		t.Fatalf("records of epochs %v in stream order: the deposed leader's record landed after its successor's", epochs)
	}
}

// TestKinesisLeaseConnAfterGate: a leader frozen after leaseGate's check
// and thawed once its lease lapsed sends nothing: its SDK client's
// connections check the lease again right before the bytes go out.
func TestKinesisLeaseConnAfterGate(t *testing.T) {
	var received atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, `{"FailedRecordCount":0,"Records":[{"SequenceNumber":"1","ShardId":"shardId-000000000000"}]}`)
	}))
	defer srv.Close()
	client := kinesis.New(kinesis.Options{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
		BaseEndpoint: aws.String(srv.URL), RetryMaxAttempts: 1,
	})
	in := &kinesis.PutRecordsInput{StreamName: aws.String("cdc"), Records: []types.PutRecordsRequestEntry{{Data: []byte("x"), PartitionKey: aws.String("k")}}}
	var checks atomic.Int32
	held := func() time.Time { return time.Now().Add(time.Minute) }
	opt := leaseOption(func() time.Time { return held() })
	if _, err := client.PutRecords(context.Background(), in, opt); err != nil || received.Load() != 1 {
		t.Fatalf("within the lease: %v, %d requests received; want the request through", err, received.Load())
	}
	// The gate's check passes; then the leader freezes until its lease has
	// lapsed: every later check finds it over.
	opt = leaseOption(func() time.Time {
		if checks.Add(1) == 1 {
			return held()
		}
		return time.Now().Add(-time.Millisecond)
	})
	_, err := client.PutRecords(context.Background(), in, opt)
	if !errors.Is(err, errLeaseLapsed) || received.Load() != 1 {
		t.Fatalf("lease lapsed after the gate: %v, %d requests received; want errLeaseLapsed and nothing more sent", err, received.Load())
	}
	if checks.Load() < 2 {
		t.Fatalf("the lease was checked %d times, want the gate's and the connection's", checks.Load())
	}
}
