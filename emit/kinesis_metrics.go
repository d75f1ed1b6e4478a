package emit

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// KinesisStats are the Kinesis sink's counters since it was created.
type KinesisStats struct {
	// Records and Bytes count the Kinesis records accepted and their data
	// bytes; Events the events (or parts of events) in them, which is
	// more than Records when aggregating.
	Records, Bytes, Events int64
	// Retries counts records sent again: refused, in a failed request, or
	// (relaxed ordering) resent to keep their key's order behind a refused
	// one.
	Retries int64
	// Throttles counts records (and whole requests) refused for
	// throughput: ProvisionedThroughputExceeded, KMS throttling.
	Throttles int64
	// InFlight is the records in requests under way now.
	InFlight int64
	// LastCommitTimestamp is the commit time, in seconds since the epoch,
	// of the latest event in a durable batch: now minus it is the sink's
	// lag.
	LastCommitTimestamp int64
}

// kinesisStats holds the counters; Prometheus reads them through
// collectors, so the hot path only adds.
type kinesisStats struct {
	records, bytes, events, retries, throttles, inFlight, lastCommit atomic.Int64
}

func (st *kinesisStats) recordsAccepted(u *kinesisUnit) {
	st.records.Add(1)
	st.bytes.Add(int64(len(u.entry.Data)))
	n := 0
	for _, sh := range u.shares {
		n += sh.n
	}
	st.events.Add(int64(n))
}

func (st *kinesisStats) durableCommit(ts uint32) {
	if int64(ts) > st.lastCommit.Load() {
		st.lastCommit.Store(int64(ts))
	}
}

func (st *kinesisStats) snapshot() KinesisStats {
	return KinesisStats{
		Records: st.records.Load(), Bytes: st.bytes.Load(), Events: st.events.Load(),
		Retries: st.retries.Load(), Throttles: st.throttles.Load(), InFlight: st.inFlight.Load(),
		LastCommitTimestamp: st.lastCommit.Load(),
	}
}

// collectors returns the metrics, labelled with the stream:
//
//	sluice_kinesis_records_total                     records accepted
//	sluice_kinesis_bytes_total                       their data bytes
//	sluice_kinesis_events_total                      events (or parts) in them
//	sluice_kinesis_retries_total                     records sent again
//	sluice_kinesis_throttles_total                   throttled records and requests
//	sluice_kinesis_in_flight_records                 records in requests under way
//	sluice_kinesis_last_commit_timestamp_seconds     commit time of the latest durable event
func (st *kinesisStats) collectors(stream string) []prometheus.Collector {
	labels := prometheus.Labels{"stream": stream}
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Namespace: "sluice", Subsystem: "kinesis", Name: name, Help: help, ConstLabels: labels,
		}, func() float64 { return float64(v.Load()) })
	}
	gauge := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: "sluice", Subsystem: "kinesis", Name: name, Help: help, ConstLabels: labels,
		}, func() float64 { return float64(v.Load()) })
	}
	return []prometheus.Collector{
		counter("records_total", "Kinesis records accepted by the stream.", &st.records),
		counter("bytes_total", "Data bytes of the Kinesis records accepted.", &st.bytes),
		counter("events_total", "Events, or parts of events, in the Kinesis records accepted.", &st.events),
		counter("retries_total", "Records sent again: refused, in a failed request, or resent behind a refused record of their key.", &st.retries),
		counter("throttles_total", "Records and requests refused for throughput (ProvisionedThroughputExceeded, KMS throttling).", &st.throttles),
		gauge("in_flight_records", "Records in PutRecords requests under way.", &st.inFlight),
		gauge("last_commit_timestamp_seconds", "Commit time of the latest event in a batch Kinesis fully accepted.", &st.lastCommit),
	}
}
