package compact

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// orderedState replays changes as an ordered rewrite does (through the
// sorts, spilling beyond budget bytes) and returns the state with the
// rows the merge writes out.
func orderedState(t *testing.T, changes []*change, budget int64) *tableState {
	t.Helper()
	st := newTableState("d", "t")
	st.recordFills = true
	byPlace := newSorter(t.TempDir(), budget)
	for _, c := range changes {
		if err := byPlace.add(version{at: c.place, sid: c.serverID, ts: c.ts, vals: appendChange(nil, c)}); err != nil {
			t.Fatal(err)
		}
	}
	w := newRewriteRun(st, newSorter(t.TempDir(), budget))
	var prev place
	err := byPlace.each(func(v version) error {
		c, err := decodeChange(v)
		if err != nil {
			return err
		}
		if c.place == prev {
			return nil
		}
		prev = c.place
		return w.replay(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = w.srt.groups(func(vs []version) error {
		last := w.latest(vs)
		if last == nil || last.del {
			return nil
		}
		vals, err := decodeValues(last.vals)
		if err != nil {
			return err
		}
		st.rows[last.key] = &row{vals: st.applyFills(vals, last.at), at: last.at}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sorter{byPlace, w.srt} {
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// TestOrderedMatchesInMemory replays runs with schema and primary key
// changes as an ordered rewrite and checks the rows, shape and key equal
// what the in-memory path makes of the same changes.
func TestOrderedMatchesInMemory(t *testing.T) {
	pk2 := func(g, id string) string { return `"primary_key":{"g":` + g + `,"id":` + id + `}` }
	runs := map[string][][]byte{
		"alters": {
			ddl("table-create", "bin.000001:10:0", "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(5), gone INT)"),
			ev("insert", "bin.000001:100:0", `{"id":1,"a":"x","gone":1}`, pk("1")),
			ev("insert", "bin.000001:100:1", `{"id":2,"a":"y","gone":2}`, pk("2")),
			ev("insert", "bin.000001:100:2", `{"id":3,"a":"z","gone":3}`, pk("3")),
			ddl("table-alter", "bin.000001:200:0", "ALTER TABLE t ADD COLUMN n INT NOT NULL DEFAULT 7 AFTER id"),
			ev("update", "bin.000001:250:0", `{"id":2,"n":8,"a":"y","gone":2}`, pk("2")),
			ddl("table-alter", "bin.000001:300:0", "ALTER TABLE t RENAME COLUMN a TO title, DROP COLUMN gone"),
			ev("insert", "bin.000001:350:0", `{"id":4,"n":1,"title":"new"}`, pk("4")),
			// The old names again: new columns, the old values gone.
			ddl("table-alter", "bin.000001:400:0", "ALTER TABLE t ADD COLUMN a VARCHAR(3) DEFAULT 'd', ADD COLUMN gone INT"),
			ev("delete", "bin.000001:450:0", `{"id":3,"n":7,"title":"z","a":"d","gone":null}`, pk("3")),
			ev("update", "bin.000001:460:0", `{"id":5,"n":7,"title":"x","a":"d","gone":null}`, pk("5"), `"old":{"id":1}`),
			ddl("table-alter", "bin.000001:500:0", "ALTER TABLE t ADD COLUMN late INT DEFAULT 9"),
			ev("insert", "bin.000001:100:1", `{"id":2,"a":"y","gone":2}`, pk("2")), // a copy
		},
		"primary key": {
			ddl("table-create", "bin.000001:10:0", "CREATE TABLE t (id INT PRIMARY KEY, g INT, v VARCHAR(5))"),
			ev("insert", "bin.000001:100:0", `{"id":1,"g":null,"v":"a"}`, pk("1")),
			ev("insert", "bin.000001:100:1", `{"id":2,"g":null,"v":"b"}`, pk("2")),
			ev("insert", "bin.000001:100:2", `{"id":3,"g":null,"v":"c"}`, pk("3")),
			ev("delete", "bin.000001:150:0", `{"id":3,"g":null,"v":"c"}`, pk("3")),
			ddl("table-alter", "bin.000001:200:0", "ALTER TABLE t ADD COLUMN k INT NOT NULL DEFAULT 5"),
			ev("update", "bin.000001:300:0", `{"id":1,"g":1,"v":"a","k":5}`, pk("1")),
			ev("update", "bin.000001:300:1", `{"id":2,"g":2,"v":"b","k":5}`, pk("2")),
			// ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (g, id)
			ev("insert", "bin.000001:400:0", `{"id":3,"g":1,"v":"n","k":5}`, pk2("1", "3")),
			ev("update", "bin.000001:410:0", `{"id":2,"g":2,"v":"u","k":6}`, pk2("2", "2")),
			ev("delete", "bin.000001:420:0", `{"id":1,"g":1,"v":"a","k":5}`, pk2("1", "1")),
		},
		"truncate and create": {
			ddl("table-create", "bin.000001:10:0", "CREATE TABLE t (id INT PRIMARY KEY, v INT)"),
			ev("insert", "bin.000001:100:0", `{"id":1,"v":1}`, pk("1")),
			[]byte(`{"database":"d","table":"t","type":"table-drop","ts":1000,"dedupe_key":"1:bin.000001:200:0","sql":"DROP TABLE t"}`),
			ddl("table-create", "bin.000001:300:0", "CREATE TABLE t (id INT PRIMARY KEY, w INT DEFAULT 3)"),
			ev("insert", "bin.000001:400:0", `{"id":2,"w":4}`, pk("2")),
			ddl("table-alter", "bin.000001:500:0", "ALTER TABLE t ADD COLUMN x VARCHAR(2) DEFAULT 'q' FIRST"),
		},
	}
	for name, lines := range runs {
		t.Run(name, func(t *testing.T) {
			mem := newTableState("d", "t")
			if err := mem.applyAll(mustChanges(t, lines...)); err != nil {
				t.Fatal(err)
			}
			want := dump(mem)
			if want == "" {
				t.Fatal("no rows in memory")
			}
			for _, budget := range []int64{1 << 20, 64} {
				st := orderedState(t, mustChanges(t, lines...), budget)
				if got := dump(st); got != want {
					t.Errorf("budget %d: rows\n  %s\nin memory\n  %s", budget, got, want)
				}
				if !slices.Equal(st.shape, mem.shape) || !slices.Equal(st.pk, mem.pk) {
					t.Errorf("budget %d: shape %v key %v, in memory %v %v", budget, st.shape, st.pk, mem.shape, mem.pk)
				}
			}
		})
	}
}

func TestChangeEncoding(t *testing.T) {
	for _, line := range [][]byte{
		ev("update", "bin.000002:77:3", `{"id":5,"n":7,"d":1.50,"s":"x\"y","nil":null,"j":{"a":[1]}}`, pk("5"), `"old":{"id":1,"n":null}`),
		ev("delete", "bin.000002:78:0", `{"id":5}`, pk("5")),
		ddl("table-alter", "bin.000002:79:0", "ALTER TABLE t ADD COLUMN n INT DEFAULT 1"),
		[]byte(`{"database":"d","table":"t","type":"table-truncate","ts":1000,"dedupe_key":"1:bin.000002:80:0","sql":"TRUNCATE t"}`),
	} {
		c := mustChanges(t, line)[0]
		got, err := decodeChange(version{at: c.place, sid: c.serverID, ts: c.ts, vals: appendChange(nil, c)})
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s:\n got %+v\nwant %+v", strings.TrimSpace(string(line)), got, c)
		}
	}
}
