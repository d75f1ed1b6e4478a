package pipeline

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicecdc/sluice/checkpoint"
)

// Metrics are the pipeline's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	events        prometheus.Counter
	bytes         prometheus.Counter
	transactions  prometheus.Counter
	lag           prometheus.Gauge
	lastEvent     prometheus.Gauge
	checkpointAge prometheus.Gauge
	checkpointTS  prometheus.Gauge
	saveErrors    prometheus.Counter
	sinkErrors    *prometheus.CounterVec

	snapRows     prometheus.Counter
	snapDropped  prometheus.Counter
	snapChunks   prometheus.Counter
	snapEstimate *prometheus.GaugeVec

	retention *retentionMetrics
	st        tracker // what Status reports
}

// NewMetrics registers the pipeline's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_events_total",
			Help: "Change events handed to every sink."}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_event_bytes_total",
			Help: "Bytes of encoded events handed to every sink."}),
		transactions: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_transactions_total",
			Help: "Committed transactions read from the binlog."}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_replication_lag_seconds",
			Help: "Seconds between a transaction's commit on the source and sluice reading it; 0 when a heartbeat says sluice is caught up."}),
		lastEvent: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_last_progress_timestamp_seconds",
			Help: "When sluice last read a transaction or a heartbeat (Unix seconds): a stall shows as this standing still."}),
		checkpointAge: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_checkpoint_age_seconds",
			Help: "Seconds since the commit time of the transaction the stored checkpoint is at (0 while idle and caught up)."}),
		checkpointTS: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_checkpoint_saved_timestamp_seconds",
			Help: "When the checkpoint was last saved (Unix seconds)."}),
		saveErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_checkpoint_save_errors_total",
			Help: "Checkpoint saves that failed (and were retried)."}),
		sinkErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_sink_errors_total",
			Help: "Errors returned by a sink's Write or Sync."}, []string{"sink"}),
	}
	m.snapRows = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_snapshot_rows_total",
		Help: "Rows a table snapshot emitted as bootstrap-insert events."})
	m.snapDropped = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_snapshot_rows_superseded_total",
		Help: "Rows a snapshot chunk read but did not emit, because a binlog event between the chunk's watermarks changed them."})
	m.snapChunks = prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_snapshot_chunks_total",
		Help: "Snapshot chunks emitted."})
	m.snapEstimate = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_snapshot_table_estimated_rows",
		Help: "The server's estimate of the rows of the table being snapshotted (progress: sluice_snapshot_rows_total against it)."}, []string{"table"})
	reg.MustRegister(m.events, m.bytes, m.transactions, m.lag, m.lastEvent, m.checkpointAge, m.checkpointTS, m.saveErrors, m.sinkErrors,
		m.snapRows, m.snapDropped, m.snapChunks, m.snapEstimate)
	m.retention = newRetentionMetrics(reg)
	return m
}

func (m *Metrics) delivered(events, bytes int) {
	if m == nil {
		return
	}
	m.events.Add(float64(events))
	m.bytes.Add(float64(bytes))
}

// committed records a transaction read at now, committed at ts.
func (m *Metrics) committed(ts uint32, now time.Time) {
	if m == nil {
		return
	}
	m.transactions.Inc()
	m.lag.Set(max(0, now.Sub(time.Unix(int64(ts), 0)).Seconds()))
	m.lastEvent.Set(float64(now.Unix()))
}

func (m *Metrics) heartbeat(now time.Time) {
	if m == nil {
		return
	}
	m.lag.Set(0)
	m.lastEvent.Set(float64(now.Unix()))
}

// heartbeatLag records the lag a heartbeat row measured end to end.
func (m *Metrics) heartbeatLag(lag time.Duration, now time.Time) {
	if m == nil {
		return
	}
	m.lag.Set(max(0, lag.Seconds()))
	m.lastEvent.Set(float64(now.Unix()))
	m.heartbeatRowSeen(now)
}

func (m *Metrics) saved(cp *checkpoint.Checkpoint, now time.Time, idle bool) {
	if m == nil {
		return
	}
	m.checkpointTS.Set(float64(now.Unix()))
	age := 0.0
	if !idle && cp.Timestamp != 0 {
		age = max(0, now.Sub(time.Unix(int64(cp.Timestamp), 0)).Seconds())
	}
	m.checkpointAge.Set(age)
	m.checkpointSaved(cp, now, age)
}

func (m *Metrics) saveFailed() {
	if m != nil {
		m.saveErrors.Inc()
	}
}

// sinkFailed counts a sink's error; halted says it stops the pipeline.
func (m *Metrics) sinkFailed(sink string, err error, halted bool) {
	if m != nil {
		m.sinkErrors.WithLabelValues(sink).Inc()
		m.sinkError(sink, err, halted)
	}
}

// EventsCounter and BytesCounter expose the delivery counters (for tests
// and for callers that combine metrics).
func (m *Metrics) EventsCounter() prometheus.Counter { return m.events }

// BytesCounter: see EventsCounter.
func (m *Metrics) BytesCounter() prometheus.Counter { return m.bytes }

// LagGauge exposes the replication lag gauge (for tests).
func (m *Metrics) LagGauge() prometheus.Gauge { return m.lag }

func (m *Metrics) snapshotChunk(emitted, superseded int64) {
	if m == nil {
		return
	}
	m.snapChunks.Inc()
	m.snapRows.Add(float64(emitted))
	m.snapDropped.Add(float64(superseded))
}

func (m *Metrics) snapshotTable(table string, estimate int64) {
	if m == nil {
		return
	}
	m.snapEstimate.Reset()
	m.snapEstimate.WithLabelValues(table).Set(float64(estimate))
	m.snapshotEstimated(table, estimate)
}

// SnapshotSupersededCounter exposes the count of snapshot rows the binlog
// superseded inside a window (for tests).
func (m *Metrics) SnapshotSupersededCounter() prometheus.Counter { return m.snapDropped }
