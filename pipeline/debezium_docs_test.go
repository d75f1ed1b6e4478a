package pipeline_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/pipeline"
)

// debeziumTheirServer are the source fields of Debezium's documentation
// examples that describe the server and connector they ran against (binlog
// coordinates, its thread id, and the query, which Debezium writes only with
// include.query on), besides ts_ms and version: present in both, compared by
// presence only.
var debeziumTheirServer = []string{"ts_ms", "version", "server_id", "gtid", "file", "pos", "thread", "query"}

// TestDebeziumDocumentationExamples runs the statements behind the create,
// update and delete examples of Debezium's MySQL connector documentation
// (testdata/golden-debezium/docs/customers.sql) against the real server with
// topic.prefix mysql-server-1 and schemas on, and compares the events with
// the documented ones (docs/*.json) field by field: the payload's before,
// after and op exactly, every source field present, the row's value schema
// exactly, and the envelope's and source's field names and schema names.
// The documentation's source.snapshot is the boolean of Debezium 1.x;
// Debezium 2 writes the string "false", as sluice does: compared as text.
func TestDebeziumDocumentationExamples(t *testing.T) {
	h := newHarness(t, srv)
	h.cfg.Name = "mysql-server-1"
	h.cfg.Format = pipeline.FormatDebezium
	h.cfg.Debezium = event.DefaultDebeziumOptions()
	h.cfg.Debezium.SchemasEnable = true
	dir := filepath.Join("..", "testdata", "golden-debezium", "docs")
	srv.ExecScript(t, "inventory", filepath.Join(dir, "customers.sql"))
	h.catchUp()
	var got []map[string]any
	for i, l := range h.lines() {
		ev := decodeEvent(t, i, l)
		if p, ok := ev["payload"].(map[string]any); ok && p["op"] != nil {
			got = append(got, ev)
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d row events, want create, update and delete", len(got))
	}
	for i, name := range []string{"create", "update", "delete"} {
		b, err := os.ReadFile(filepath.Join(dir, name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		want := decodeEvent(t, i, b)
		t.Run(name, func(t *testing.T) {
			gp, wp := got[i]["payload"].(map[string]any), want["payload"].(map[string]any)
			for _, k := range []string{"before", "after", "op"} {
				if !reflect.DeepEqual(gp[k], wp[k]) {
					t.Errorf("payload.%s: got %v, want %v", k, gp[k], wp[k])
				}
			}
			if _, ok := gp["ts_ms"]; !ok {
				t.Error("payload.ts_ms missing")
			}
			gs, ws := gp["source"].(map[string]any), wp["source"].(map[string]any)
			if len(gs) != len(ws) {
				t.Errorf("source has %d fields, the documentation %d: %v", len(gs), len(ws), gs)
			}
			for k, wv := range ws {
				gv, ok := gs[k]
				if !ok {
					t.Errorf("source.%s missing", k)
					continue
				}
				if contains(debeziumTheirServer, k) {
					continue
				}
				if fmt.Sprint(gv) != fmt.Sprint(wv) {
					t.Errorf("source.%s: got %v, want %v", k, gv, wv)
				}
			}
			ws2, ok := want["schema"].(map[string]any)
			if !ok || len(ws2) == 0 {
				return // the documentation shows the schema with the create event only
			}
			gsch := got[i]["schema"].(map[string]any)
			if gsch["name"] != ws2["name"] {
				t.Errorf("schema name %v, want %v", gsch["name"], ws2["name"])
			}
			gf, wf := gsch["fields"].([]any), ws2["fields"].([]any)
			if len(gf) != len(wf) {
				t.Fatalf("envelope has %d fields, want %d", len(gf), len(wf))
			}
			for j := range wf {
				g, w := gf[j].(map[string]any), wf[j].(map[string]any)
				switch w["field"] {
				case "before", "after":
					if !reflect.DeepEqual(g, w) {
						gb, _ := json.Marshal(g)
						wb, _ := json.Marshal(w)
						t.Errorf("%v schema:\n got %s\nwant %s", w["field"], gb, wb)
					}
				case "source":
					if g["name"] != w["name"] {
						t.Errorf("source schema name %v, want %v", g["name"], w["name"])
					}
					var gn, wn []any
					for _, f := range g["fields"].([]any) {
						gn = append(gn, f.(map[string]any)["field"])
					}
					for _, f := range w["fields"].([]any) {
						wn = append(wn, f.(map[string]any)["field"])
					}
					if !reflect.DeepEqual(gn, wn) {
						t.Errorf("source fields %v, want %v", gn, wn)
					}
				default:
					if !reflect.DeepEqual(g, w) {
						t.Errorf("envelope field %d: got %v, want %v", j, g, w)
					}
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestDebeziumDocumentationSchemaChange runs the statement behind the
// documentation's schema change topic example (docs/ddl.sql, topic.prefix
// mysql) and compares the ALTER's event with docs/ddl.json field by field:
// databaseName, schemaName, ddl and each tableChanges entry's type, id and
// table exactly, source as for change events. In table, every field the
// documentation shows is compared exactly; the fields Debezium's
// ConnectTableChangeSerializer writes and the example leaves out (the
// table's and columns' comment, defaultValueExpression, enumValues) must be
// there and null, as Debezium writes them for this table. Not compared: the
// example's attributes, a custom attribute the documentation makes up (the
// schema change topic's Table has no attributes). source.sequence, which
// this example shows and the change event examples do not, is compared
// like the other source fields (null).
func TestDebeziumDocumentationSchemaChange(t *testing.T) {
	h := newHarness(t, srv)
	h.cfg.Name = "mysql"
	h.cfg.Format = pipeline.FormatDebezium
	h.cfg.Debezium = event.DefaultDebeziumOptions()
	h.cfg.Debezium.SchemasEnable = true
	dir := filepath.Join("..", "testdata", "golden-debezium", "docs")
	srv.ExecScript(t, "inventory", filepath.Join(dir, "ddl.sql"))
	h.catchUp()
	b, err := os.ReadFile(filepath.Join(dir, "ddl.json"))
	if err != nil {
		t.Fatal(err)
	}
	wp := decodeEvent(t, 0, b)["payload"].(map[string]any)
	var gp map[string]any
	for i, l := range h.lines() {
		p := decodeEvent(t, i, l)["payload"].(map[string]any)
		if p["ddl"] == wp["ddl"] {
			gp = p
		}
	}
	if gp == nil {
		t.Fatalf("no schema change event with ddl %q", wp["ddl"])
	}
	for _, k := range []string{"databaseName", "schemaName", "ddl"} {
		if !reflect.DeepEqual(gp[k], wp[k]) {
			t.Errorf("%s: got %v, want %v", k, gp[k], wp[k])
		}
	}
	gc, wc := gp["tableChanges"].([]any), wp["tableChanges"].([]any)
	if len(gc) != len(wc) {
		t.Fatalf("tableChanges: %d entries, want %d: %v", len(gc), len(wc), gc)
	}
	for i := range wc {
		g, w := gc[i].(map[string]any), wc[i].(map[string]any)
		for _, k := range []string{"type", "id"} {
			if g[k] != w[k] {
				t.Errorf("tableChanges[%d].%s: got %v, want %v", i, k, g[k], w[k])
			}
		}
		compareTable(t, fmt.Sprintf("tableChanges[%d].table", i), g["table"], w["table"])
	}
	gs, ws := gp["source"].(map[string]any), wp["source"].(map[string]any)
	for k, wv := range ws {
		gv, ok := gs[k]
		if !ok {
			t.Errorf("source.%s missing", k)
			continue
		}
		if !contains(debeziumTheirServer, k) && fmt.Sprint(gv) != fmt.Sprint(wv) {
			t.Errorf("source.%s: got %v, want %v", k, gv, wv)
		}
	}
	if len(gs) != len(ws) {
		t.Errorf("source has %d fields, the documentation %d: %v", len(gs), len(ws), gs)
	}
}

// debeziumUndocumented are the fields of Debezium's schema change Table and
// Column that its documentation's example leaves out; Debezium writes them,
// null for the example's table (no comments, defaults or members).
var debeziumUndocumented = []string{"comment", "defaultValueExpression", "enumValues"}

// compareTable compares a tableChanges[].table with the documentation's:
// every documented field exactly (but attributes, the documentation's
// made-up custom attribute), each column likewise, and the undocumented
// fields present and null.
func compareTable(t *testing.T, name string, got, want any) {
	t.Helper()
	w, ok := want.(map[string]any)
	if !ok {
		if got != want {
			t.Errorf("%s: got %v, want %v", name, got, want)
		}
		return
	}
	g, ok := got.(map[string]any)
	if !ok {
		t.Fatalf("%s: got %v, want an object", name, got)
	}
	for k, wv := range w {
		if k == "attributes" {
			continue
		}
		if k == "columns" {
			continue
		}
		if gv, ok := g[k]; !ok || !reflect.DeepEqual(gv, wv) {
			t.Errorf("%s.%s: got %v, want %v", name, k, gv, wv)
		}
	}
	checkUndocumented(t, name, g, w)
	gc, _ := g["columns"].([]any)
	wc, _ := w["columns"].([]any)
	if len(gc) != len(wc) {
		t.Fatalf("%s.columns: %d, want %d: %v", name, len(gc), len(wc), gc)
	}
	for j := range wc {
		gcol, wcol := gc[j].(map[string]any), wc[j].(map[string]any)
		for k, wv := range wcol {
			if gv, ok := gcol[k]; !ok || !reflect.DeepEqual(gv, wv) {
				t.Errorf("%s.columns[%d].%s: got %v, want %v", name, j, k, gv, wv)
			}
		}
		checkUndocumented(t, fmt.Sprintf("%s.columns[%d]", name, j), gcol, wcol)
	}
}

// checkUndocumented fails for a field of got that want lacks, unless it is
// one Debezium writes and its example leaves out, and then it must be null.
func checkUndocumented(t *testing.T, name string, got, want map[string]any) {
	t.Helper()
	for k, gv := range got {
		if _, ok := want[k]; ok {
			continue
		}
		if !contains(debeziumUndocumented, k) {
			t.Errorf("%s.%s: not a field of Debezium's schema change events", name, k)
		} else if gv != nil {
			t.Errorf("%s.%s: got %v, want null", name, k, gv)
		}
	}
}
