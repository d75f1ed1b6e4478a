package status

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/pipeline"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the golden files in testdata")

var at = time.Date(2026, 12, 5, 4, 0, 0, 0, time.UTC)

func docs() map[string]Doc {
	healthy := Doc{At: at, Role: "leader", Node: "n1", Epoch: 7, Term: 3, Ready: true, Source: "http", EventsPerSecond: 1234.56,
		Pipeline: pipeline.Status{Pipeline: "orders", Running: true, Position: "mysql-bin.000042:18812", GTID: "0-1-9731",
			LagSeconds: 0.35, CheckpointAgeSeconds: 1.2, LastProgress: at.Add(-time.Second),
			Sinks: []pipeline.SinkStatus{
				{Name: "S3Sink", State: pipeline.SinkOK, BufferedBytes: 12 << 20, BufferCap: 256 << 20},
				{Name: "KinesisSink", State: pipeline.SinkRetrying, Errors: 3, LastError: "kinesis sink: PutRecords: ProvisionedThroughputExceededException:\n rate exceeded", LastErrorAt: at.Add(-4 * time.Second), BufferCap: 64 << 20},
			},
			Snapshot: &pipeline.SnapshotStatus{Table: "shop.orders", Rows: 50000, EstimatedRows: 200000, Queued: []string{"shop.items"}},
		}}
	lagging := healthy
	lagging.Pipeline.LagSeconds = 420
	lagging.Pipeline.CheckpointAgeSeconds = 1000
	lagging.Pipeline.Snapshot = nil
	halted := healthy
	halted.Pipeline.Running = false
	halted.Pipeline.Sinks = []pipeline.SinkStatus{{Name: "FileSink", State: pipeline.SinkHalted, Errors: 1, LastError: "write events.jsonl: no space left on device", LastErrorAt: at.Add(-time.Minute)}}
	halted.Pipeline.Error = "write events.jsonl: no space left on device"
	stalled := healthy
	stalled.Pipeline.LastProgress = at.Add(-10 * time.Minute) // lag gauge stands still at 0.35s
	follower := lagging
	follower.Role, follower.Node, follower.LeaderID = "follower", "n2", "n1"
	follower.Pipeline.Running = false // figures of an earlier term
	follower.Pipeline.Sinks = nil
	store := Doc{At: at, Role: "standalone", Source: "checkpoint", Pipeline: pipeline.Status{Pipeline: "orders", Position: "mysql-bin.000003:4"}}
	return map[string]Doc{"healthy": healthy, "lagging": lagging, "halted": halted, "stalled": stalled, "store": store, "follower": follower}
}

// TestWriteTable: the table for each document matches testdata/<name>.txt
// (go test -rewrite to regenerate), and Problems flags exactly the
// unhealthy ones.
func TestWriteTable(t *testing.T) {
	unhealthy := map[string]int{"lagging": 2, "halted": 1, "stalled": 1}
	for name, d := range docs() {
		var b bytes.Buffer
		if err := WriteTable(&b, d, DefaultThresholds()); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", name+".txt")
		if *rewrite {
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Errorf("%s: table\n%s\nwant\n%s", name, b.Bytes(), want)
		}
		if got := len(d.Problems(DefaultThresholds())); got != unhealthy[name] {
			t.Errorf("%s: %d problems %q, want %d", name, got, d.Problems(DefaultThresholds()), unhealthy[name])
		}
	}
}

func TestRingRate(t *testing.T) {
	r := newRing(4)
	for i := range 10 {
		r.add(Sample{At: at.Add(time.Duration(i) * 10 * time.Second), Events: uint64(i * 100)})
	}
	all := r.all()
	if len(all) != 4 || all[0].Events != 600 || all[3].Events != 900 {
		t.Fatalf("ring keeps %+v", all)
	}
	now := at.Add(100 * time.Second)
	// Oldest sample within a minute: t=60s with 600 events; 1000 now.
	if got := r.rate(now, time.Minute, 1000); got != 10 {
		t.Fatalf("rate = %v, want 10", got)
	}
	if got := r.rate(at.Add(time.Hour), time.Minute, 1000); got != 0 {
		t.Fatalf("rate with no sample in the window = %v", got)
	}
}
