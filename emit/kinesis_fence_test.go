package emit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
