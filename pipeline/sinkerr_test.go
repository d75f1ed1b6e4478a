package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/pipeline"
)

// failingSink is a file sink whose Syncs fail with err while fails > 0.
type failingSink struct {
	emit.Sink
	mu    sync.Mutex
	fails int
	err   error
	calls int
}

func (s *failingSink) Sync(ctx context.Context, force bool) (uint64, error) {
	s.mu.Lock()
	s.calls++
	if s.fails != 0 {
		s.fails--
		s.mu.Unlock()
		return 0, s.err
	}
	s.mu.Unlock()
	return s.Sink.Sync(ctx, force)
}

// TestSinkErrorClasses: a sink error marked permanent stops the run at
// once with the sink, the error and the fix; a transient one is retried
// until the sink answers, and the run catches up.
func TestSinkErrorClasses(t *testing.T) {
	denied := &emit.PermanentError{Sink: "s3 sink", Err: errors.New("put x: AccessDenied"), Fix: "give sluice's credentials s3:PutObject"}
	for _, c := range []struct {
		name    string
		fails   int
		err     error
		wantErr string
	}{
		{"permanent", -1, denied, "AccessDenied"},
		{"transient", 5, errors.New("connection refused"), ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, srv)
			srv.Exec(t, "DROP DATABASE IF EXISTS sinkerr_db", "CREATE DATABASE sinkerr_db", "CREATE TABLE sinkerr_db.t (id INT PRIMARY KEY)", "INSERT INTO sinkerr_db.t VALUES (1)")
			sink := &failingSink{fails: c.fails, err: c.err}
			before := h.checkpoint().Position
			cfg := h.cfg
			// The checkpoint loop meets the errors: a permanent one must stop
			// the run by itself; a transient one is retried until it is stopped.
			cfg.CheckpointInterval = 20 * time.Millisecond
			p, err := pipeline.New(cfg, h.store, func() ([]emit.Sink, error) {
				f, err := emit.OpenFile(h.out)
				sink.Sink = f
				return []emit.Sink{sink}, err
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			if c.wantErr == "" {
				done := make(chan error, 1)
				go func() { done <- p.Run(ctx) }()
				for h.checkpoint().Position == before {
					if time.Since(start) > 20*time.Second {
						t.Fatal("the checkpoint never moved past the transient sink errors")
					}
					time.Sleep(20 * time.Millisecond)
				}
				cancel()
				if err := <-done; err != nil && !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("run over transient sink errors: %v", err)
				}
				sink.mu.Lock()
				defer sink.mu.Unlock()
				if sink.calls <= c.fails {
					t.Fatalf("%d syncs: the transient errors were not retried", sink.calls)
				}
				return
			}
			err = p.Run(ctx)
			if ctx.Err() != nil || time.Since(start) > 10*time.Second {
				t.Fatalf("run over a permanent sink error went on for %v: %v", time.Since(start), err)
			}
			if !emit.Permanent(err) {
				t.Fatalf("run: %v, want the sink's permanent error", err)
			}
			for _, want := range []string{"failingSink", c.wantErr, "s3:PutObject"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}
}
