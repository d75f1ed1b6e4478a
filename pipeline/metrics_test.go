package pipeline_test

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicecdc/sluice/pipeline"
)

// TestMetrics: the counters match what reached the sink, progress is
// reported for every transaction, and lag reads 0 after a heartbeat.
func TestMetrics(t *testing.T) {
	h := newHarness(t, srv)
	reg := prometheus.NewRegistry()
	h.cfg.Metrics = pipeline.NewMetrics(reg)
	var progress int
	h.cfg.OnProgress = func(time.Time) { progress++ }
	srv.Exec(t, "DROP DATABASE IF EXISTS metrics_db", "CREATE DATABASE metrics_db", "USE metrics_db",
		"CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1), (2), (3)", "DELETE FROM t WHERE id = 2")
	h.catchUp()
	lines := h.lines()
	var size int
	for _, l := range lines {
		size += len(l) + 1
	}
	if got := testutil.ToFloat64(h.cfg.Metrics.EventsCounter()); int(got) != len(lines) {
		t.Fatalf("sluice_events_total %v, sink holds %d events", got, len(lines))
	}
	if got := testutil.ToFloat64(h.cfg.Metrics.BytesCounter()); int(got) != size {
		t.Fatalf("sluice_event_bytes_total %v, sink holds %d bytes", got, size)
	}
	if progress < 5 { // database, table, insert, delete (+ the drop)
		t.Fatalf("OnProgress called %d times", progress)
	}
	n, err := testutil.GatherAndCount(reg, "sluice_replication_lag_seconds", "sluice_checkpoint_saved_timestamp_seconds")
	if err != nil || n != 2 {
		t.Fatalf("gathered %d metrics: %v", n, err)
	}
}
