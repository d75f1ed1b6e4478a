package event

import (
	"encoding/json"
	"testing"
)

func TestDebeziumBytes(t *testing.T) {
	tbl := ordersTable()
	c := &Commit{Timestamp: 1700000000, Xid: 99}
	pos := Position{File: "mysql-bin.000003", Offset: 4711}
	tests := []struct {
		name string
		tx   *Tx
		row  *Row
		want string
	}{
		{
			name: "update",
			tx:   &Tx{ServerID: 7, GTID: "0-7-42"},
			row: &Row{
				Table: tbl, Type: Update, Pos: pos, Index: 1,
				Before: []any{int32(5), "old", "12.50", nil},
				After:  []any{int32(5), "new", "12.50", "2024-02-29 23:59:59"},
			},
			want: `{"before":{"id":5,"note":"old","amount":"BOI=","created":null},` +
				`"after":{"id":5,"note":"new","amount":"BOI=","created":1709251199000},` +
				`"source":{"version":"sluice","connector":"mysql","name":"main","snapshot":"false",` +
				`"db":"shop","table":"orders","server_id":7,"gtid":"0-7-42","file":"mysql-bin.000003","pos":4711,"row":1,` +
				`"thread":null,"query":null,"ts_ms":1700000000000},"ts_ms":1700000000000,"op":"u"}`,
		},
		{
			name: "insert without GTID",
			tx:   &Tx{ServerID: 7},
			row:  &Row{Table: tbl, Type: Insert, Pos: pos, After: []any{int32(6), nil, "-0.01", nil}},
			want: `{"before":null,"after":{"id":6,"note":null,"amount":"/w==","created":null},` +
				`"source":{"version":"sluice","connector":"mysql","name":"main","snapshot":"false",` +
				`"db":"shop","table":"orders","server_id":7,"gtid":null,"file":"mysql-bin.000003","pos":4711,"row":0,` +
				`"thread":null,"query":null,"ts_ms":1700000000000},"ts_ms":1700000000000,"op":"c"}`,
		},
		{
			name: "delete",
			tx:   &Tx{ServerID: 7},
			row:  &Row{Table: tbl, Type: Delete, Pos: pos, Index: 2, Before: []any{int32(6), "x", "1.00", nil}},
			want: `{"before":{"id":6,"note":"x","amount":"ZA==","created":null},"after":null,` +
				`"source":{"version":"sluice","connector":"mysql","name":"main","snapshot":"false",` +
				`"db":"shop","table":"orders","server_id":7,"gtid":null,"file":"mysql-bin.000003","pos":4711,"row":2,` +
				`"thread":null,"query":null,"ts_ms":1700000000000},"ts_ms":1700000000000,"op":"d"}`,
		},
		{
			name: "snapshot read",
			tx:   &Tx{ServerID: 7},
			row:  &Row{Table: tbl, Type: BootstrapInsert, After: []any{int32(6), "x", "1.00", nil}},
			want: `{"before":null,"after":{"id":6,"note":"x","amount":"ZA==","created":null},` +
				`"source":{"version":"sluice","connector":"mysql","name":"main","snapshot":"true",` +
				`"db":"shop","table":"orders","server_id":7,"gtid":null,"file":"","pos":0,"row":0,` +
				`"thread":null,"query":null,"ts_ms":1700000000000},"ts_ms":1700000000000,"op":"r"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewDebezium("main")
			// The commit fields do not depend on the row's place in the
			// transaction.
			for _, last := range []bool{false, true} {
				got := encodeEvent(t, d, tt.tx, tt.row, c, 0, last)
				if got != tt.want {
					t.Errorf("last=%v: got\n%s\nwant\n%s", last, got, tt.want)
				}
				if !json.Valid([]byte(got)) {
					t.Errorf("not JSON: %s", got)
				}
			}
		})
	}
}

func TestDebeziumUnknownType(t *testing.T) {
	r := &Row{Table: ordersTable(), Type: Type(42)}
	if _, _, err := NewDebezium("main").AppendRow(nil, &Tx{}, r); err == nil {
		t.Error("AppendRow accepted a row of unknown type")
	}
}
