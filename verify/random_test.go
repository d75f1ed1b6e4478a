package verify_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/sluicecdc/sluice/compact"
	"github.com/sluicecdc/sluice/internal/testing/laketest"
)

// randTable is a source table and the columns DML may set.
type randTable struct {
	name string
	pk   []string
	cols []randCol // non-key columns
	// keyOf makes the i-th key's SQL values, in pk order.
	keyOf func(i int) []string
}

type randCol struct {
	name string
	gen  func(r *rand.Rand) string
}

func genInt(lim int) func(*rand.Rand) string {
	return func(r *rand.Rand) string { return nullable(r, fmt.Sprint(r.IntN(2*lim)-lim)) }
}

func genDec(lim int) func(*rand.Rand) string {
	return func(r *rand.Rand) string { return nullable(r, fmt.Sprintf("%d.%02d", r.IntN(lim), r.IntN(100))) }
}

func genStr(n int) func(*rand.Rand) string {
	return func(r *rand.Rand) string {
		const letters = "abcdefghijklmnopqrstuvwxyzé'"
		var b strings.Builder
		b.WriteByte('\'')
		for range 1 + r.IntN(n) {
			c := []rune(letters)[r.IntN(len([]rune(letters)))]
			if c == '\'' {
				b.WriteString("''")
				continue
			}
			b.WriteRune(c)
		}
		b.WriteByte('\'')
		return nullable(r, b.String())
	}
}

func genTime(r *rand.Rand) string {
	return nullable(r, fmt.Sprintf("'2024-%02d-%02d %02d:%02d:%02d.%03d'", 1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000)))
}

func nullable(r *rand.Rand, s string) string {
	if r.IntN(10) == 0 {
		return "NULL"
	}
	return s
}

// alteration is a schema change and what it does to the table's model.
type alteration struct {
	table int
	sql   string
	apply func(t *randTable)
}

// TestRandomizedCompactVerify runs random DML and a few ALTERs (columns
// added, types widened) on several tables, streams them, compacts after
// every round (incrementally), once replays a stretch of the binlog into
// the lake again, and checks after every round that verify finds every
// table equal to its source, and at the end that an independent scan of
// the Iceberg tables does too.
func TestRandomizedCompactVerify(t *testing.T) {
	srv.RequireOwned(t)
	seeds := []uint64{1, 2, 3, 4, 5, 6}
	if testing.Short() {
		seeds = seeds[:3]
	}
	modes := make(map[string]int)
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) { randomRun(t, seed, modes) })
	}
	// Both ways of writing a snapshot were exercised: merge on read for
	// rounds of row changes, copy on write after ALTERs, truncates, the
	// replay.
	t.Logf("snapshots written: %v", modes)
	if modes[compact.ModeMergeOnRead] == 0 || modes[compact.ModeCopyOnWrite] == 0 {
		t.Errorf("snapshots written %v: want both %s and %s", modes, compact.ModeMergeOnRead, compact.ModeCopyOnWrite)
	}
}

func randomRun(t *testing.T, seed uint64, modes map[string]int) {
	r := rand.New(rand.NewPCG(seed, 0x51ce))
	db := fmt.Sprint("rnd", seed)
	rg := newRig(t)
	tables := []*randTable{
		{name: "t1", pk: []string{"id"}, cols: []randCol{{"a", genStr(20)}, {"n", genInt(1000)}, {"d", genDec(100000)}, {"ratio", genInt(100)}},
			keyOf: func(i int) []string { return []string{fmt.Sprint(i)} }},
		{name: "t2", pk: []string{"k"}, cols: []randCol{{"v", genInt(50)}, {"at", genTime}, {"tmp", genInt(9)}},
			keyOf: func(i int) []string { return []string{fmt.Sprintf("'key-%03d'", i)} }},
		{name: "t3", pk: []string{"a", "b"}, cols: []randCol{{"x", genInt(1 << 30)}, {"s", genStr(8)}},
			keyOf: func(i int) []string { return []string{fmt.Sprint(i % 7), fmt.Sprint(i / 7)} }},
	}
	srv.Exec(t, "DROP DATABASE IF EXISTS "+db, "CREATE DATABASE "+db, "USE "+db,
		"CREATE TABLE t1 (id INT PRIMARY KEY, a VARCHAR(20), n INT, d DECIMAL(8,2), ratio INT)",
		"CREATE TABLE t2 (k VARCHAR(12) PRIMARY KEY, v SMALLINT, at DATETIME(3), tmp INT)",
		"CREATE TABLE t3 (a INT, b INT, x INT, s VARCHAR(8), PRIMARY KEY (a, b))")
	alters := []alteration{
		{0, "ALTER TABLE t1 ADD COLUMN note VARCHAR(30)", func(t *randTable) { t.cols = append(t.cols, randCol{"note", genStr(30)}) }},
		{0, "ALTER TABLE t1 MODIFY n BIGINT", func(t *randTable) { t.cols[1].gen = genInt(1 << 40) }},
		{0, "ALTER TABLE t1 MODIFY d DECIMAL(14,2)", func(t *randTable) { t.cols[2].gen = genDec(1 << 30) }},
		{1, "ALTER TABLE t2 MODIFY v INT", func(t *randTable) { t.cols[0].gen = genInt(1 << 20) }},
		{1, "ALTER TABLE t2 ADD COLUMN amount DECIMAL(10,3) AFTER k", func(t *randTable) { t.cols = append(t.cols, randCol{"amount", genDec(1000)}) }},
		{2, "ALTER TABLE t3 MODIFY x BIGINT", func(t *randTable) { t.cols[0].gen = genInt(1 << 50) }},
		{2, "ALTER TABLE t3 MODIFY s VARCHAR(40)", func(t *randTable) { t.cols[1].gen = genStr(40) }},
		{2, "ALTER TABLE t3 ADD COLUMN n2 INT, ADD COLUMN c2 VARCHAR(5)", func(t *randTable) {
			t.cols = append(t.cols, randCol{"n2", genInt(100)}, randCol{"c2", genStr(5)})
		}},
		// The server fills existing rows with the default, logging nothing.
		{2, "ALTER TABLE t3 ADD COLUMN flag INT NOT NULL DEFAULT 7 FIRST", func(t *randTable) {
			t.cols = append(t.cols, randCol{"flag", func(r *rand.Rand) string { return fmt.Sprint(r.IntN(100)) }})
		}},
		{0, "ALTER TABLE t1 RENAME COLUMN a TO title", func(t *randTable) { t.cols[0].name = "title" }},
		// long to decimal: Iceberg cannot widen that in place.
		{0, "ALTER TABLE t1 MODIFY ratio DECIMAL(12,4)", func(t *randTable) { t.cols[3].gen = genDec(1000) }},
		{1, "ALTER TABLE t2 DROP COLUMN tmp", func(t *randTable) {
			t.cols = slices.DeleteFunc(t.cols, func(c randCol) bool { return c.name == "tmp" })
		}},
		{1, "ALTER TABLE t2 MODIFY at VARCHAR(40)", func(t *randTable) {}},
	}
	r.Shuffle(len(alters), func(i, j int) { alters[i], alters[j] = alters[j], alters[i] })
	const rounds = 5
	replayRound := 1 + r.IntN(rounds-1)
	for round := range rounds {
		start := rg.lake.Checkpoint()
		var stmts []string
		for range 150 + r.IntN(100) {
			stmts = append(stmts, randomStatement(r, tables, false)...)
			if r.IntN(80) == 0 && len(alters) > 0 {
				a := alters[0]
				alters = alters[1:]
				stmts = append(stmts, a.sql)
				a.apply(tables[a.table])
				t.Logf("round %d: %s", round, a.sql)
			}
		}
		if r.IntN(5) == 0 {
			stmts = append(stmts, fmt.Sprintf("DELETE FROM %s", tables[r.IntN(len(tables))].name))
		}
		if round == rounds-1 {
			stmts = append(stmts, "TRUNCATE TABLE t3", "INSERT INTO t3 (a, b, x) VALUES (1, 1, 1)")
		}
		srv.Exec(t, append([]string{"USE " + db}, stmts...)...)
		rg.lake.CatchUp()
		if round == replayRound {
			// As after a crash: this round's events again, cut otherwise.
			rg.lake.Rewind(start)
			rg.lake.S3.RollBytes = 2048 + r.IntN(4096)
			rg.lake.CatchUp()
			t.Logf("round %d: replayed from %s", round, start)
		}
		rep := rg.compact()
		for _, tr := range rep.Tables {
			if strings.HasPrefix(tr.Table, db+".") && tr.Status != compact.StatusCompacted && tr.Status != compact.StatusAdvanced {
				t.Errorf("round %d: %s: %+v", round, tr.Table, tr)
			}
			if strings.HasPrefix(tr.Table, db+".") && tr.Mode != "" {
				modes[tr.Mode]++
				t.Logf("round %d: %s: %s %s", round, tr.Table, tr.Mode, tr.ModeWhy)
			}
		}
		var names []string
		for _, tb := range tables {
			names = append(names, db+"."+tb.name)
		}
		vr := rg.verify(names...)
		if !vr.OK() {
			t.Fatalf("round %d: verify found differences (seed %d)", round, seed)
		}
	}
	cat, err := compact.OpenCatalog(context.Background(), rg.catalog())
	if err != nil {
		t.Fatal(err)
	}
	defer cat.Close()
	for _, tb := range tables {
		snap := laketest.ReadSnapshot(t, cat, compact.Identifier("", db, tb.name))
		src := laketest.ReadSource(t, srv.DB(t), db+"."+tb.name)
		if d := laketest.Diff(snap, src, tb.pk); len(d) > 0 {
			t.Errorf("%s.%s: independent scan differs:\n  %s", db, tb.name, strings.Join(d, "\n  "))
		}
	}
}

// randomStatement returns a random change: inserts, updates (some of the
// primary key), deletes, REPLACE, or a transaction of several.
func randomStatement(r *rand.Rand, tables []*randTable, inTx bool) []string {
	t := tables[r.IntN(len(tables))]
	key := func() []string { return t.keyOf(r.IntN(150)) }
	where := func(k []string) string {
		var parts []string
		for i, c := range t.pk {
			parts = append(parts, c+" = "+k[i])
		}
		return strings.Join(parts, " AND ")
	}
	set := func() string {
		var parts []string
		for _, c := range t.cols {
			if r.IntN(2) == 0 {
				parts = append(parts, c.name+" = "+c.gen(r))
			}
		}
		if len(parts) == 0 {
			c := t.cols[r.IntN(len(t.cols))]
			parts = append(parts, c.name+" = "+c.gen(r))
		}
		return strings.Join(parts, ", ")
	}
	insert := func(verb string) string {
		cols := append([]string(nil), t.pk...)
		vals := key()
		for _, c := range t.cols {
			cols = append(cols, c.name)
			vals = append(vals, c.gen(r))
		}
		return fmt.Sprintf("%s INTO %s (%s) VALUES (%s)", verb, t.name, strings.Join(cols, ", "), strings.Join(vals, ", "))
	}
	choices := 20
	if inTx {
		choices = 19
	}
	switch n := r.IntN(choices); {
	case n < 7:
		return []string{insert("INSERT IGNORE")}
	case n < 12:
		return []string{fmt.Sprintf("UPDATE %s SET %s WHERE %s", t.name, set(), where(key()))}
	case n < 14:
		// Ranges: several rows in one event.
		return []string{fmt.Sprintf("UPDATE %s SET %s WHERE %s < %s", t.name, set(), t.pk[0], t.keyOf(r.IntN(20))[0])}
	case n < 16:
		return []string{fmt.Sprintf("UPDATE IGNORE %s SET %s = %s WHERE %s", t.name, t.pk[len(t.pk)-1], key()[len(t.pk)-1], where(key()))}
	case n < 18:
		return []string{fmt.Sprintf("DELETE FROM %s WHERE %s", t.name, where(key()))}
	case n < 19:
		return []string{insert("REPLACE")}
	default:
		out := []string{"BEGIN"}
		for range 2 + r.IntN(4) {
			out = append(out, randomStatement(r, tables, true)...)
		}
		return append(out, "COMMIT")
	}
}
