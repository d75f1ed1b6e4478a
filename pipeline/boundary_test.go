package pipeline_test

import (
	"context"
	"encoding/json"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/pipeline"
)

// boundarySink keeps, per batch, its last event, its checkpoint and the
// key columns of its events.
type boundarySink struct {
	mu      sync.Mutex
	batches []seenBatch
	seq     uint64
}

type seenBatch struct {
	last    string
	cp      []byte
	keyCols map[string][]string // table -> KeyColumns
	nEvents int
}

func (s *boundarySink) Write(_ context.Context, b *emit.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sb := seenBatch{cp: append([]byte(nil), b.Checkpoint...), keyCols: map[string][]string{}, nEvents: len(b.Events)}
	if b.Checkpoint == nil {
		sb.cp = nil
	}
	for _, r := range b.Events {
		if len(r.Key) > 0 || r.KeyColumns != nil { // rows of keyed tables (DDL and keyless rows have neither)
			sb.keyCols[r.Table] = r.KeyColumns
		}
	}
	if n := len(b.Events); n > 0 {
		r := b.Events[n-1]
		sb.last = string(b.Data[r.Off : r.Off+r.Len])
	}
	s.batches = append(s.batches, sb)
	s.seq = b.Seq
	b.Release()
	return nil
}

func (s *boundarySink) Sync(context.Context, bool) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq, nil
}

func (s *boundarySink) Close() error { return nil }

// TestBatchesCarryTheirBoundary: a batch carries the checkpoint of the
// transaction boundary it ends at (what the Kafka sink commits with its
// records), and only then: the batches a large transaction is split into
// carry none but the last. Refs name the primary key's columns.
func TestBatchesCarryTheirBoundary(t *testing.T) {
	h := newHarness(t, srv)
	srv.Exec(t,
		"DROP DATABASE IF EXISTS bounds", "CREATE DATABASE bounds",
		"CREATE TABLE bounds.c (a INT, b VARCHAR(20), v VARCHAR(200), PRIMARY KEY (b, a))",
		"CREATE TABLE bounds.nokey (a INT, v VARCHAR(20))",
		"INSERT INTO bounds.c VALUES (1, 'x', 'v'), (2, 'z', 'v')",
		"INSERT INTO bounds.nokey VALUES (1, 'k')",
		"USE bounds",
		"BEGIN",
		"INSERT INTO bounds.c SELECT seq, CONCAT('s', seq), REPEAT('b', 200) FROM seq_10_to_400",
		"COMMIT",
		"INSERT INTO bounds.c VALUES (3, 'y', 'v')",
	)
	sink := &boundarySink{}
	cfg := h.cfg
	cfg.ExitWhenCaughtUp = true
	cfg.BatchBytes = 8 << 10 // the large transaction goes out in many batches
	p, err := pipeline.New(cfg, h.store, func() ([]emit.Sink, error) { return []emit.Sink{sink}, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	split, ends, keyed := 0, 0, 0
	for i, b := range sink.batches {
		if cols, ok := b.keyCols["c"]; ok {
			keyed++
			if !slices.Equal(cols, []string{"b", "a"}) {
				t.Fatalf("batch %d: key columns of bounds.c %v, want [b a]", i, cols)
			}
		}
		if cols, ok := b.keyCols["nokey"]; ok {
			t.Fatalf("batch %d: key columns %v for a keyless table", i, cols)
		}
		if b.nEvents == 0 {
			continue
		}
		var last struct {
			Type   string
			Commit bool
		}
		if err := json.Unmarshal([]byte(b.last), &last); err != nil {
			t.Fatal(err)
		}
		row := last.Type == "insert" || last.Type == "update" || last.Type == "delete"
		switch {
		case row && !last.Commit:
			split++
			if b.cp != nil {
				t.Fatalf("batch %d ends inside a transaction but carries checkpoint %s", i, b.cp)
			}
		case b.cp == nil:
			t.Fatalf("batch %d ends a transaction (%s) without its checkpoint", i, b.last)
		default:
			ends++
			cp, err := checkpoint.Decode(b.cp)
			if err != nil || cp.Pipeline != "test" || cp.Position.File == "" {
				t.Fatalf("batch %d: checkpoint %s: %+v, %v", i, b.cp, cp, err)
			}
		}
	}
	if split == 0 || ends == 0 || keyed == 0 {
		t.Fatalf("%d batches ending inside a transaction, %d at a boundary, %d with keyed rows: want all", split, ends, keyed)
	}
}
