package pipeline_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden from the events produced")

// volatile are the fields that differ from run to run: times, xids and
// binlog coordinates.
var volatile = []string{"ts", "xid", "xoffset", "position", "gtid", "server_id", "dedupe_key"}

// TestGolden runs each testdata/golden/NAME.sql in database NAME and compares
// the events with NAME.golden (volatile fields dropped, keys sorted).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("../testdata/golden/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden fixtures: %v", err)
	}
	for _, sqlFile := range files {
		name := strings.TrimSuffix(filepath.Base(sqlFile), ".sql")
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, srv)
			srv.ExecScript(t, "golden_"+name, sqlFile)
			h.catchUp()
			var got bytes.Buffer
			for _, ev := range h.events() {
				for _, k := range volatile {
					delete(ev, k)
				}
				b, err := json.Marshal(ev)
				if err != nil {
					t.Fatal(err)
				}
				got.Write(b)
				got.WriteByte('\n')
			}
			goldenFile := strings.TrimSuffix(sqlFile, ".sql") + ".golden"
			if *update {
				if err := os.WriteFile(goldenFile, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenFile)
			if err != nil {
				t.Fatalf("%v (run with -update to create it, then review it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				gl, wl := strings.Split(got.String(), "\n"), strings.Split(string(want), "\n")
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
		})
	}
}
