package event

import (
	"encoding/json"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/schema"
)

// wideTable has the shape of bench/'s wide table, as the binlog's
// TABLE_MAP describes it on MariaDB (JSON logged as LONGTEXT).
func wideTable() *schema.Table {
	return &schema.Table{
		Database: "bench",
		Name:     "wide",
		Columns: []schema.Column{
			{Name: "id", Type: mysql.MYSQL_TYPE_LONGLONG},
			{Name: "amount", Type: mysql.MYSQL_TYPE_NEWDECIMAL, Precision: 18, Scale: 4},
			{Name: "created", Type: mysql.MYSQL_TYPE_DATETIME2, Fsp: 6},
			{Name: "name", Type: mysql.MYSQL_TYPE_VARCHAR, Charset: "utf8mb4"},
			{Name: "doc", Type: mysql.MYSQL_TYPE_BLOB, Charset: "utf8mb4", Nullable: true, JSON: true},
			{Name: "payload", Type: mysql.MYSQL_TYPE_BLOB, Charset: "binary", Nullable: true},
			{Name: "status", Type: mysql.MYSQL_TYPE_ENUM, Values: []string{"new", "paid", "shipped", "cancelled", "refunded"}},
			{Name: "qty", Type: mysql.MYSQL_TYPE_LONG, Nullable: true},
			{Name: "ratio", Type: mysql.MYSQL_TYPE_DOUBLE, Nullable: true},
			{Name: "flag", Type: mysql.MYSQL_TYPE_TINY},
			{Name: "updated", Type: mysql.MYSQL_TYPE_TIMESTAMP2, Fsp: 3, Nullable: true},
		},
		PrimaryKey: []int{0},
		Version:    1,
	}
}

// wideImage is one row of wideTable with the Go types go-mysql decodes
// each column to.
func wideImage(id int64, amount, status string) []any {
	payload := make([]byte, 96)
	for i := range payload {
		payload[i] = byte(i*31 + int(id))
	}
	enum := int64(1)
	if status == "paid" {
		enum = 2
	}
	return []any{
		id,
		amount,
		"2025-03-14 15:09:26.535897",
		"Łukasz 山田 \"Ørjan\" 🚀 order 812 ✓",
		[]byte(`{"id": 812, "tags": ["a", "b"], "price": 123.45, "note": "text ✓", "nested": {"k": 3}}`),
		payload,
		enum,
		int32(812),
		float64(270.6666666666667),
		int8(1),
		"2025-03-14 15:09:27.000",
	}
}

// BenchmarkMaxwellEncode encodes one wide row as the pipeline does (the
// row, then its commit fields) with every optional field on. Compare the
// rows/s with the end-to-end figures of `go run ./bench` (BENCHMARKS.md).
func BenchmarkMaxwellEncode(b *testing.B) {
	tbl := wideTable()
	tx := &Tx{ServerID: 1, GTID: "0-1-4242"}
	c := &Commit{Timestamp: 1742000000, Xid: 4242, Pos: Position{File: "mysql-bin.000001", Offset: 1_000_000}}
	cases := []struct {
		name string
		row  Row
	}{
		{"insert", Row{Table: tbl, Type: Insert, After: wideImage(812, "123.4500", "new")}},
		{"update", Row{Table: tbl, Type: Update, Before: wideImage(812, "123.4500", "new"), After: wideImage(812, "130.0001", "paid")}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			m := NewMaxwell(DefaultMaxwellOptions())
			r := tc.row
			r.Pos = Position{File: "mysql-bin.000001", Offset: 999_000}
			var row, out []byte
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r.Index = i % 1000
				var split int
				var err error
				if row, split, err = m.AppendRow(row[:0], tx, &r); err != nil {
					b.Fatal(err)
				}
				out = append(out[:0], row[:split]...)
				out = m.AppendCommit(out, c, r.Index, r.Index == 999)
				out = append(append(out, row[split:]...), '\n')
			}
			if !json.Valid(out) {
				b.Fatalf("not JSON: %s", out)
			}
			b.SetBytes(int64(len(out)))
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
