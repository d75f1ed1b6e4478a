package pipeline_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/pipeline"
)

// recordingStore counts saves made after a moment is marked.
type recordingStore struct {
	*checkpoint.MemoryStore
	mu        sync.Mutex
	afterMark int
	marked    bool
}

func (s *recordingStore) Save(ctx context.Context, cp *checkpoint.Checkpoint) error {
	s.mu.Lock()
	if s.marked {
		s.afterMark++
	}
	s.mu.Unlock()
	return s.MemoryStore.Save(ctx, cp)
}

func (s *recordingStore) mark() {
	s.mu.Lock()
	s.marked = true
	s.mu.Unlock()
}

var errLost = errors.New("leadership lost")

// TestSkipFinalSave: a pipeline stopped because leadership was lost saves
// no checkpoint on its way out; stopped for any other reason, it saves the
// last acknowledged boundary.
func TestSkipFinalSave(t *testing.T) {
	for _, c := range []struct {
		name  string
		cause error
		saves bool
	}{{"leadership lost", errLost, false}, {"plain stop", nil, true}} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, srv)
			cp := h.checkpoint()
			store := &recordingStore{MemoryStore: checkpoint.NewMemoryStore(cp)}
			cfg := h.cfg
			cfg.CheckpointInterval = time.Hour // only the final save could save
			ctx, cancel := context.WithCancelCause(context.Background())
			cfg.SkipFinalSave = func() bool { return errors.Is(context.Cause(ctx), errLost) }
			p, err := pipeline.New(cfg, store, func() ([]emit.Sink, error) {
				f, err := emit.OpenFile(h.out)
				return []emit.Sink{f}, err
			})
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			srv.Exec(t, "DROP DATABASE IF EXISTS finalsave_db", "CREATE DATABASE finalsave_db", "CREATE TABLE finalsave_db.t (id INT PRIMARY KEY)", "INSERT INTO finalsave_db.t VALUES (1)")
			for deadline := time.Now().Add(20 * time.Second); p.Delivered() < 3; time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("delivered %d events", p.Delivered())
				}
			}
			store.mark()
			cancel(c.cause)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := store.afterMark > 0; got != c.saves {
				t.Fatalf("saves after the stop: %d, want any: %v", store.afterMark, c.saves)
			}
		})
	}
}
