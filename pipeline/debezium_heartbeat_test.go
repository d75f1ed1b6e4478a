package pipeline_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/pipeline"
)

// TestDebeziumHeartbeats: with the Debezium format each of the pipeline's
// heartbeat rows comes out as a __debezium-heartbeat record {"ts_ms":...}
// holding the time the row was written; other pipelines' heartbeat rows and
// the Maxwell format give none.
func TestDebeziumHeartbeats(t *testing.T) {
	for _, format := range []pipeline.Format{pipeline.FormatDebezium, pipeline.FormatMaxwell} {
		for _, schemas := range []bool{false, true} {
			if format == pipeline.FormatMaxwell && schemas {
				continue
			}
			t.Run(fmt.Sprint(format, "/schemas=", schemas), func(t *testing.T) {
				srv.Exec(t, "DROP DATABASE IF EXISTS dbzhb", "CREATE DATABASE dbzhb",
					"CREATE TABLE dbzhb.heartbeat (pipeline VARCHAR(64) PRIMARY KEY, ts DATETIME(6) NOT NULL)")
				h := newHarness(t, srv)
				h.cfg.Format = format
				h.cfg.Debezium = event.DefaultDebeziumOptions()
				h.cfg.Debezium.SchemasEnable = schemas
				h.cfg.HeartbeatTable, h.cfg.HeartbeatInterval = "dbzhb.heartbeat", time.Second
				srv.Exec(t,
					"REPLACE INTO dbzhb.heartbeat VALUES ('test', '2026-01-02 03:04:05.678901')",
					"REPLACE INTO dbzhb.heartbeat VALUES ('other', '2026-01-02 03:04:06.000000')",
					"REPLACE INTO dbzhb.heartbeat VALUES ('test', '2026-01-02 03:04:07.000000')")
				h.catchUp()
				var got []string
				for i, l := range h.lines() {
					ev := decodeEvent(t, i, l)
					if schemas {
						s := ev["schema"].(map[string]any)
						if s["name"] != "io.debezium.connector.common.Heartbeat" {
							continue
						}
						ev = ev["payload"].(map[string]any)
					}
					if len(ev) == 1 && ev["ts_ms"] != nil {
						got = append(got, fmt.Sprint(ev["ts_ms"]))
					}
					if ev["database"] == "dbzhb" || ev["source"] != nil && ev["source"].(map[string]any)["db"] == "dbzhb" && ev["op"] != nil {
						t.Errorf("a heartbeat row was emitted as a change: %s", l)
					}
				}
				want := []string{fmt.Sprint(time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC).UnixMilli()), fmt.Sprint(time.Date(2026, 1, 2, 3, 4, 7, 0, time.UTC).UnixMilli())}
				if format == pipeline.FormatMaxwell {
					want = nil
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("heartbeat records %v, want %v", got, want)
				}
			})
		}
	}
}
