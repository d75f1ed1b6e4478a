package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/pipeline"
)

// refSink records each event's Ref with its line.
type refSink struct {
	mu     sync.Mutex
	refs   []emit.Ref
	lines  []string
	synced uint64
}

func (s *refSink) Write(_ context.Context, b *emit.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range b.Events {
		r.Key = nil
		s.refs = append(s.refs, r)
		s.lines = append(s.lines, string(b.Data[r.Off:r.Off+r.Len]))
	}
	s.synced = b.Seq
	b.Release()
	return nil
}

func (s *refSink) Sync(context.Context, bool) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.synced, nil
}

func (s *refSink) Close() error { return nil }

// TestRefsCarryDedupeKeys: every Ref names its event's place in the binlog
// (what the S3 sink names objects by), rows of spilled transactions too.
func TestRefsCarryDedupeKeys(t *testing.T) {
	h := newHarness(t, srv)
	srv.Exec(t,
		"DROP DATABASE IF EXISTS refs", "CREATE DATABASE refs",
		"CREATE TABLE refs.a (id INT PRIMARY KEY, v VARCHAR(200))",
		"CREATE TABLE refs.b (id INT PRIMARY KEY, v VARCHAR(200))",
		"INSERT INTO refs.a VALUES (1, 'x'), (2, 'y'), (3, 'z')",
		"UPDATE refs.a SET v = 'w' WHERE id <= 2",
		// One transaction over TxMemoryBytes, spilled to disk.
		"USE refs",
		"BEGIN",
		"INSERT INTO refs.b SELECT seq, REPEAT('b', 200) FROM seq_1_to_200",
		"DELETE FROM refs.a WHERE id = 3",
		"COMMIT",
	)
	sink := &refSink{}
	cfg := h.cfg
	cfg.ExitWhenCaughtUp = true
	cfg.TxMemoryBytes = 4 << 10
	p, err := pipeline.New(cfg, h.store, func() ([]emit.Sink, error) { return []emit.Sink{sink}, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for i, r := range sink.refs {
		var e struct {
			Database, Table, Type string
			DedupeKey             string `json:"dedupe_key"`
			TS                    uint32 `json:"ts"`
		}
		if err := json.Unmarshal([]byte(sink.lines[i]), &e); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if r.Pos.IsZero() {
			t.Fatalf("event %d (%s) has no position", i, sink.lines[i])
		}
		want := string(event.AppendDedupeKey(nil, r.ServerID, r.Pos, r.Index))
		if e.DedupeKey != want || e.Database != r.Database || e.Table != r.Table || e.TS != r.Timestamp {
			t.Errorf("event %d: ref %+v does not match %s", i, r, sink.lines[i])
		}
		counts[fmt.Sprintf("%s.%s %s", e.Database, e.Table, e.Type)]++
	}
	want := map[string]int{"refs.a insert": 3, "refs.a update": 2, "refs.b insert": 200, "refs.a delete": 1}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("%s: %d events, want %d (all: %v)", k, counts[k], n, counts)
		}
	}
}
