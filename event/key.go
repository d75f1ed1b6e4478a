package event

import "github.com/sluicecdc/sluice/schema"

// Keys encodes rows' primary keys, what sinks that partition by row
// (Kinesis) route on. It caches per-table encodings and is not safe for
// concurrent use.
type Keys struct {
	tables  map[*schema.Table][]columnCodec // the primary key's columns, in key order
	scratch []byte
}

// NewKeys returns a primary-key encoder.
func NewKeys() *Keys {
	return &Keys{tables: make(map[*schema.Table][]columnCodec)}
}

// AppendKey appends r's primary key to dst as a JSON array of the key
// columns' values in key order, each encoded as in the Maxwell format's
// "primary_key" object: `[42]`, `[7,"2024-01-01"]`. The values come from the
// image after the change (before it for deletes), so an update that changes
// the key is routed by its new key. A table without a primary key appends
// nothing.
func (k *Keys) AppendKey(dst []byte, r *Row) ([]byte, error) {
	t := r.Table
	if len(t.PrimaryKey) == 0 {
		return dst, nil
	}
	cols, ok := k.tables[t]
	if !ok {
		cols = make([]columnCodec, len(t.PrimaryKey))
		for n, i := range t.PrimaryKey {
			cc, err := newColumnCodec(&t.Columns[i])
			if err != nil {
				return dst, err
			}
			cols[n] = cc
		}
		if len(k.tables) > 4096 {
			clear(k.tables) // tables re-created by DDL churn: keep the cache bounded
		}
		k.tables[t] = cols
	}
	image := r.After
	if r.Type == Delete {
		image = r.Before
	}
	start := len(dst)
	dst = append(dst, '[')
	for n, i := range t.PrimaryKey {
		if n > 0 {
			dst = append(dst, ',')
		}
		var v any
		if i < len(image) {
			v = image[i]
		}
		var err error
		if dst, k.scratch, err = cols[n].appendValue(dst, v, k.scratch); err != nil {
			return dst[:start], err
		}
	}
	return append(dst, ']'), nil
}
