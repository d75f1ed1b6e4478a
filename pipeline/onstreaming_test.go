package pipeline_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/pipeline"
)

// TestOnStreamingAfterChecks: readiness's hook is called only once the
// sinks opened (their checks passed); a sink check that fails never calls it.
func TestOnStreamingAfterChecks(t *testing.T) {
	for _, c := range []struct {
		name    string
		sinkErr error
		want    int64
	}{{"sink check fails", errors.New("s3 sink: bucket \"x\" does not exist"), 0}, {"checks pass", nil, 1}} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, srv)
			var calls atomic.Int64
			cfg := h.cfg
			cfg.ExitWhenCaughtUp = true
			cfg.OnStreaming = func() { calls.Add(1) }
			p, err := pipeline.New(cfg, h.store, func() ([]emit.Sink, error) {
				if c.sinkErr != nil {
					return nil, c.sinkErr
				}
				f, err := emit.OpenFile(h.out)
				return []emit.Sink{f}, err
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := p.Run(ctx); !errors.Is(err, c.sinkErr) {
				t.Fatalf("run: %v, want %v", err, c.sinkErr)
			}
			if got := calls.Load(); got != c.want {
				t.Fatalf("OnStreaming called %d times, want %d", got, c.want)
			}
		})
	}
}
