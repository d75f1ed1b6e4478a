package event

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/schema"
)

// ordersTable is a small table with one column of each common kind.
func ordersTable() *schema.Table {
	return &schema.Table{
		Database: "shop",
		Name:     "orders",
		Columns: []schema.Column{
			{Name: "id", Type: mysql.MYSQL_TYPE_LONG},
			{Name: "note", Type: mysql.MYSQL_TYPE_VARCHAR, Charset: "utf8mb4", Nullable: true},
			{Name: "amount", Type: mysql.MYSQL_TYPE_NEWDECIMAL, Precision: 10, Scale: 2},
			{Name: "created", Type: mysql.MYSQL_TYPE_DATETIME2, Nullable: true},
		},
		PrimaryKey: []int{0},
		Version:    2,
	}
}

// encodeEvent encodes one row the way the pipeline does: the row with a gap
// at split, then the commit fields in the gap.
func encodeEvent(t *testing.T, f Format, tx *Tx, r *Row, c *Commit, xoffset int, last bool) string {
	t.Helper()
	row, split, err := f.AppendRow([]byte("prefix"), tx, r)
	if err != nil {
		t.Fatal(err)
	}
	if string(row[:6]) != "prefix" {
		t.Fatalf("AppendRow changed what dst held: %q", row)
	}
	out := append([]byte(nil), row[6:split]...)
	out = f.AppendCommit(out, c, xoffset, last)
	return string(append(out, row[split:]...))
}

func TestMaxwellBytes(t *testing.T) {
	tx := &Tx{ServerID: 7, GTID: "0-7-42"}
	r := &Row{
		Table:  ordersTable(),
		Type:   Update,
		Before: []any{int32(5), "old \"note\"", "12.50", nil},
		After:  []any{int32(5), "new note", "12.50", "2024-02-29 23:59:59"},
		Pos:    Position{File: "mysql-bin.000003", Offset: 4711},
		Index:  1,
	}
	c := &Commit{Timestamp: 1700000000, Xid: 99, Pos: Position{File: "mysql-bin.000003", Offset: 5000}}

	tests := []struct {
		name    string
		opts    MaxwellOptions
		xoffset int
		last    bool
		want    string
	}{
		{
			name: "all fields", opts: DefaultMaxwellOptions(), xoffset: 0, last: true,
			want: `{"database":"shop","table":"orders","type":"update",` +
				`"ts":1700000000,"xid":99,"commit":true,` +
				`"position":"mysql-bin.000003:4711","gtid":"0-7-42","server_id":7,` +
				`"dedupe_key":"7:mysql-bin.000003:4711:1","schema_version":2,` +
				`"primary_key":[5],"primary_key_columns":["id"],` +
				`"data":{"id":5,"note":"new note","amount":12.50,"created":"2024-02-29 23:59:59"},` +
				`"old":{"note":"old \"note\"","created":null}}`,
		},
		{
			name: "primary key as an object", opts: MaxwellOptions{PrimaryKey: true, PrimaryKeyObject: true}, xoffset: 0, last: true,
			want: `{"database":"shop","table":"orders","type":"update",` +
				`"ts":1700000000,"xid":99,"commit":true,` +
				`"primary_key":{"id":5},` +
				`"data":{"id":5,"note":"new note","amount":12.50,"created":"2024-02-29 23:59:59"},` +
				`"old":{"note":"old \"note\"","created":null}}`,
		},
		{
			name: "thread, query; no nulls, commit info or xoffset",
			opts: MaxwellOptions{ThreadID: true, RowQuery: true, NoNulls: true, NoCommitInfo: true, NoXOffset: true}, xoffset: 2, last: false,
			want: `{"database":"shop","table":"orders","type":"update",` +
				`"ts":1700000000,` +
				`"thread_id":12,"query":"UPDATE orders SET note = 'new note'",` +
				`"data":{"id":5,"note":"new note","amount":12.50,"created":"2024-02-29 23:59:59"},` +
				`"old":{"note":"old \"note\""}}`,
		},
		{
			name: "Maxwell's defaults", opts: MaxwellOptions{}, xoffset: 3, last: false,
			want: `{"database":"shop","table":"orders","type":"update",` +
				`"ts":1700000000,"xid":99,"xoffset":3,` +
				`"data":{"id":5,"note":"new note","amount":12.50,"created":"2024-02-29 23:59:59"},` +
				`"old":{"note":"old \"note\"","created":null}}`,
		},
	}
	tx.Thread = 12
	r.Query = "UPDATE orders SET note = 'new note'"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeEvent(t, NewMaxwell(tt.opts), tx, r, c, tt.xoffset, tt.last)
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
	// After the pipeline moved to another server, events carry its
	// source generation after the dedupe key; without the dedupe key
	// they do not.
	gen := *tx
	gen.Generation = 3
	for _, tt := range []struct {
		name string
		opts MaxwellOptions
		want string
	}{
		{
			name: "source generation", opts: MaxwellOptions{DedupeKey: true},
			want: `{"database":"shop","table":"orders","type":"update",` +
				`"ts":1700000000,"xid":99,"commit":true,` +
				`"dedupe_key":"7:mysql-bin.000003:4711:1","source_generation":3,` +
				`"data":{"id":5,"note":"new note","amount":12.50,"created":"2024-02-29 23:59:59"},` +
				`"old":{"note":"old \"note\"","created":null}}`,
		},
		{
			name: "no dedupe key, no generation", opts: MaxwellOptions{},
			want: `{"database":"shop","table":"orders","type":"update",` +
				`"ts":1700000000,"xid":99,"commit":true,` +
				`"data":{"id":5,"note":"new note","amount":12.50,"created":"2024-02-29 23:59:59"},` +
				`"old":{"note":"old \"note\"","created":null}}`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := encodeEvent(t, NewMaxwell(tt.opts), &gen, r, c, 0, true)
			if got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestBinaryRenderedAsLogged(t *testing.T) {
	// BINARY(10) is logged without its trailing zero bytes; Maxwell (its
	// test_blob fixture) renders the logged bytes.
	tbl := &schema.Table{Database: "d", Name: "t", Columns: []schema.Column{
		{Name: "b", Type: mysql.MYSQL_TYPE_STRING, Charset: "binary", Length: 10},
	}}
	r := &Row{Table: tbl, Type: Insert, After: []any{"\x00\x01\x02\x03"}}
	got := encodeEvent(t, NewMaxwell(MaxwellOptions{}), &Tx{}, r, &Commit{Timestamp: 1, Xid: 2}, 0, true)
	want := `{"database":"d","table":"t","type":"insert","ts":1,"xid":2,"commit":true,"data":{"b":"AAECAw=="}}`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestMaxwellKeylessTable: in Maxwell's shape a table without a primary
// key has empty key arrays, as Maxwell emits them; NULLs are left out of
// data with NoNulls.
func TestMaxwellKeylessTable(t *testing.T) {
	tbl := &schema.Table{Database: "d", Name: "t", Columns: []schema.Column{
		{Name: "a", Type: mysql.MYSQL_TYPE_LONG, Nullable: true}, {Name: "b", Type: mysql.MYSQL_TYPE_LONG, Nullable: true},
	}}
	r := &Row{Table: tbl, Type: Insert, After: []any{nil, int32(2)}}
	got := encodeEvent(t, NewMaxwell(MaxwellOptions{PrimaryKey: true, PrimaryKeyColumns: true, NoNulls: true}), &Tx{}, r, &Commit{Timestamp: 1, Xid: 2}, 0, true)
	want := `{"database":"d","table":"t","type":"insert","ts":1,"xid":2,"commit":true,"primary_key":[],"primary_key_columns":[],"data":{"b":2}}`
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestMaxwellMetaCache: one encoder's events, place after place and field
// after field changing (the metadata it keeps formatted between rows),
// are byte for byte those of a new encoder for each event, with every
// option on and with the dedupe key off.
func TestMaxwellMetaCache(t *testing.T) {
	tbl := wideTable()
	c := &Commit{Timestamp: 1742000000, Xid: 4242, Pos: Position{File: "mysql-bin.000002", Offset: 9}}
	type step struct {
		tx      Tx
		pos     Position
		index   int
		version int
	}
	base := step{tx: Tx{ServerID: 1, GTID: "0-1-42"}, pos: Position{File: "mysql-bin.000001", Offset: 999}, version: 3}
	steps := []step{base}
	next := func(f func(*step)) {
		s := steps[len(steps)-1]
		f(&s)
		steps = append(steps, s)
	}
	next(func(s *step) { s.index = 1 })
	next(func(s *step) { s.index = 12 })
	next(func(s *step) { s.pos.Offset = 1999 })
	next(func(s *step) { s.pos.File = "mysql-bin.000002" })
	next(func(s *step) { s.tx.GTID = "0-1-43" })
	next(func(s *step) { s.tx.GTID = "" })
	next(func(s *step) { s.tx.ServerID = 7 })
	next(func(s *step) { s.tx.Generation = 2 })
	next(func(s *step) { s.version = 4 })
	next(func(s *step) { s.version = 0 })
	next(func(s *step) { s.index = 0 })
	steps = append(steps, base)
	for _, opts := range []MaxwellOptions{DefaultMaxwellOptions(), {Position: true, ServerID: true, SchemaVersion: true}} {
		kept := NewMaxwell(opts)
		for i, s := range steps {
			r := Row{Table: tbl, Type: Insert, After: wideImage(812, "123.4500", "new"), Pos: s.pos, Index: s.index}
			tbl.Version = s.version
			got := encodeEvent(t, kept, &s.tx, &r, c, s.index, false)
			want := encodeEvent(t, NewMaxwell(opts), &s.tx, &r, c, s.index, false)
			if got != want {
				t.Fatalf("step %d (%+v): %s\nwant %s", i, s, got, want)
			}
		}
	}
}
