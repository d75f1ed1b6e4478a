package pipeline_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/pipeline"
)

// debeziumModes are the option sets TestGoldenDebeziumModes renders: the
// connector's defaults and every other value of each *.mode option.
var debeziumModes = []struct {
	name string
	set  func(*event.DebeziumOptions)
}{
	{"default", func(*event.DebeziumOptions) {}},
	{"time-connect", func(o *event.DebeziumOptions) { o.TimePrecisionMode = event.TimeConnect }},
	{"decimal-double", func(o *event.DebeziumOptions) { o.DecimalHandlingMode = event.DecimalDouble }},
	{"decimal-string", func(o *event.DebeziumOptions) { o.DecimalHandlingMode = event.DecimalString }},
	{"bigint-precise", func(o *event.DebeziumOptions) { o.BigintUnsignedHandlingMode = event.BigintPrecise }},
	{"binary-base64", func(o *event.DebeziumOptions) { o.BinaryHandlingMode = event.BinaryBase64 }},
	{"binary-base64-url-safe", func(o *event.DebeziumOptions) { o.BinaryHandlingMode = event.BinaryBase64URLSafe }},
	{"binary-hex", func(o *event.DebeziumOptions) { o.BinaryHandlingMode = event.BinaryHex }},
}

// TestGoldenDebeziumModes streams testdata/golden/types.sql and
// testdata/golden-debezium/extra.sql from the real server once per option
// set, with schemas.enable on and off, and checks:
//   - the row events with schemas match testdata/golden-debezium/modes/MODE.golden
//     (each table's schema written before its first event and whenever it
//     changes, volatile source fields dropped; -update rewrites them);
//   - every payload value has the JSON type its field schema declares;
//   - the payload with schemas is the event without them, byte for byte.
func TestGoldenDebeziumModes(t *testing.T) {
	type run struct{ on, off *harness }
	runs := make([]run, len(debeziumModes))
	for i, m := range debeziumModes {
		for _, schemas := range []bool{true, false} {
			h := newHarness(t, srv)
			h.cfg.Format = pipeline.FormatDebezium
			h.cfg.Debezium = event.DefaultDebeziumOptions()
			m.set(&h.cfg.Debezium)
			h.cfg.Debezium.SchemasEnable = schemas
			if schemas {
				runs[i].on = h
			} else {
				runs[i].off = h
			}
		}
	}
	srv.ExecScript(t, "golden_types", filepath.Join("..", "testdata", "golden", "types.sql"))
	srv.ExecScript(t, "golden_dbzextra", filepath.Join("..", "testdata", "golden-debezium", "extra.sql"))
	for i, m := range debeziumModes {
		t.Run(m.name, func(t *testing.T) {
			r := runs[i]
			r.on.t, r.off.t = t, t
			r.on.catchUp()
			r.off.catchUp()
			on, off := r.on.lines(), r.off.lines()
			if len(on) != len(off) || len(on) == 0 {
				t.Fatalf("%d events with schemas, %d without", len(on), len(off))
			}
			var golden bytes.Buffer
			last := map[string]string{}
			rows := 0
			for j := range on {
				var env struct {
					Schema  json.RawMessage `json:"schema"`
					Payload json.RawMessage `json:"payload"`
				}
				if err := json.Unmarshal(on[j], &env); err != nil || env.Schema == nil || env.Payload == nil {
					t.Fatalf("event %d is not {schema, payload}: %v\n%s", j, err, on[j])
				}
				if !bytes.Equal(env.Payload, off[j]) {
					t.Fatalf("event %d: payload with schemas differs from the event without:\n%s\n%s", j, env.Payload, off[j])
				}
				ev := decodeEvent(t, j, env.Payload)
				if _, ok := ev["op"]; !ok {
					continue // schema change events: covered by TestGoldenDebezium
				}
				rows++
				checkPayloadTypes(t, j, env.Schema, env.Payload)
				src := ev["source"].(map[string]any)
				table := fmt.Sprint(src["db"], ".", src["table"])
				if s := string(env.Schema); last[table] != s {
					last[table] = s
					golden.WriteString(`{"schema":`)
					golden.Write(env.Schema)
					golden.WriteString("}\n")
				}
				delete(ev, "ts_ms")
				for _, k := range debeziumSourceVolatile {
					delete(src, k)
				}
				b, err := json.Marshal(ev)
				if err != nil {
					t.Fatal(err)
				}
				golden.Write(b)
				golden.WriteByte('\n')
			}
			if rows == 0 {
				t.Fatal("no row events")
			}
			compareGoldenFile(t, filepath.Join("..", "testdata", "golden-debezium", "modes", m.name+".golden"), golden.Bytes())
		})
	}
}

type connectField struct {
	Type     string          `json:"type"`
	Optional bool            `json:"optional"`
	Name     string          `json:"name"`
	Field    string          `json:"field"`
	Fields   []connectField  `json:"fields"`
	Params   json.RawMessage `json:"parameters"`
}

// checkPayloadTypes checks each before/after value against its field's
// schema: JSON type, null only where optional, bytes as valid base64.
func checkPayloadTypes(t *testing.T, i int, schema, payload []byte) {
	t.Helper()
	var s connectField
	if err := json.Unmarshal(schema, &s); err != nil {
		t.Fatalf("event %d: schema: %v", i, err)
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatal(err)
	}
	for _, f := range s.Fields {
		if f.Field != "before" && f.Field != "after" {
			continue
		}
		if !strings.HasSuffix(f.Name, ".Value") || !f.Optional {
			t.Fatalf("event %d: %s schema is %q optional=%v, want an optional <prefix>.<db>.<table>.Value", i, f.Field, f.Name, f.Optional)
		}
		var row map[string]json.RawMessage
		if err := json.Unmarshal(p[f.Field], &row); err != nil {
			t.Fatal(err)
		}
		if row == nil {
			continue
		}
		if len(row) != len(f.Fields) {
			t.Fatalf("event %d: %s has %d values for %d fields", i, f.Field, len(row), len(f.Fields))
		}
		for _, c := range f.Fields {
			if err := checkValue(c, row[c.Field]); err != nil {
				t.Errorf("event %d: %s.%s: %v", i, f.Field, c.Field, err)
			}
		}
	}
}

func checkValue(f connectField, v json.RawMessage) error {
	if v == nil {
		return fmt.Errorf("missing")
	}
	if string(v) == "null" {
		if !f.Optional {
			return fmt.Errorf("null in a required field")
		}
		return nil
	}
	var x any
	d := json.NewDecoder(bytes.NewReader(v))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		return err
	}
	switch f.Type {
	case "int16", "int32", "int64":
		n, ok := x.(json.Number)
		if !ok {
			return fmt.Errorf("%s is %s, not an integer", f.Type, v)
		}
		if _, err := n.Int64(); err != nil {
			return fmt.Errorf("%s is %s: %v", f.Type, v, err)
		}
	case "float", "double":
		if _, ok := x.(json.Number); !ok {
			return fmt.Errorf("%s is %s, not a number", f.Type, v)
		}
	case "boolean":
		if _, ok := x.(bool); !ok {
			return fmt.Errorf("boolean is %s", v)
		}
	case "string":
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("string is %s", v)
		}
		if f.Name == "io.debezium.data.Json" && !json.Valid([]byte(s)) {
			return fmt.Errorf("Json %q is not JSON", s)
		}
	case "bytes":
		s, ok := x.(string)
		if !ok {
			return fmt.Errorf("bytes is %s", v)
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil {
			return fmt.Errorf("bytes %q: %v", s, err)
		}
	case "struct":
		m, ok := x.(map[string]any)
		if !ok || len(m) != len(f.Fields) {
			return fmt.Errorf("struct is %s", v)
		}
		for _, sf := range f.Fields {
			b, _ := json.Marshal(m[sf.Field])
			if err := checkValue(sf, b); err != nil {
				return fmt.Errorf("%s: %w", sf.Field, err)
			}
		}
	default:
		return fmt.Errorf("unexpected schema type %q", f.Type)
	}
	return nil
}
