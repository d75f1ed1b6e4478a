package pipeline

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
)

// Status is a point-in-time view of a pipeline for operators: `sluice
// status`, the status page and its JSON. Metrics.Status returns it.
type Status struct {
	Pipeline string `json:"pipeline"`
	// Running is true from the start of Run to its end.
	Running bool `json:"running"`
	// Position and GTID are where the stored checkpoint is.
	Position string `json:"position,omitempty"`
	GTID     string `json:"gtid,omitempty"`
	// CheckpointSaved is when the checkpoint was last saved.
	CheckpointSaved time.Time `json:"checkpoint_saved,omitzero"`
	// CheckpointAgeSeconds is sluice_checkpoint_age_seconds: the age of the
	// checkpoint's transaction at its last save (0 when idle).
	CheckpointAgeSeconds float64 `json:"checkpoint_age_seconds"`
	// LagSeconds is sluice_replication_lag_seconds.
	LagSeconds float64 `json:"lag_seconds"`
	// LastProgress is when a transaction or heartbeat was last read.
	LastProgress time.Time `json:"last_progress,omitzero"`
	Events       uint64    `json:"events"`
	Transactions uint64    `json:"transactions"`
	// Tables counts the events delivered per table ("db.table"), its
	// DDL included.
	Tables   map[string]uint64 `json:"tables,omitempty"`
	Sinks    []SinkStatus      `json:"sinks"`
	Snapshot *SnapshotStatus   `json:"snapshot,omitempty"`
	Binlog   BinlogStatus      `json:"binlog"`
	// Error is what stopped the last Run, if it failed.
	Error string `json:"error,omitempty"`
}

// Sink states.
const (
	SinkOK       = "ok"
	SinkRetrying = "retrying" // the last Sync failed; it is tried again
	SinkHalted   = "halted"   // a Write failed and stopped the pipeline
)

// SinkStatus is one sink's state.
type SinkStatus struct {
	Name        string    `json:"name"`
	State       string    `json:"state"`
	Errors      uint64    `json:"errors"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// BufferedBytes and BufferCap are the event bytes the sink holds and
	// its cap (max_buffered_bytes); both 0 for sinks that hold nothing.
	BufferedBytes int64 `json:"buffered_bytes"`
	BufferCap     int64 `json:"buffer_cap"`
}

// SnapshotStatus is the table snapshot under way.
type SnapshotStatus struct {
	Table         string   `json:"table"`
	Rows          int64    `json:"rows"`
	EstimatedRows int64    `json:"estimated_rows"`
	Queued        []string `json:"queued,omitempty"`
}

// BinlogStatus is where the checkpoint stands among the server's binlogs.
type BinlogStatus struct {
	Oldest                string `json:"oldest,omitempty"`
	Newest                string `json:"newest,omitempty"`
	Files                 int    `json:"files"`
	Bytes                 uint64 `json:"bytes"`
	FilesBeforeCheckpoint int    `json:"files_before_checkpoint"`
	BytesBeforeCheckpoint uint64 `json:"bytes_before_checkpoint"`
}

// BufferReporter is a sink that holds events in memory up to a cap (S3,
// Kinesis, Kafka): Buffered returns the bytes held and the cap.
type BufferReporter interface {
	Buffered() (held, capacity int)
}

var (
	_ BufferReporter = (*emit.S3Sink)(nil)
	_ BufferReporter = (*emit.KinesisSink)(nil)
	_ BufferReporter = (*emit.KafkaSink)(nil)
)

// tracker holds what Status reports; Metrics updates it.
type tracker struct {
	mu       sync.Mutex
	s        Status
	cpPos    event.Position
	sinks    []emit.Sink
	sinkErrs map[string]*SinkStatus
	tables   map[tableKey]uint64

	snapTable    string
	snapEstimate int64
}

type tableKey struct{ db, table string }

func (m *Metrics) track(f func(*tracker)) {
	if m == nil {
		return
	}
	m.st.mu.Lock()
	defer m.st.mu.Unlock()
	f(&m.st)
}

func (p *Pipeline) track(f func(*Status)) {
	p.cfg.Metrics.track(func(t *tracker) { f(&t.s) })
}

// savedPosition is the stored checkpoint's position.
func (p *Pipeline) savedPosition() event.Position {
	var pos event.Position
	p.cfg.Metrics.track(func(t *tracker) { pos = t.cpPos })
	return pos
}

func (m *Metrics) runStarted(name string) {
	m.track(func(t *tracker) {
		t.s.Pipeline, t.s.Running, t.s.Error = name, true, ""
		t.sinks, t.sinkErrs = nil, map[string]*SinkStatus{}
	})
}

func (m *Metrics) runStopped(err error) {
	m.track(func(t *tracker) {
		t.s.Running = false
		t.sinks = nil // closed now: their buffers are gone
		if err != nil {
			t.s.Error = err.Error()
		}
	})
}

func (m *Metrics) sinksOpened(sinks []emit.Sink) {
	m.track(func(t *tracker) { t.sinks = slices.Clone(sinks) })
}

func (m *Metrics) sinkError(sink string, err error, halted bool) {
	if errors.Is(err, context.Canceled) {
		return // stopping, not failing
	}
	m.track(func(t *tracker) {
		if t.sinkErrs == nil {
			t.sinkErrs = map[string]*SinkStatus{}
		}
		s := t.sinkErrs[sink]
		if s == nil {
			s = &SinkStatus{Name: sink}
			t.sinkErrs[sink] = s
		}
		s.Errors++
		s.LastError, s.LastErrorAt = err.Error(), time.Now()
		s.State = SinkRetrying
		if halted && !errors.Is(err, errCaughtUp) {
			s.State = SinkHalted
		}
	})
}

func (m *Metrics) sinkSynced(sink string) {
	m.track(func(t *tracker) {
		if s := t.sinkErrs[sink]; s != nil && s.State == SinkRetrying {
			s.State = SinkOK
		}
	})
}

// countTables counts refs by table (before the batch goes to the sinks).
func (m *Metrics) countTables(refs []emit.Ref) map[tableKey]uint64 {
	if m == nil {
		return nil
	}
	n := make(map[tableKey]uint64, 4)
	for i := range refs {
		if refs[i].Table != "" { // not a database's DDL
			n[tableKey{refs[i].Database, refs[i].Table}]++
		}
	}
	return n
}

func (m *Metrics) tablesDelivered(n map[tableKey]uint64) {
	m.track(func(t *tracker) {
		if t.tables == nil {
			t.tables = map[tableKey]uint64{}
		}
		for k, c := range n {
			t.tables[k] += c
		}
	})
}

func (m *Metrics) checkpointSaved(cp *checkpoint.Checkpoint, now time.Time, age float64) {
	m.track(func(t *tracker) {
		t.cpPos = cp.Position
		t.s.Position, t.s.GTID = cp.Position.String(), cp.GTID
		t.s.CheckpointSaved, t.s.CheckpointAgeSeconds = now, age
		if cp.Snapshot != nil {
			m.snapshotQueue(len(cp.Snapshot.Queue))
		} else {
			m.snapshotQueue(0)
		}
		if cp.Snapshot.Idle() {
			t.s.Snapshot = nil
			return
		}
		if t.s.Snapshot == nil || t.s.Snapshot.Table != cp.Snapshot.Queue[0] {
			t.s.Snapshot = &SnapshotStatus{Table: cp.Snapshot.Queue[0]}
		}
		t.s.Snapshot.Rows = cp.Snapshot.Rows
		t.s.Snapshot.Queued = slices.Clone(cp.Snapshot.Queue[1:])
	})
}

// Status returns the pipeline's state now (zero without Metrics).
func (m *Metrics) Status() Status {
	if m == nil {
		return Status{}
	}
	var (
		s     Status
		sinks []emit.Sink
		errs  map[string]SinkStatus
	)
	m.track(func(t *tracker) {
		s = t.s
		if s.Snapshot != nil {
			snap := *s.Snapshot
			if snap.Table == t.snapTable {
				snap.EstimatedRows = t.snapEstimate
			}
			s.Snapshot = &snap
		}
		sinks = t.sinks
		errs = make(map[string]SinkStatus, len(t.sinkErrs))
		for k, v := range t.sinkErrs {
			errs[k] = *v
		}
		if len(t.tables) > 0 {
			s.Tables = make(map[string]uint64, len(t.tables))
			for k, n := range t.tables {
				s.Tables[k.db+"."+k.table] = n
			}
		}
	})
	// Counters are read from the metrics themselves: one source of truth.
	s.LagSeconds = gaugeValue(m.lag)
	s.Events = uint64(counterValue(m.events))
	s.Transactions = uint64(counterValue(m.transactions))
	if ts := gaugeValue(m.lastEvent); ts > 0 {
		s.LastProgress = time.Unix(int64(ts), 0)
	}
	seen := map[string]bool{}
	for _, sk := range sinks {
		name := sinkName(sk)
		seen[name] = true
		st := SinkStatus{Name: name, State: SinkOK}
		if e, ok := errs[name]; ok {
			st = e
		}
		if br, ok := sk.(BufferReporter); ok {
			held, capacity := br.Buffered()
			st.BufferedBytes, st.BufferCap = int64(held), int64(capacity)
		}
		s.Sinks = append(s.Sinks, st)
	}
	// Sinks of a run that stopped keep their last state (halted, most
	// likely), so the reason stays visible.
	for _, name := range slices.Sorted(maps.Keys(errs)) {
		if !seen[name] {
			s.Sinks = append(s.Sinks, errs[name])
		}
	}
	return s
}

func gaugeValue(g prometheus.Gauge) float64 {
	var d dto.Metric
	if g.Write(&d) != nil || d.Gauge == nil {
		return 0
	}
	return d.Gauge.GetValue()
}

func counterValue(c prometheus.Counter) float64 {
	var d dto.Metric
	if c.Write(&d) != nil || d.Counter == nil {
		return 0
	}
	return d.Counter.GetValue()
}

func (m *Metrics) snapshotEstimated(table string, estimate int64) {
	m.track(func(t *tracker) { t.snapTable, t.snapEstimate = table, estimate })
}
