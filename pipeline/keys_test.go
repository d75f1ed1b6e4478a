package pipeline_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/pipeline"
)

// keySink keeps each event's line and Key, and releases batches at once:
// Keys must outlive the batch buffers they came with.
type keySink struct {
	mu    sync.Mutex
	keys  []string
	lines []string
	seq   uint64
}

func (s *keySink) Write(_ context.Context, b *emit.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range b.Events {
		s.keys = append(s.keys, string(r.Key))
		s.lines = append(s.lines, string(b.Data[r.Off:r.Off+r.Len]))
	}
	s.seq = b.Seq
	b.Release()
	return nil
}

func (s *keySink) Sync(context.Context, bool) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq, nil
}

func (s *keySink) Close() error { return nil }

// TestRefsCarryPrimaryKeys: every row's Ref.Key is its primary key's values
// in key order, as in the event's primary_key array; keyless rows and DDL
// have none; rows of spilled transactions keep theirs.
func TestRefsCarryPrimaryKeys(t *testing.T) {
	h := newHarness(t, srv)
	srv.Exec(t,
		"DROP DATABASE IF EXISTS pkeys", "CREATE DATABASE pkeys",
		"CREATE TABLE pkeys.c (a INT, b VARCHAR(20), v VARCHAR(200), PRIMARY KEY (b, a))",
		"CREATE TABLE pkeys.nokey (a INT, v VARCHAR(20))",
		"INSERT INTO pkeys.c VALUES (1, 'x\"y', 'v'), (2, 'z', 'v')",
		"UPDATE pkeys.c SET a = 3 WHERE a = 1",
		"INSERT INTO pkeys.nokey VALUES (1, 'k')",
		"USE pkeys",
		"BEGIN",
		"INSERT INTO pkeys.c SELECT seq, CONCAT('s', seq), REPEAT('b', 200) FROM seq_10_to_200",
		"DELETE FROM pkeys.c WHERE a = 2",
		"COMMIT",
	)
	sink := &keySink{}
	cfg := h.cfg
	cfg.ExitWhenCaughtUp = true
	cfg.TxMemoryBytes = 4 << 10
	cfg.BatchBytes = 8 << 10 // many batches, each released before the next
	p, err := pipeline.New(cfg, h.store, func() ([]emit.Sink, error) { return []emit.Sink{sink}, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for i, line := range sink.lines {
		var e struct {
			Table      string
			Type       string
			PrimaryKey json.RawMessage `json:"primary_key"` // Maxwell's array: the values in key order
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		want := ""
		if e.Table == "c" && e.PrimaryKey != nil {
			want = string(e.PrimaryKey) // (b, a)
			rows++
		}
		if sink.keys[i] != want {
			t.Errorf("event %d: key %q, want %q (%s)", i, sink.keys[i], want, line)
		}
	}
	if rows != 2+1+191+1 {
		t.Errorf("%d keyed rows, want %d", rows, 2+1+191+1)
	}
}
