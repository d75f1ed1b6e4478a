package compact

import (
	"fmt"
	"iter"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// batchRows is how many rows go into one Arrow record batch.
const batchRows = 1 << 16

// addRecord adds the rows of a record batch read from a snapshot.
func (s *tableState) addRecord(rec arrow.RecordBatch) error {
	return s.recordRows(rec, func(key string, r *row) error {
		s.rows[key] = r
		return nil
	})
}

// recordRows calls fn with each row of a record batch read from a
// snapshot, and its key.
func (s *tableState) recordRows(rec arrow.RecordBatch, fn func(key string, r *row) error) error {
	sc := rec.Schema()
	idx := make([]int, sc.NumFields()) // column index, or -1 for the place
	placeCol, genCol := -1, -1
	for i, f := range sc.Fields() {
		if f.Name == ColumnPlace {
			placeCol, idx[i] = i, -1
			continue
		}
		if f.Name == ColumnGeneration {
			genCol, idx[i] = i, -1
			continue
		}
		idx[i] = s.col(f.Name)
	}
	if placeCol < 0 {
		return fmt.Errorf("no %s column", ColumnPlace)
	}
	pkIdx := make([]int, len(s.pk))
	for i, name := range s.pk {
		pkIdx[i] = s.col(name)
	}
	digits := make([]int, sc.NumFields()) // fraction digits of a temporal column, -1 unknown
	for i, f := range sc.Fields() {
		digits[i] = -1
		if d, ok := s.fracs[f.Name]; ok {
			digits[i] = d
		}
	}
	places := rec.Column(placeCol)
	key := make([]any, len(s.pk))
	for r := 0; r < int(rec.NumRows()); r++ {
		vals := make([]any, len(s.cols))
		for i, ci := range idx {
			if ci < 0 {
				continue
			}
			v, err := arrowValue(rec.Column(i), r, digits[i])
			if err != nil {
				return fmt.Errorf("column %s: %w", sc.Field(i).Name, err)
			}
			vals[ci] = v
		}
		dk, err := arrowValue(places, r, -1)
		if err != nil {
			return err
		}
		ds, _ := dk.(string)
		at, sid, err := parseDedupeKey(ds)
		if err != nil {
			return fmt.Errorf("column %s: %w", ColumnPlace, err)
		}
		if genCol >= 0 {
			g, err := arrowValue(rec.Column(genCol), r, -1)
			if err != nil {
				return fmt.Errorf("column %s: %w", ColumnGeneration, err)
			}
			n, _ := g.(int64) // null: 0
			if n < 0 || n > int64(^uint32(0)) {
				return fmt.Errorf("column %s: generation %d out of range", ColumnGeneration, n)
			}
			at.gen = uint32(n)
		}
		for i, ci := range pkIdx {
			key[i] = vals[ci]
		}
		if err := fn(keyOf(key), &row{vals: vals, at: at, sid: sid}); err != nil {
			return err
		}
	}
	return nil
}

// arrowValue converts a value read from a snapshot back to the
// compactor's values; a time's fraction has digits digits (-1: as many
// as it needs).
func arrowValue(col arrow.Array, i int, digits int) (any, error) {
	if col.IsNull(i) {
		return nil, nil
	}
	switch a := col.(type) {
	case *array.Int64:
		return a.Value(i), nil
	case *array.Int32:
		return int64(a.Value(i)), nil
	case *array.Decimal128:
		scale := a.DataType().(*arrow.Decimal128Type).Scale
		return number(a.Value(i).ToString(scale)), nil
	case *array.String:
		return a.Value(i), nil
	case *array.LargeString:
		return a.Value(i), nil
	case *array.Date32:
		return formatDate(int32(a.Value(i))), nil
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return formatDateTime(int64(a.Value(i))*int64(unit.Multiplier())/int64(time.Microsecond), digits), nil
	case *array.Time64:
		unit := a.DataType().(*arrow.Time64Type).Unit
		return formatClock(int64(a.Value(i))*int64(unit.Multiplier())/int64(time.Microsecond), digits), nil
	}
	return nil, fmt.Errorf("unexpected Arrow type %s", col.DataType())
}

// records yields the rows as Arrow record batches of schema sc.
func (s *tableState) records(sc *arrow.Schema, cols []column, rows []*row) iter.Seq2[arrow.RecordBatch, error] {
	types := make(map[string]colType, len(cols))
	for _, c := range cols {
		types[c.name] = c.typ
	}
	return func(yield func(arrow.RecordBatch, error) bool) {
		for start := 0; start < len(rows); start += batchRows {
			rec, err := s.record(sc, types, rows[start:min(start+batchRows, len(rows))])
			if !yield(rec, err) || err != nil {
				return
			}
		}
	}
}

func (s *tableState) record(sc *arrow.Schema, types map[string]colType, rows []*row) (arrow.RecordBatch, error) {
	b := array.NewRecordBuilder(memory.DefaultAllocator, sc)
	defer b.Release()
	b.Reserve(len(rows))
	for fi, f := range sc.Fields() {
		if f.Name == ColumnPlace {
			sb := b.Field(fi).(*array.StringBuilder)
			for _, r := range rows {
				sb.Append(r.at.dedupeKey(r.sid))
			}
			continue
		}
		if f.Name == ColumnGeneration {
			gb := b.Field(fi).(*array.Int64Builder)
			for _, r := range rows {
				gb.Append(int64(r.at.gen))
			}
			continue
		}
		ci, ok := s.colIdx[f.Name]
		if !ok {
			ci = -1
		}
		t := types[f.Name]
		for _, r := range rows {
			var v any
			if ci >= 0 {
				v = r.value(ci)
			}
			nulled, err := appendValue(b.Field(fi), t, v)
			if err != nil {
				return nil, fmt.Errorf("column %s: %w", f.Name, err)
			}
			if nulled {
				s.nulled++
			}
		}
	}
	return b.NewRecordBatch(), nil
}

// appendValue appends v; nulled reports a value the column's temporal
// type cannot hold (a zero date, a TIME outside a day), appended as NULL.
func appendValue(b array.Builder, t colType, v any) (nulled bool, err error) {
	if v == nil {
		b.AppendNull()
		return false, nil
	}
	switch b := b.(type) {
	case *array.Int64Builder:
		n, ok := v.(int64)
		if !ok {
			return false, fmt.Errorf("%v (%T) in a long column", v, v)
		}
		b.Append(n)
	case *array.Int32Builder:
		n, ok := v.(int64)
		if !ok || n != int64(int32(n)) {
			return false, fmt.Errorf("%v (%T) in an int column", v, v)
		}
		b.Append(int32(n))
	case *array.Decimal128Builder:
		d, err := toDecimal(v, t.scale)
		if err != nil {
			return false, err
		}
		b.Append(d)
	case *array.StringBuilder:
		b.Append(toText(v))
	case *array.LargeStringBuilder:
		b.Append(toText(v))
	case *array.Date32Builder:
		d, ok := dateDays(v)
		if !ok {
			b.AppendNull()
			return true, nil
		}
		b.Append(arrow.Date32(d))
	case *array.TimestampBuilder:
		us, ok := dateTimeMicros(v)
		if !ok {
			b.AppendNull()
			return true, nil
		}
		unit := b.Type().(*arrow.TimestampType).Unit
		b.Append(arrow.Timestamp(us * int64(time.Microsecond) / int64(unit.Multiplier())))
	case *array.Time64Builder:
		us, ok := timeMicros(v)
		if !ok {
			b.AppendNull()
			return true, nil
		}
		unit := b.Type().(*arrow.Time64Type).Unit
		b.Append(arrow.Time64(us * int64(time.Microsecond) / int64(unit.Multiplier())))
	default:
		return false, fmt.Errorf("unexpected Arrow builder %T", b)
	}
	return false, nil
}
