package compact

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/iceberg-go/table"
)

// TableRows is a snapshot table as its Iceberg table holds it.
type TableRows struct {
	Columns []string    // without sluice's own (_sluice_*)
	Rows    [][]*string // values as text; nil is NULL
}

// ReadRows reads the snapshot table id back through its Iceberg table
// (iceberg-go's scan of the current snapshot), sorted by the first
// column, numbers by value: what a query engine reading the table sees.
func ReadRows(ctx context.Context, cat *Catalog, id table.Identifier) (*TableRows, error) {
	tbl, err := cat.LoadTable(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load table %s: %w", strings.Join(id, "."), err)
	}
	out := &TableRows{}
	for _, f := range tbl.Schema().Fields() {
		if !strings.HasPrefix(f.Name, "_sluice_") {
			out.Columns = append(out.Columns, f.Name)
		}
	}
	if tbl.CurrentSnapshot() == nil {
		return out, nil
	}
	_, recs, err := tbl.Scan().ToArrowRecords(ctx)
	if err != nil {
		return nil, fmt.Errorf("scan table %s: %w", strings.Join(id, "."), err)
	}
	for rec, err := range recs {
		if err != nil {
			return nil, fmt.Errorf("scan table %s: %w", strings.Join(id, "."), err)
		}
		for r := 0; r < int(rec.NumRows()); r++ {
			row := make([]*string, 0, len(out.Columns))
			for i, f := range rec.Schema().Fields() {
				if strings.HasPrefix(f.Name, "_sluice_") {
					continue
				}
				col := rec.Column(i)
				if col.IsNull(r) {
					row = append(row, nil)
					continue
				}
				s := col.ValueStr(r)
				if d, ok := col.(*array.Decimal128); ok { // with all its scale's digits, as SQL prints it
					s = d.Value(r).ToString(d.DataType().(*arrow.Decimal128Type).Scale)
				}
				row = append(row, &s)
			}
			out.Rows = append(out.Rows, row)
		}
		rec.Release()
	}
	slices.SortStableFunc(out.Rows, func(a, b []*string) int {
		if len(a) == 0 || len(b) == 0 || a[0] == nil || b[0] == nil {
			return cmp.Compare(len(a), len(b))
		}
		x, errx := strconv.ParseFloat(*a[0], 64)
		y, erry := strconv.ParseFloat(*b[0], 64)
		if errx == nil && erry == nil {
			return cmp.Compare(x, y)
		}
		return strings.Compare(*a[0], *b[0])
	})
	return out, nil
}
