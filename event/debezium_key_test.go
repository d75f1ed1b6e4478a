package event

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/schema"
)

// TestDebeziumKeyFromValue: the key document derived from a row change
// event's value is byte for byte AppendDebeziumKey's for the row, with and
// without schemas, in every value mode, for each kind of change, with a
// composite key of types the modes render differently; deletes are told
// apart; keyless tables and events that are not row changes get no key.
func TestDebeziumKeyFromValue(t *testing.T) {
	lines := &schema.Table{
		Database: "shop", Name: "lines",
		Columns: []schema.Column{
			{Name: "note", Type: mysql.MYSQL_TYPE_VARCHAR, Charset: "utf8mb4", Nullable: true},
			{Name: "Order_ID", Type: mysql.MYSQL_TYPE_LONGLONG, Unsigned: true},
			{Name: "day", Type: mysql.MYSQL_TYPE_DATETIME2},
			{Name: "price", Type: mysql.MYSQL_TYPE_NEWDECIMAL, Precision: 10, Scale: 2},
		},
		PrimaryKey: []int{1, 2, 3},
	}
	keyCols := []string{"Order_ID", "day", "price"}
	before := []any{"a", uint64(1) << 63, "2024-01-02 03:04:05", "12.50"}
	after := []any{"b", uint64(7), "2024-01-03 00:00:00", "-0.01"}
	rows := []struct {
		row *Row
		del bool
	}{
		{&Row{Table: lines, Type: Insert, After: after}, false},
		{&Row{Table: lines, Type: Update, Before: before, After: after}, false},
		{&Row{Table: lines, Type: Delete, Before: before}, true},
		{&Row{Table: lines, Type: BootstrapInsert, After: after}, false},
	}
	modes := []func(*DebeziumOptions){
		func(*DebeziumOptions) {},
		func(o *DebeziumOptions) {
			o.DecimalHandlingMode, o.BigintUnsignedHandlingMode, o.TimePrecisionMode = DecimalString, BigintPrecise, TimeConnect
		},
		func(o *DebeziumOptions) { o.DecimalHandlingMode = DecimalDouble; o.TransactionMetadata = true },
	}
	for _, schemas := range []bool{false, true} {
		for m, mode := range modes {
			opts := DefaultDebeziumOptions()
			opts.SchemasEnable = schemas
			mode(&opts)
			d := NewDebeziumWith("main", opts)
			cache := NewDebeziumKeys()
			for _, tt := range rows {
				value := encodeEvent(t, d, &Tx{ServerID: 7}, tt.row, &Commit{Timestamp: 1700000000}, 0, true)
				want, err := AppendDebeziumKey(nil, "main", tt.row, opts)
				if err != nil {
					t.Fatal(err)
				}
				got, del, err := DebeziumKeyFromValue([]byte("x"), []byte(value), keyCols)
				if err != nil {
					t.Fatalf("schemas=%v mode %d %s: %v", schemas, m, tt.row.Type, err)
				}
				if string(got) != "x"+string(want) || del != tt.del {
					t.Errorf("schemas=%v mode %d %s: key %s (delete %v), want %s (delete %v)", schemas, m, tt.row.Type, got, del, want, tt.del)
				}
				// Through the cache: its first call fills it (with
				// schemas), the second reads it.
				for i := range 2 {
					if hit := cache.tables["shop.lines"] != nil; i == 1 && hit != schemas {
						t.Errorf("schemas=%v: cached %v", schemas, hit)
					}
					got, del, err := cache.Append(nil, []byte(value), "shop.lines", keyCols)
					if err != nil || string(got) != string(want) || del != tt.del {
						t.Errorf("schemas=%v mode %d %s, cached: key %s (delete %v, %v), want %s", schemas, m, tt.row.Type, got, del, err, want)
					}
				}
			}
		}
	}
	// A keyless table's rows: no key, deletes still told apart.
	keyless := &schema.Table{Database: "shop", Name: "log", Columns: lines.Columns}
	value := encodeEvent(t, NewDebezium("main"), &Tx{ServerID: 7}, &Row{Table: keyless, Type: Delete, Before: before}, &Commit{Timestamp: 1}, 0, true)
	if got, del, err := DebeziumKeyFromValue(nil, []byte(value), nil); err != nil || got != nil || !del {
		t.Errorf("keyless delete: key %q, delete %v, %v; want no key, a delete", got, del, err)
	}
	// A schema change event is not a row change.
	if got, del, err := DebeziumKeyFromValue(nil, []byte(`{"source":{},"ddl":"DROP TABLE t","databaseName":"shop"}`), keyCols); err != nil || got != nil || del {
		t.Errorf("schema change: key %q, delete %v, %v; want none", got, del, err)
	}
	// A key column the value lacks is an error that names it.
	d := NewDebezium("main")
	value = encodeEvent(t, d, &Tx{ServerID: 7}, rows[0].row, &Commit{Timestamp: 1}, 0, true)
	if _, _, err := DebeziumKeyFromValue(nil, []byte(value), []string{"Order_ID", "missing"}); err == nil {
		t.Error("a key column missing from the value gave no error")
	}
}

// BenchmarkDebeziumKeyFromValue: the Kafka sink's cost of a key document
// per event, without and with schemas.
func BenchmarkDebeziumKeyFromValue(b *testing.B) {
	for _, mode := range []string{"payload", "schemas", "schemas-cached"} {
		b.Run(mode, func(b *testing.B) {
			opts := DefaultDebeziumOptions()
			opts.SchemasEnable = mode != "payload"
			var cache *DebeziumKeys
			if mode == "schemas-cached" {
				cache = NewDebeziumKeys()
			}
			d := NewDebeziumWith("main", opts)
			row := &Row{Table: ordersTable(), Type: Update, Before: []any{int32(5), "old", "12.50", nil}, After: []any{int32(5), "new", "12.50", "2024-02-29 23:59:59"}}
			value, split, err := d.AppendRow(nil, &Tx{ServerID: 7}, row)
			if err != nil {
				b.Fatal(err)
			}
			value = append(d.AppendCommit(value[:split:split], &Commit{Timestamp: 1}, 0, true), value[split:]...)
			cols := []string{"id"}
			b.SetBytes(int64(len(value)))
			b.ReportAllocs()
			var key []byte
			for b.Loop() {
				if key, _, err = cache.Append(key[:0], value, "shop.orders", cols); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
