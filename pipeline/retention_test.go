package pipeline_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/pipeline"
)

// TestBinlogRetentionMetrics: against a real server, the pipeline reads
// SHOW BINARY LOGS and reports the oldest file, and after FLUSH BINARY LOGS
// moves the server on, how many files the checkpoint is from the oldest.
func TestBinlogRetentionMetrics(t *testing.T) {
	h := newHarness(t, srv)
	reg := prometheus.NewRegistry()
	h.cfg.Metrics = pipeline.NewMetrics(reg)
	h.cfg.BinlogPollInterval = 50 * time.Millisecond
	files, err := binlog.Files(context.Background(), &h.cfg.Source)
	if err != nil || len(files) == 0 {
		t.Fatalf("binlog files: %v %v", files, err)
	}
	oldest, _ := binlog.FileIndex(files[0].Name)
	cpFile, _ := binlog.FileIndex(h.checkpoint().Position.File)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.pipeline(false).Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	want := map[string]float64{
		"sluice_binlog_oldest_file_index":            float64(oldest),
		"sluice_checkpoint_binlog_file_index":        float64(cpFile),
		"sluice_checkpoint_binlog_files_from_oldest": float64(cpFile - oldest),
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := gathered(t, reg)
		ok := true
		for k, v := range want {
			if got[k] != v {
				ok = false
			}
		}
		if ok && got["sluice_binlog_files"] >= 1 && got["sluice_checkpoint_binlog_bytes_from_oldest"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics %v, want %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	st := h.cfg.Metrics.Status()
	if st.Binlog.Oldest != files[0].Name || !st.Running || st.Position == "" {
		t.Fatalf("status %+v", st)
	}
}

func gathered(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				out[mf.GetName()] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[mf.GetName()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}
