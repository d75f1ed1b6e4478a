package pipeline_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/pipeline"
)

// flakySink keeps nothing; its Sync fails while syncErr is set and its
// Write fails once writeErr is set.
type flakySink struct {
	mu                sync.Mutex
	seq               uint64
	syncErr, writeErr error
	held              int
}

func (s *flakySink) Write(_ context.Context, b *emit.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writeErr != nil {
		return s.writeErr
	}
	s.seq = b.Seq
	s.held += len(b.Data)
	b.Release()
	return nil
}

func (s *flakySink) Sync(context.Context, bool) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.syncErr != nil {
		return 0, s.syncErr
	}
	return s.seq, nil
}

func (s *flakySink) Close() error { return nil }

// Buffered makes it a BufferReporter.
func (s *flakySink) Buffered() (int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held, 1 << 20
}

func (s *flakySink) set(f func(*flakySink)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

// TestStatusSinkStates: Metrics.Status follows a running pipeline: the
// checkpoint's position, events per table, the sink's buffered bytes;
// a failing Sync shows the sink retrying with its error, ok again once it
// syncs; a failing Write halts the pipeline and shows the sink halted with
// the error that stopped the run.
func TestStatusSinkStates(t *testing.T) {
	h := newHarness(t, srv)
	h.cfg.Metrics = pipeline.NewMetrics(prometheus.NewRegistry())
	sink := &flakySink{}
	p, err := pipeline.New(h.cfg, h.store, func() ([]emit.Sink, error) { return []emit.Sink{sink}, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	t.Cleanup(func() {
		cancel()
		if !stopped {
			<-done
		}
	})
	status := func(want string, ok func(pipeline.Status) bool) pipeline.Status {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			st := h.cfg.Metrics.Status()
			if ok(st) {
				return st
			}
			if time.Now().After(deadline) {
				t.Fatalf("status never showed %s: %+v", want, st)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	srv.Exec(t, "DROP DATABASE IF EXISTS st", "CREATE DATABASE st", "CREATE TABLE st.a (id INT PRIMARY KEY)", "CREATE TABLE st.b (id INT PRIMARY KEY)",
		"INSERT INTO st.a VALUES (1), (2), (3)", "INSERT INTO st.b VALUES (1)")
	// CREATE TABLE and the inserts; CREATE DATABASE is no table's.
	st := status("events of st.a and st.b", func(s pipeline.Status) bool {
		return s.Tables["st.a"] == 4 && s.Tables["st.b"] == 2 && len(s.Tables) == 2
	})
	if !st.Running || st.Position == "" || len(st.Sinks) != 1 || st.Sinks[0].State != pipeline.SinkOK || st.Sinks[0].BufferCap != 1<<20 || st.Sinks[0].BufferedBytes == 0 {
		t.Fatalf("status of a healthy run: %+v", st)
	}

	sink.set(func(s *flakySink) { s.syncErr = errors.New("bucket unreachable") })
	st = status("the sink retrying", func(s pipeline.Status) bool {
		return len(s.Sinks) == 1 && s.Sinks[0].State == pipeline.SinkRetrying
	})
	if st.Sinks[0].LastError != "bucket unreachable" || st.Sinks[0].Errors == 0 || !st.Running {
		t.Fatalf("retrying sink: %+v", st.Sinks[0])
	}
	sink.set(func(s *flakySink) { s.syncErr = nil })
	status("the sink ok again", func(s pipeline.Status) bool { return len(s.Sinks) == 1 && s.Sinks[0].State == pipeline.SinkOK })

	sink.set(func(s *flakySink) { s.writeErr = errors.New("disk full") })
	srv.Exec(t, "INSERT INTO st.a VALUES (4)")
	select {
	case err := <-done:
		stopped = true
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("run ended with %v, want the sink's write error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a failing Write did not stop the pipeline")
	}
	st = h.cfg.Metrics.Status()
	if st.Running || !strings.Contains(st.Error, "disk full") || len(st.Sinks) != 1 || st.Sinks[0].State != pipeline.SinkHalted || st.Sinks[0].LastError != "disk full" {
		t.Fatalf("status after the halt: %+v", st)
	}
}
