package pipeline

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/event"
)

// retentionMetrics show how close the checkpoint is to the binlog the
// server purges next (once the server drops the checkpoint's file, a
// restart cannot resume), whether heartbeat rows come back, and whether a
// snapshot is queued: what the alert rules in deploy/prometheus need.
type retentionMetrics struct {
	oldest, newest, files, bytes     *prometheus.GaugeVec
	cpFile, distFiles, distBytes     prometheus.Gauge
	heartbeatInterval, heartbeatSeen *prometheus.GaugeVec // absent while heartbeats are off
	snapshotQueued                   prometheus.Gauge
}

func newRetentionMetrics(reg prometheus.Registerer) *retentionMetrics {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	r := &retentionMetrics{
		cpFile: g("sluice_checkpoint_binlog_file_index",
			"Number of the binlog file the checkpoint is in (mysql-bin.000042 → 42)."),
		distFiles: g("sluice_checkpoint_binlog_files_from_oldest",
			"Binlog files the server still has before the checkpoint's file: 0 means the checkpoint is in the oldest file, the next the server purges."),
		distBytes: g("sluice_checkpoint_binlog_bytes_from_oldest",
			"Bytes of binlog the server still has before the checkpoint's position."),
		heartbeatInterval: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_heartbeat_interval_seconds",
			Help: "How often sluice writes its heartbeat row (absent when heartbeats are off)."}, nil),
		heartbeatSeen: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_heartbeat_seen_timestamp_seconds",
			Help: "When sluice last read its own heartbeat row back from the binlog (Unix seconds; set to the start of streaming before the first; absent when heartbeats are off). Standing still: the source takes no writes, or the stream is stuck."}, nil),
		snapshotQueued: g("sluice_snapshot_queued_tables",
			"Tables the checkpoint's snapshot still has to read, the running one included (0: no snapshot under way)."),
	}
	r.oldest = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_binlog_oldest_file_index",
		Help: "Number of the oldest binlog file the source server still has (SHOW BINARY LOGS); the file is in the label."}, []string{"file"})
	r.newest = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_binlog_newest_file_index",
		Help: "Number of the newest binlog file on the source server; the file is in the label."}, []string{"file"})
	r.files = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_binlog_files",
		Help: "Binlog files the source server still has."}, nil)
	r.bytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_binlog_bytes",
		Help: "Bytes of binlog the source server still has."}, nil)
	reg.MustRegister(r.oldest, r.newest, r.files, r.bytes, r.cpFile, r.distFiles, r.distBytes, r.heartbeatInterval, r.heartbeatSeen, r.snapshotQueued)
	return r
}

// retention is where the checkpoint stands in the server's binlogs.
type retention struct {
	Oldest, Newest  string
	Files           int
	Bytes           uint64
	FilesFromOldest int    // files before the checkpoint's file
	BytesFromOldest uint64 // bytes before the checkpoint's position
	Known           bool   // the checkpoint's file is among the server's
}

// measureRetention places cp among the server's files.
func measureRetention(files []binlog.File, cp event.Position) retention {
	var r retention
	if len(files) == 0 {
		return r
	}
	r.Oldest, r.Newest, r.Files = files[0].Name, files[len(files)-1].Name, len(files)
	for i, f := range files {
		r.Bytes += f.Size
		if r.Known {
			continue
		}
		if f.Name == cp.File {
			r.Known = true
			r.FilesFromOldest = i
			r.BytesFromOldest += min(cp.Offset, f.Size)
			continue
		}
		r.BytesFromOldest += f.Size
	}
	if !r.Known {
		r.BytesFromOldest = 0
	}
	return r
}

func (m *Metrics) retentionMeasured(r retention, cp event.Position) {
	if m == nil || r.Files == 0 {
		return
	}
	rm := m.retention
	rm.oldest.Reset()
	if n, ok := binlog.FileIndex(r.Oldest); ok {
		rm.oldest.WithLabelValues(r.Oldest).Set(float64(n))
	}
	rm.newest.Reset()
	if n, ok := binlog.FileIndex(r.Newest); ok {
		rm.newest.WithLabelValues(r.Newest).Set(float64(n))
	}
	rm.files.WithLabelValues().Set(float64(r.Files))
	rm.bytes.WithLabelValues().Set(float64(r.Bytes))
	if n, ok := binlog.FileIndex(cp.File); ok {
		rm.cpFile.Set(float64(n))
	}
	if r.Known {
		rm.distFiles.Set(float64(r.FilesFromOldest))
		rm.distBytes.Set(float64(r.BytesFromOldest))
	}
}

// heartbeatEvery is called as heartbeats start: the wait for the first
// counts from now.
func (m *Metrics) heartbeatEvery(d time.Duration, now time.Time) {
	if m != nil && d > 0 {
		m.retention.heartbeatInterval.WithLabelValues().Set(d.Seconds())
		m.heartbeatRowSeen(now)
	}
}

func (m *Metrics) heartbeatRowSeen(now time.Time) {
	if m != nil {
		m.retention.heartbeatSeen.WithLabelValues().Set(float64(now.UnixMicro()) / 1e6)
	}
}

func (m *Metrics) snapshotQueue(n int) {
	if m != nil {
		m.retention.snapshotQueued.Set(float64(n))
	}
}

// pollRetention reads SHOW BINARY LOGS every BinlogPollInterval and records
// how far the saved checkpoint is from the oldest file the server keeps.
// A failed poll is logged and tried again: it never stops the stream.
func (p *Pipeline) pollRetention(ctx context.Context) error {
	if p.cfg.BinlogPollInterval <= 0 {
		return nil
	}
	t := time.NewTicker(p.cfg.BinlogPollInterval)
	defer t.Stop()
	failing := 0
	for {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		files, err := binlog.Files(qctx, &p.cfg.Source)
		cancel()
		switch {
		case err == nil:
			failing = 0
			cp := p.savedPosition()
			r := measureRetention(files, cp)
			p.cfg.Metrics.retentionMeasured(r, cp)
			p.track(func(s *Status) {
				s.Binlog = BinlogStatus{Oldest: r.Oldest, Newest: r.Newest, Files: r.Files, Bytes: r.Bytes, FilesBeforeCheckpoint: r.FilesFromOldest, BytesBeforeCheckpoint: r.BytesFromOldest}
			})
		case ctx.Err() != nil:
			return nil
		default:
			if failing++; failing == 1 || failing%30 == 0 {
				p.log.Warn("binlog retention not measured; retrying", "failures", failing, "err", err.Error())
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
