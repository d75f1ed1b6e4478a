package event

import (
	"encoding/json"
	"testing"
)

// BenchmarkDebeziumEncode encodes one wide row in the Debezium format with
// Debezium's value types, as the pipeline does (the row, then its commit
// fields), with and without schemas. Compare with BenchmarkMaxwellEncode.
func BenchmarkDebeziumEncode(b *testing.B) {
	tbl := wideTable()
	tx := &Tx{ServerID: 1, GTID: "0-1-4242"}
	c := &Commit{Timestamp: 1742000000, Xid: 4242, Pos: Position{File: "mysql-bin.000001", Offset: 1_000_000}}
	for _, schemas := range []bool{false, true} {
		for _, tc := range []struct {
			name string
			row  Row
		}{
			{"insert", Row{Table: tbl, Type: Insert, After: wideImage(812, "123.4500", "new")}},
			{"update", Row{Table: tbl, Type: Update, Before: wideImage(812, "123.4500", "new"), After: wideImage(812, "130.0001", "paid")}},
		} {
			name := tc.name
			if schemas {
				name += "/schemas"
			}
			b.Run(name, func(b *testing.B) {
				opts := DefaultDebeziumOptions()
				opts.SchemasEnable = schemas
				d := NewDebeziumWith("main", opts)
				r := tc.row
				r.Pos = Position{File: "mysql-bin.000001", Offset: 999_000}
				var row, out []byte
				b.ReportAllocs()
				for i := 0; b.Loop(); i++ {
					r.Index = i % 1000
					var split int
					var err error
					if row, split, err = d.AppendRow(row[:0], tx, &r); err != nil {
						b.Fatal(err)
					}
					out = append(out[:0], row[:split]...)
					out = d.AppendCommit(out, c, r.Index, r.Index == 999)
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
}
