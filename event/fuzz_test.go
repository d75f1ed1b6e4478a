package event

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicecdc/sluice/schema"
)

// tableMapBytes assembles the body of a TABLE_MAP event (table id size 0)
// with full metadata: column names, signedness, charsets, ENUM/SET values
// and a primary key.
func tableMapBytes(types []byte, meta [][]byte, names []string, enumVals [][]string, pk []byte) []byte {
	b := []byte{0, 0} // flags
	b = append(b, 1, 'd', 0, 1, 't', 0)
	b = append(b, byte(len(types)))
	b = append(b, types...)
	var m []byte
	for _, x := range meta {
		m = append(m, x...)
	}
	b = append(b, byte(len(m)))
	b = append(b, m...)
	b = append(b, make([]byte, (len(types)+7)/8)...) // null bitmap: not null
	tlv := func(t byte, v []byte) {
		b = append(b, t, byte(len(v)))
		b = append(b, v...)
	}
	tlv(1, []byte{0x40}) // signedness: first numeric unsigned
	tlv(2, []byte{45})   // default charset utf8mb4
	tlv(10, []byte{})    // enum/set default charset (empty)
	var nb []byte
	for _, n := range names {
		nb = append(nb, byte(len(n)))
		nb = append(nb, n...)
	}
	tlv(4, nb) // column names
	var ev []byte
	for _, vals := range enumVals {
		ev = append(ev, byte(len(vals)))
		for _, v := range vals {
			ev = append(ev, byte(len(v)))
			ev = append(ev, v...)
		}
	}
	if len(ev) > 0 {
		tlv(6, ev) // enum values
	}
	tlv(8, pk) // simple primary key
	return b
}

// FuzzEncodeRows feeds arbitrary TABLE_MAP bodies through go-mysql's
// decoder and sluice's schema and encoders, with arbitrary values of the Go
// types go-mysql decodes each column type to: nothing panics, and every
// event that encodes without error is valid JSON.
func FuzzEncodeRows(f *testing.F) {
	f.Add(tableMapBytes(
		[]byte{mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_VARCHAR, mysql.MYSQL_TYPE_NEWDECIMAL, mysql.MYSQL_TYPE_STRING, mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_DATETIME2, mysql.MYSQL_TYPE_TIME2},
		[][]byte{nil, {0x40, 0}, {20, 10}, {mysql.MYSQL_TYPE_ENUM, 1}, {2}, {6}, {3}},
		[]string{"id", "name", "amount", "e", "body", "at", "dur"},
		[][]string{{"a", "b"}}, []byte{0}), []byte("seed values \x00\xff\x7f"))
	f.Add(tableMapBytes(
		[]byte{mysql.MYSQL_TYPE_LONGLONG, mysql.MYSQL_TYPE_BIT, mysql.MYSQL_TYPE_DOUBLE, mysql.MYSQL_TYPE_JSON, mysql.MYSQL_TYPE_GEOMETRY, mysql.MYSQL_TYPE_YEAR},
		[][]byte{nil, {1, 0}, {8}, {4}, {4}, nil},
		[]string{"k", "flags", "score", "doc", "g", "y"}, nil, []byte{0}), []byte{1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Fuzz(func(t *testing.T, tm []byte, values []byte) {
		ev := &replication.TableMapEvent{}
		if !decodeGuarded(ev, tm) {
			return // go-mysql rejects or chokes on it: not sluice's to judge
		}
		tbl, err := schema.FromTableMap(ev)
		if err != nil {
			return
		}
		tbl.Version = 1
		src := values
		next := func() byte {
			if len(src) == 0 {
				return 0
			}
			b := src[0]
			src = src[1:]
			return b
		}
		row := make([]any, len(tbl.Columns))
		old := make([]any, len(tbl.Columns))
		for i := range tbl.Columns {
			row[i] = fuzzValue(&tbl.Columns[i], next)
			old[i] = fuzzValue(&tbl.Columns[i], next)
		}
		tx := &Tx{ServerID: 1, GTID: "0-1-1"}
		commit := &Commit{Timestamp: 1, Xid: 2}
		for _, f := range []Format{NewMaxwell(DefaultMaxwellOptions()), NewDebezium("p")} {
			for _, typ := range []Type{Insert, Update, Delete} {
				r := &Row{Table: tbl, Type: typ, Before: old, After: row, Pos: Position{File: "b.000001", Offset: 4}}
				out, split, err := f.AppendRow(nil, tx, r)
				if err != nil {
					continue // a value of the wrong Go type is reported, not rendered
				}
				full := append(f.AppendCommit(append([]byte(nil), out[:split]...), commit, 0, true), out[split:]...)
				if !json.Valid(full) {
					t.Fatalf("%T %s: invalid JSON:\n%s", f, typ, full)
				}
			}
		}
	})
}

func decodeGuarded(ev *replication.TableMapEvent, b []byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return ev.Decode(b) == nil
}

// fuzzValue returns a value of the Go type go-mysql decodes the column to
// (or, now and then, nil or a value of another type), drawn from next.
func fuzzValue(c *schema.Column, next func() byte) any {
	sel := next()
	if sel%17 == 0 {
		return nil
	}
	if sel%29 == 1 {
		return struct{}{} // a type no column has: must be an error, not a panic
	}
	u64 := func() uint64 {
		var b [8]byte
		for i := range b {
			b[i] = next()
		}
		return binary.LittleEndian.Uint64(b[:])
	}
	str := func() string {
		n := int(next() % 24)
		b := make([]byte, n)
		for i := range b {
			b[i] = next()
		}
		return string(b)
	}
	switch c.Type {
	case mysql.MYSQL_TYPE_TINY, mysql.MYSQL_TYPE_SHORT, mysql.MYSQL_TYPE_INT24, mysql.MYSQL_TYPE_LONG, mysql.MYSQL_TYPE_LONGLONG:
		if c.Unsigned {
			return u64()
		}
		return int64(u64())
	case mysql.MYSQL_TYPE_YEAR:
		return int(next()) + 1900
	case mysql.MYSQL_TYPE_BIT, mysql.MYSQL_TYPE_ENUM, mysql.MYSQL_TYPE_SET:
		return int64(u64())
	case mysql.MYSQL_TYPE_FLOAT:
		return math.Float32frombits(uint32(u64()))
	case mysql.MYSQL_TYPE_DOUBLE:
		return math.Float64frombits(u64())
	case mysql.MYSQL_TYPE_NEWDECIMAL:
		return str() // go-mysql gives a decimal string; junk must not leak into JSON
	case mysql.MYSQL_TYPE_JSON:
		return str()
	case mysql.MYSQL_TYPE_BLOB, mysql.MYSQL_TYPE_GEOMETRY, mysql.MYSQL_TYPE_VECTOR:
		return []byte(str())
	}
	return str()
}
