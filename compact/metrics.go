package compact

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the compactor's Prometheus metrics (none without a
// Registerer).
type metrics struct {
	freshness *prometheus.GaugeVec
	lag       *prometheus.GaugeVec
	runs      *prometheus.CounterVec
	conflicts *prometheus.CounterVec
	nulled    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		freshness: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_compact_table_freshness_seconds",
			Help: "Source commit time (Unix seconds) of the newest change the snapshot table holds.",
		}, []string{"table"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "sluice_compact_table_lag_seconds",
			Help: "Seconds between the newest change the snapshot table holds and the end of the table's last run.",
		}, []string{"table"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_compact_table_runs_total",
			Help: "Runs of each table by status (compacted, advanced, unchanged, skipped, failed) and mode.",
		}, []string{"table", "status", "mode"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_compact_commit_conflicts_total",
			Help: "Runs of a table run again because another process committed the table first.",
		}, []string{"table"}),
		nulled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "sluice_compact_nulled_values_total",
			Help: "Values written as NULL because their temporal column cannot hold them (zero dates, TIME outside a day).",
		}, []string{"table"}),
	}
	for _, c := range []prometheus.Collector{m.freshness, m.lag, m.runs, m.conflicts, m.nulled} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metrics: %w", err)
		}
	}
	return m, nil
}

// observe records a run's report.
func (m *metrics) observe(rep *Report) {
	if m == nil {
		return
	}
	for _, t := range rep.Tables {
		m.runs.WithLabelValues(t.Table, t.Status, t.Mode).Inc()
		if t.Attempts > 1 {
			m.conflicts.WithLabelValues(t.Table).Add(float64(t.Attempts - 1))
		}
		if t.Nulled > 0 {
			m.nulled.WithLabelValues(t.Table).Add(float64(t.Nulled))
		}
		if !t.Freshness.IsZero() {
			m.freshness.WithLabelValues(t.Table).Set(float64(t.Freshness.Unix()))
			m.lag.WithLabelValues(t.Table).Set(t.Lag.Seconds())
		}
	}
}
