package compact

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/iceberg-go/table"
)

// ev builds an event line: typ, place "file:offset:row", data and extras.
func ev(typ, at, data string, extra ...string) []byte {
	s := fmt.Sprintf(`{"database":"d","table":"t","type":%q,"ts":%d,"dedupe_key":"1:%s"`, typ, 1000, at)
	if data != "" {
		s += `,"data":` + data
	}
	for _, e := range extra {
		s += "," + e
	}
	return []byte(s + "}")
}

func pk(id string) string { return `"primary_key":{"id":` + id + `}` }

func mustChanges(t *testing.T, lines ...[]byte) []*change {
	t.Helper()
	var out []*change
	for _, l := range lines {
		c, err := parseChange(l)
		if err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		out = append(out, c)
	}
	return out
}

// dump renders the state's rows as "id=v,..." sorted by key.
func dump(s *tableState) string {
	var out []string
	for _, r := range s.sortedRows() {
		var parts []string
		for _, c := range s.shape {
			parts = append(parts, fmt.Sprintf("%s=%v", c, r.value(s.colIdx[c])))
		}
		out = append(out, strings.Join(parts, ","))
	}
	return strings.Join(out, " ")
}

func TestApplyOrderAndCopies(t *testing.T) {
	tests := []applyCase{
		{"latest wins whatever the read order", [][]byte{
			ev("update", "bin.000001:300:0", `{"id":1,"v":"c"}`, pk("1"), `"old":{"v":"b"}`),
			ev("insert", "bin.000001:100:0", `{"id":1,"v":"a"}`, pk("1")),
			ev("update", "bin.000001:200:0", `{"id":1,"v":"b"}`, pk("1"), `"old":{"v":"a"}`),
		}, "id=1,v=c"},
		{"copies dropped", [][]byte{
			ev("insert", "bin.000001:100:0", `{"id":1,"v":"a"}`, pk("1")),
			ev("insert", "bin.000001:100:0", `{"id":1,"v":"a"}`, pk("1")),
			ev("insert", "bin.000001:100:1", `{"id":2,"v":"b"}`, pk("2")),
		}, "id=1,v=a id=2,v=b"},
		{"binlog files ordered by number, not by name", [][]byte{
			ev("update", "bin.1000000:4:0", `{"id":1,"v":"new"}`, pk("1"), `"old":{"v":"old"}`),
			ev("insert", "bin.999999:900:0", `{"id":1,"v":"old"}`, pk("1")),
		}, "id=1,v=new"},
		{"rows of one event ordered by row number", [][]byte{
			ev("update", "bin.000001:100:10", `{"id":1,"v":"second"}`, pk("1"), `"old":{"v":"first"}`),
			ev("update", "bin.000001:100:9", `{"id":1,"v":"first"}`, pk("1"), `"old":{"v":"x"}`),
		}, "id=1,v=second"},
		{"delete, then insert again", [][]byte{
			ev("insert", "bin.000001:100:0", `{"id":1,"v":"a"}`, pk("1")),
			ev("delete", "bin.000001:200:0", `{"id":1,"v":"a"}`, pk("1")),
			ev("insert", "bin.000001:300:0", `{"id":1,"v":"again"}`, pk("1")),
		}, "id=1,v=again"},
		{"primary key change removes the old key", [][]byte{
			ev("insert", "bin.000001:100:0", `{"id":1,"v":"a"}`, pk("1")),
			ev("update", "bin.000001:200:0", `{"id":5,"v":"a"}`, pk("5"), `"old":{"id":1}`),
		}, "id=5,v=a"},
		{"truncate clears older rows only", [][]byte{
			ev("insert", "bin.000001:100:0", `{"id":1,"v":"a"}`, pk("1")),
			[]byte(`{"database":"d","table":"t","type":"table-truncate","ts":1000,"dedupe_key":"1:bin.000001:150:0","sql":"TRUNCATE t"}`),
			ev("insert", "bin.000001:200:0", `{"id":2,"v":"b"}`, pk("2")),
		}, "id=2,v=b"},
		{"columns added and dropped follow the latest row image", [][]byte{
			ev("insert", "bin.000001:100:0", `{"id":1,"v":"a","gone":1}`, pk("1")),
			ev("insert", "bin.000001:200:0", `{"id":2,"v":"b","added":2}`, pk("2")),
		}, "id=1,v=a,added=<nil> id=2,v=b,added=2"},
	}
	runApplyCases(t, tests)
}

// TestApplyAcrossRuns: a later run that reads copies or older changes
// (a replay, an object completed late) changes nothing it should not.
func TestApplyAcrossRuns(t *testing.T) {
	s := newTableState("d", "t")
	run := func(lines ...[]byte) {
		t.Helper()
		s.stats = applyStats{}
		if err := s.applyAll(mustChanges(t, lines...)); err != nil {
			t.Fatal(err)
		}
	}
	run(
		ev("insert", "bin.000001:100:0", `{"id":1,"v":"a"}`, pk("1")),
		ev("insert", "bin.000001:100:1", `{"id":2,"v":"b"}`, pk("2")),
		ev("update", "bin.000001:300:0", `{"id":1,"v":"a2"}`, pk("1"), `"old":{"v":"a"}`),
		ev("delete", "bin.000001:400:0", `{"id":2,"v":"b"}`, pk("2")),
	)
	// A replay of everything, then a late object with an older change.
	run(
		ev("insert", "bin.000001:100:0", `{"id":1,"v":"a"}`, pk("1")),
		ev("insert", "bin.000001:100:1", `{"id":2,"v":"b"}`, pk("2")),
		ev("update", "bin.000001:250:0", `{"id":2,"v":"late"}`, pk("2"), `"old":{"v":"b"}`),
	)
	if got, want := dump(s), "id=1,v=a2"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if s.stats.Stale != 3 || s.stats.Applied != 0 {
		t.Errorf("stats %+v: want 3 stale, none applied", s.stats)
	}
	// Tombstones expire with time.
	s.maxTS += uint32((48 * time.Hour).Seconds())
	s.expireTombstones(24 * time.Hour)
	if len(s.tombs) != 0 {
		t.Errorf("tombstones %v: want expired", s.tombs)
	}
}

func TestCompositeKeyChangeAndRekey(t *testing.T) {
	s := newTableState("d", "t")
	key := func(a, b string) string { return `"primary_key":{"a":` + a + `,"b":` + b + `}` }
	err := s.applyAll(mustChanges(t,
		ev("insert", "bin.000001:100:0", `{"a":1,"b":1,"v":"x"}`, key("1", "1")),
		ev("insert", "bin.000001:100:1", `{"a":1,"b":2,"v":"y"}`, key("1", "2")),
		// Only b changed: the old key takes a from the new image.
		ev("update", "bin.000001:200:0", `{"a":1,"b":3,"v":"y"}`, key("1", "3"), `"old":{"b":2}`),
	))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dump(s), "a=1,b=1,v=x a=1,b=3,v=y"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	// ALTER TABLE ... PRIMARY KEY (v): rows are keyed anew.
	err = s.applyAll(mustChanges(t,
		ev("update", "bin.000001:300:0", `{"a":1,"b":1,"v":"z"}`, `"primary_key":{"v":"z"}`, `"old":{"v":"x"}`),
	))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(s.pk, []string{"v"}) || len(s.rows) != 2 {
		t.Errorf("pk %v, %d rows: want [v], 2 (x is now z)", s.pk, len(s.rows))
	}
}

func TestNoPrimaryKey(t *testing.T) {
	s := newTableState("d", "t")
	err := s.applyAll(mustChanges(t, ev("insert", "bin.000001:100:0", `{"v":1}`)))
	if err == nil || !strings.Contains(err.Error(), "no primary key") {
		t.Errorf("err = %v: want no primary key", err)
	}
}

func TestParseDedupeKey(t *testing.T) {
	p, sid, err := parseDedupeKey("7:mysql-bin.000003:1289:12")
	if err != nil || sid != 7 || p.pos.File != "mysql-bin.000003" || p.pos.Offset != 1289 || p.row != 12 {
		t.Errorf("got %+v %d %v", p, sid, err)
	}
	if p.dedupeKey(sid) != "7:mysql-bin.000003:1289:12" {
		t.Errorf("round trip: %s", p.dedupeKey(sid))
	}
	for _, bad := range []string{"", "1:f:2", "x:f:1:2", "1::1:2", "1:f:-1:2", "1:f:1:x"} {
		if _, _, err := parseDedupeKey(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestTypeInference(t *testing.T) {
	tests := []struct {
		prev colType
		vals []any
		want string
	}{
		{colType{}, []any{int64(1), nil, int64(-5)}, "long"},
		{colType{}, []any{number("1.50"), number("-22.125")}, "decimal(38,3)"},
		{colType{}, []any{int64(5), number("1.5")}, "decimal(38,1)"},
		{colType{}, []any{number("18446744073709551615")}, "decimal(38,0)"},
		{colType{}, []any{number("1e-7")}, "string"},
		{colType{}, []any{number("1.5"), "x"}, "string"},
		{colType{}, []any{nil}, "none"},
		{colType{kind: typeDecimal, scale: 2}, []any{int64(1)}, "decimal(38,2)"},
		{colType{kind: typeString}, []any{int64(1)}, "string"},
		{colType{}, []any{number("1." + strings.Repeat("1", 30)), int64(1e15)}, "string"},
		// Integers by width: a column declared INT stays an int while
		// its values fit; a value beyond 32 bits or a long before widens.
		{colType{kind: typeInt}, []any{int64(1), int64(-2147483648)}, "int"},
		{colType{kind: typeInt}, nil, "int"},
		{colType{kind: typeInt}, []any{int64(1 << 31)}, "long"},
		{colType{kind: typeLong}, []any{int64(1)}, "long"},
		{colType{kind: typeInt}, []any{number("1.5")}, "decimal(38,1)"},
		// DECIMAL(p,s) as declared; values typed alone are decimal(38,s).
		{decimalType(9, 2), []any{number("1234567.89"), int64(5)}, "decimal(9,2)"},
		{decimalType(9, 2), []any{number("1.125")}, "decimal(10,3)"},
		{decimalType(38, 2), []any{number("1.5")}, "decimal(38,2)"},
	}
	for _, tt := range tests {
		var s typeStats
		s.addType(tt.prev)
		for _, v := range tt.vals {
			s.add(v)
		}
		if got := s.result().String(); got != tt.want {
			t.Errorf("%v then %v: got %s, want %s", tt.prev, tt.vals, got, tt.want)
		}
	}
}

func TestToDecimal(t *testing.T) {
	for _, tt := range []struct {
		v     any
		scale int
		want  string
	}{
		{number("1.5"), 3, "1.500"},
		{number("-0.25"), 2, "-0.25"},
		{int64(-42), 2, "-42.00"},
		{number("18446744073709551615"), 0, "18446744073709551615"},
		{number("12345678901234567890.123456789"), 9, "12345678901234567890.123456789"},
	} {
		d, err := toDecimal(tt.v, tt.scale)
		if err != nil {
			t.Errorf("%v: %v", tt.v, err)
			continue
		}
		if got := d.ToString(int32(tt.scale)); got != tt.want {
			t.Errorf("%v at scale %d: got %s, want %s", tt.v, tt.scale, got, tt.want)
		}
	}
	if _, err := toDecimal(number("1.234"), 2); err == nil {
		t.Error("1.234 at scale 2: want an error, not rounding")
	}
}

func TestKeyOf(t *testing.T) {
	if keyOf([]any{int64(5)}) != keyOf([]any{"5"}) || keyOf([]any{number("5.00")}) != keyOf([]any{int64(5)}) {
		t.Error("5, \"5\" and 5.00 must be one key")
	}
	if keyOf([]any{"a", "bc"}) == keyOf([]any{"ab", "c"}) {
		t.Error("composite keys must not run together")
	}
	if keyOf([]any{nil}) == keyOf([]any{""}) {
		t.Error("NULL and empty string must differ")
	}
}

func TestLayoutTables(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Prefix = "cdc/prod"
	l, err := newLake(nil, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"cdc/prod/shop/orders/dt=2026-05-01/hr=14/a.json.gz":     "shop.orders",
		"cdc/prod/shop//dt=2026-05-01/hr=14/a.json.gz":           "shop.",
		"cdc/prod/s%2Fx/o%25k/dt=2026-05-01/hr=14/a.json.gz":     "s/x.o%k",
		"cdc/prod/shop/orders/dt=2026-05-01/a.json.gz":           "",
		"cdc/prod/_manifests/x.json":                             "",
		"other/shop/orders/dt=2026-05-01/hr=14/a.json.gz":        "",
		"cdc/prod/shop/orders/dt=2026-05-01/hr=14/sub/a.json.gz": "",
	} {
		db, tbl, ok := l.objectTable(key)
		got := ""
		if ok {
			got = db + "." + tbl
		}
		if got != want {
			t.Errorf("%s: got %q, want %q", key, got, want)
		}
	}
}

func TestManifestState(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	refs := []manifestRef{{"a", t0}, {"b", t0.Add(time.Minute)}, {"c", t0.Add(2 * time.Hour)}}
	ms := nextManifestState(refs, time.Hour)
	if !ms.Horizon.Equal(t0.Add(2*time.Hour)) || !slices.Equal(ms.Recent, []string{"c"}) {
		t.Fatalf("state %+v", ms)
	}
	// A manifest stamped before the horizon but within the margin (an
	// upload that took long) is still picked up; old ones are not.
	refs = append(refs, manifestRef{"late", t0.Add(90 * time.Minute)}, manifestRef{"new", t0.Add(3 * time.Hour)})
	if got := ms.pending(refs, time.Hour); !slices.Equal(got, []string{"late", "new"}) {
		t.Errorf("pending %v: want [late new]", got)
	}
	if got := (manifestState{}).pending(refs, time.Hour); len(got) != len(refs) {
		t.Errorf("first run: pending %v: want all", got)
	}
}

// FuzzParseChange: the hand-written JSON walker never panics, and on
// valid JSON reads the members encoding/json reads.
func FuzzParseChange(f *testing.F) {
	f.Add([]byte(`{"database":"d","table":"t","type":"insert","ts":5,"dedupe_key":"1:b.000001:4:0","primary_key":{"id":1},"data":{"id":1,"s":"a\"b\\u00e9","j":{"x":[1,"}"]},"n":null,"f":1.5e3,"t":true}}`))
	f.Add([]byte(`{"type":"update","dedupe_key":"1:b.000001:4:0","primary_key":{"id":2},"data":{"id":2},"old":{"id":1}}`))
	f.Add([]byte(`{"type":"update","dedupe_key":"1:b.000001:4:0","primary_key":[2],"primary_key_columns":["id"],"data":{"id":2},"old":{"id":1}}`))
	f.Add([]byte(` { "type" : "table-rename" , "dedupe_key":"1:b.1:4:0", "old":{"database":"a","table":"b"} } `))
	f.Add([]byte(`{"type":"insert","dedupe_key":"1:b.1:4:0","data":{"a":[1,2}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		c, err := parseChange(line)
		if err != nil || c.kind != kindUpsert || !json.Valid(line) {
			return
		}
		var ev struct {
			Data map[string]any `json:"data"`
		}
		d := json.NewDecoder(bytes.NewReader(line))
		d.UseNumber()
		if d.Decode(&ev) != nil {
			return
		}
		if len(ev.Data) != len(c.cols) && len(c.cols) == len(uniq(c.cols)) {
			t.Errorf("%d members, encoding/json read %d", len(c.cols), len(ev.Data))
		}
		for i, col := range c.cols {
			want, ok := ev.Data[col]
			if !ok {
				t.Errorf("member %q not read by encoding/json", col)
				continue
			}
			if s, isStr := want.(string); isStr && c.vals[i] != s {
				t.Errorf("member %q: %v, encoding/json %q", col, c.vals[i], s)
			}
		}
	})
}

func uniq(s []string) []string { return slices.Compact(slices.Sorted(slices.Values(s))) }

func ddl(typ, at, sql string) []byte {
	b, _ := json.Marshal(sql)
	return []byte(fmt.Sprintf(`{"database":"d","table":"t","type":%q,"ts":1000,"dedupe_key":"1:%s","sql":%s}`, typ, at, b))
}

func TestSchemaChangesShape(t *testing.T) {
	s := newTableState("d", "t")
	err := s.applyAll(mustChanges(t,
		ddl("table-create", "bin.000001:10:0", "CREATE TABLE t (id BIGINT UNSIGNED NOT NULL, a VARCHAR(5), d DECIMAL(9,3), f DOUBLE, PRIMARY KEY (id))"),
		ev("insert", "bin.000001:100:0", `{"id":1,"a":"x","d":1.500,"f":2.5}`, pk("1")),
		ddl("table-alter", "bin.000001:200:0", "ALTER TABLE t ADD COLUMN n INT NOT NULL DEFAULT 7 AFTER id, ADD COLUMN s VARCHAR(3) DEFAULT 'it''s', ADD COLUMN c DATETIME DEFAULT CURRENT_TIMESTAMP"),
		ddl("table-alter", "bin.000001:300:0", "ALTER TABLE t RENAME COLUMN a TO title, DROP COLUMN f, MODIFY d DECIMAL(12,3) FIRST"),
		ddl("table-create", "bin.000001:400:0", "CREATE TABLE IF NOT EXISTS t (other INT)"),
	))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(s.shape, ","), "d,id,n,title,s,c"; got != want {
		t.Errorf("shape %s, want %s", got, want)
	}
	if got, want := dump(s), "d=1.500,id=1,n=7,title=x,s=it's,c=<nil>"; got != want {
		t.Errorf("rows %s, want %s", got, want)
	}
	if got := fmt.Sprint(s.hints["id"], s.hints["d"], s.hints["n"]); got != "decimal(38,0) decimal(12,3) int" {
		t.Errorf("hints %s", got)
	}
	if _, ok := s.hints["f"]; ok {
		t.Error("DOUBLE must leave the type to the values")
	}
	if len(s.notes) != 1 || !strings.Contains(s.notes[0], "column c") {
		t.Errorf("notes %q: want one about c's computed default", s.notes)
	}
	// After a drop, a CREATE (even IF NOT EXISTS) makes the table anew.
	err = s.applyAll(mustChanges(t,
		[]byte(`{"database":"d","table":"t","type":"table-drop","ts":1000,"dedupe_key":"1:bin.000001:500:0","sql":"DROP TABLE t"}`),
		ddl("table-create", "bin.000001:600:0", "CREATE TABLE IF NOT EXISTS t (k INT PRIMARY KEY, v TEXT)"),
	))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.shape, ","); got != "k,v" || len(s.rows) != 0 || !slices.Equal(s.pk, []string{"k"}) {
		t.Errorf("after drop and create: shape %s, %d rows, pk %v", got, len(s.rows), s.pk)
	}
}

// gen marks an event line's source generation.
func gen(n int) string { return fmt.Sprintf(`"source_generation":%d`, n) }

// TestApplyAcrossGenerations: after a failover the new server's places
// may sort before the old one's (its binlog started afresh); the source
// generation orders them: every change of a later generation is later,
// whatever its position. Events without the field are generation 0.
func TestApplyAcrossGenerations(t *testing.T) {
	tests := []applyCase{
		{"a later generation wins at a lower place", [][]byte{
			ev("insert", "bin.000009:9000:0", `{"id":1,"v":"old"}`, pk("1")),
			ev("update", "bin.000001:400:0", `{"id":1,"v":"new"}`, pk("1"), `"old":{"v":"old"}`, gen(1)),
			ev("update", "bin.000009:9500:0", `{"id":1,"v":"older"}`, pk("1"), `"old":{"v":"x"}`),
		}, "id=1,v=new"},
		{"a delete of a later generation at a lower place", [][]byte{
			ev("delete", "bin.000001:400:0", `{"id":1,"v":"a"}`, pk("1"), gen(1)),
			ev("insert", "bin.000009:9000:0", `{"id":1,"v":"a"}`, pk("1")),
		}, ""},
		{"an insert of a later generation after a delete", [][]byte{
			ev("insert", "bin.000001:100:0", `{"id":1,"v":"back"}`, pk("1"), gen(2)),
			ev("delete", "bin.000009:9000:0", `{"id":1,"v":"a"}`, pk("1"), gen(1)),
		}, "id=1,v=back"},
		{"a truncate of a later generation clears the older rows", [][]byte{
			ev("insert", "bin.000009:9000:0", `{"id":1,"v":"a"}`, pk("1")),
			[]byte(`{"database":"d","table":"t","type":"table-truncate","ts":1000,"dedupe_key":"1:bin.000001:150:0","source_generation":1,"sql":"TRUNCATE t"}`),
			ev("insert", "bin.000001:200:0", `{"id":2,"v":"b"}`, pk("2"), gen(1)),
			ev("insert", "bin.000009:9900:0", `{"id":3,"v":"gone"}`, pk("3")),
		}, "id=2,v=b"},
		{"the re-read window: the same change from the new server, another dedupe key", [][]byte{
			ev("update", "bin.000009:9000:0", `{"id":1,"v":"b"}`, pk("1"), `"old":{"v":"a"}`),
			ev("update", "bin.000009:9100:0", `{"id":1,"v":"c"}`, pk("1"), `"old":{"v":"b"}`),
			ev("update", "bin.000001:300:0", `{"id":1,"v":"b"}`, pk("1"), `"old":{"v":"a"}`, gen(1)),
			ev("update", "bin.000001:400:0", `{"id":1,"v":"c"}`, pk("1"), `"old":{"v":"b"}`, gen(1)),
		}, "id=1,v=c"},
	}
	runApplyCases(t, tests)
	// Across runs: the state keeps the generation of its places, so a
	// later run orders a copy of an old-generation change (a replay, a
	// late object) before the table's rows of the new generation.
	s := newTableState("d", "t")
	if err := s.applyAll(mustChanges(t,
		ev("insert", "bin.000009:9000:0", `{"id":1,"v":"a"}`, pk("1")),
		ev("update", "bin.000001:300:0", `{"id":1,"v":"b"}`, pk("1"), `"old":{"v":"a"}`, gen(1)),
		ev("delete", "bin.000001:310:0", `{"id":2,"v":"x"}`, pk("2"), gen(1)),
	)); err != nil {
		t.Fatal(err)
	}
	b, err := encodeState(s, manifestState{})
	if err != nil {
		t.Fatal(err)
	}
	next := newTableState("d", "t")
	if _, err := decodeState(b, next); err != nil {
		t.Fatal(err)
	}
	next.rows = s.rows // as the snapshot's rows are read back
	if next.maxAt != s.maxAt || next.tombs[keyOf([]any{int64(2)})].at.gen != 1 {
		t.Fatalf("state round trip: position %+v (want %+v), tombstones %+v", next.maxAt, s.maxAt, next.tombs)
	}
	if err := next.applyAll(mustChanges(t,
		ev("update", "bin.000009:9500:0", `{"id":1,"v":"late"}`, pk("1"), `"old":{"v":"a"}`),
		ev("insert", "bin.000009:9600:0", `{"id":2,"v":"late"}`, pk("2")),
	)); err != nil {
		t.Fatal(err)
	}
	if got, want := dump(next), "id=1,v=b"; got != want || next.stats.Stale != 2 {
		t.Errorf("after a late run of generation 0: %s (stats %+v), want %s and 2 stale", got, next.stats, want)
	}
}

func TestPlaceOrderAndStrings(t *testing.T) {
	at := func(s string) place {
		t.Helper()
		p, _, err := parsePlace(s)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	ordered := []string{
		"1:bin.000001:4:0",
		"1:bin.999999:900:0",
		"1:bin.1000000:4:0",
		"1/2:bin.000001:4:0",
		"1/2:bin.000001:4:1",
		"1/2:bin.000002:4:0",
		"2/1:bin.000001:4:0",
		"10/1:bin.000001:4:0",
	}
	for i := range ordered {
		for j := range ordered {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := at(ordered[i]).compare(at(ordered[j])); got != want {
				t.Errorf("compare(%s, %s) = %d, want %d", ordered[i], ordered[j], got, want)
			}
		}
	}
	for _, s := range ordered {
		p, sid, err := parsePlace(s)
		if err != nil || placeString(p, sid) != s {
			t.Errorf("round trip of %q: %q, %v", s, placeString(p, sid), err)
		}
	}
	p := at("3/7:mysql-bin.000003:1289:12")
	if p.gen != 3 || p.dedupeKey(7) != "7:mysql-bin.000003:1289:12" {
		t.Errorf("place %+v: want generation 3 and dedupe key 7:mysql-bin.000003:1289:12", p)
	}
	for _, bad := range []string{"x/1:f:1:2", "-1/1:f:1:2", "1/", "4294967296/1:f:1:2"} {
		if _, _, err := parsePlace(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
	// An event's generation is read from source_generation; a bad one is
	// an error naming the field.
	c, err := parseChange(ev("insert", "bin.000001:4:0", `{"id":1}`, pk("1"), gen(4)))
	if err != nil || c.place.gen != 4 || c.dedupe != "1:bin.000001:4:0" {
		t.Errorf("parsed %+v, %v: want generation 4, dedupe key unchanged", c, err)
	}
	if _, err := parseChange(ev("insert", "bin.000001:4:0", `{"id":1}`, pk("1"), `"source_generation":"x"`)); err == nil || !strings.Contains(err.Error(), "source_generation") {
		t.Errorf("a bad source_generation: %v, want an error naming it", err)
	}
}

// TestGenerationColumn: a table gets the generation column once a change
// of a generation above 0 is applied, and rows read back from it keep
// their places' generations (null or no column: 0).
func TestGenerationColumn(t *testing.T) {
	s := newTableState("d", "t")
	if err := s.applyAll(mustChanges(t,
		ev("insert", "bin.000009:9000:0", `{"id":1,"v":"a"}`, pk("1")),
		ev("insert", "bin.000009:9000:1", `{"id":2,"v":"b"}`, pk("2")),
	)); err != nil {
		t.Fatal(err)
	}
	cols := []column{{name: "id", typ: colType{kind: typeLong}}, {name: "v", typ: colType{kind: typeString}}}
	if s.genColumn() {
		t.Fatal("generation column wanted before any change of generation 1")
	}
	if _, ok := newSchema(cols, s.genColumn()).FindFieldByName(ColumnGeneration); ok {
		t.Fatal("a new table of generation 0 has the generation column")
	}
	if err := s.applyAll(mustChanges(t,
		ev("update", "bin.000001:300:0", `{"id":1,"v":"a2"}`, pk("1"), `"old":{"v":"a"}`, gen(1)),
	)); err != nil {
		t.Fatal(err)
	}
	if !s.genColumn() {
		t.Fatal("no generation column after a change of generation 1")
	}
	sc, err := table.SchemaToArrowSchema(newSchema(cols, true), nil, true, false)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s.record(sc, map[string]colType{"id": cols[0].typ, "v": cols[1].typ}, s.sortedRows())
	if err != nil {
		t.Fatal(err)
	}
	defer rec.Release()
	back := newTableState("d", "t")
	back.pk = s.pk
	got := map[string]string{}
	if err := back.recordRows(rec, func(key string, r *row) error {
		got[fmt.Sprint(r.value(back.colIdx["id"]))] = placeString(r.at, r.sid)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"1": "1/1:bin.000001:300:0", "2": "1:bin.000009:9000:1"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows read back at %v, want %v", got, want)
	}
}

// applyCase is lake lines applied to a new state, and the rows they leave.
type applyCase struct {
	name  string
	lines [][]byte
	want  string
}

// runApplyCases applies each case's lines to a new state of d.t and
// compares its dump with want.
func runApplyCases(t *testing.T, tests []applyCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTableState("d", "t")
			if err := s.applyAll(mustChanges(t, tt.lines...)); err != nil {
				t.Fatal(err)
			}
			if got := dump(s); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}
