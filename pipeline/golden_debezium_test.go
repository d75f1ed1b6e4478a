package pipeline_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/pipeline"
)

// debeziumVolatile are the fields of a Debezium event that differ from run
// to run, at the top level and in source.
var (
	debeziumVolatile       = []string{"ts_ms"}
	debeziumSourceVolatile = []string{"ts_ms", "file", "pos", "gtid", "server_id", "thread"}
)

// TestGoldenDebezium runs the same testdata/golden/NAME.sql fixtures as
// TestGolden with the Debezium format and compares the events with
// testdata/golden-debezium/NAME.golden (volatile fields dropped, keys
// sorted). -update rewrites them.
func TestGoldenDebezium(t *testing.T) {
	files, err := filepath.Glob("../testdata/golden/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden fixtures: %v", err)
	}
	for _, sqlFile := range files {
		name := strings.TrimSuffix(filepath.Base(sqlFile), ".sql")
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, srv)
			h.cfg.Format = pipeline.FormatDebezium
			srv.ExecScript(t, "golden_"+name, sqlFile)
			h.catchUp()
			var got bytes.Buffer
			for i, ev := range h.events() {
				for _, k := range debeziumVolatile {
					delete(ev, k)
				}
				src, ok := ev["source"].(map[string]any)
				if !ok {
					t.Fatalf("event %d has no source object: %v", i, ev)
				}
				for _, k := range debeziumSourceVolatile {
					delete(src, k)
				}
				b, err := json.Marshal(ev)
				if err != nil {
					t.Fatal(err)
				}
				got.Write(b)
				got.WriteByte('\n')
			}
			compareGoldenFile(t, filepath.Join("..", "testdata", "golden-debezium", name+".golden"), got.Bytes())
		})
	}
}

// compareGoldenFile compares got with the golden file, or with -update
// writes got to it.
func compareGoldenFile(t *testing.T, goldenFile string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(goldenFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(goldenFile)
	if err != nil {
		t.Fatalf("%v (run with -update to create it, then review it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("event %d differs from %s:\n got: %s\nwant: %s", i, goldenFile, g, w)
		}
	}
}
