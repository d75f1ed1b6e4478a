package event

import (
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/schema"
)

func TestKeysAppendKey(t *testing.T) {
	orders := ordersTable()
	composite := &schema.Table{
		Database: "shop",
		Name:     "lines",
		Columns: []schema.Column{
			{Name: "note", Type: mysql.MYSQL_TYPE_VARCHAR, Charset: "utf8mb4"},
			{Name: "order_id", Type: mysql.MYSQL_TYPE_LONGLONG},
			{Name: "day", Type: mysql.MYSQL_TYPE_DATE},
		},
		PrimaryKey: []int{1, 2}, // key order, not column order
	}
	keyless := &schema.Table{Database: "shop", Name: "log", Columns: orders.Columns}
	tests := []struct {
		name string
		row  Row
		want string
	}{
		{"insert", Row{Table: orders, Type: Insert, After: []any{int32(5), "n", "1.00", nil}}, `[5]`},
		{"update takes the new key", Row{Table: orders, Type: Update, Before: []any{int32(5), nil, "1.00", nil}, After: []any{int32(6), nil, "1.00", nil}}, `[6]`},
		{"delete takes the old key", Row{Table: orders, Type: Delete, Before: []any{int32(9), nil, "1.00", nil}}, `[9]`},
		{"composite", Row{Table: composite, Type: Insert, After: []any{"x\"y", int64(-3), "2024-01-02"}}, `[-3,"2024-01-02"]`},
		{"keyless", Row{Table: keyless, Type: Insert, After: []any{int32(1), nil, "1.00", nil}}, ``},
	}
	k := NewKeys()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the second time from the cache
				got, err := k.AppendKey([]byte("pre"), &tt.row)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != "pre"+tt.want {
					t.Errorf("got %s, want pre%s", got, tt.want)
				}
			}
		})
	}
	bad := Row{Table: orders, Type: Insert, After: []any{"not an int"}}
	got, err := k.AppendKey([]byte("pre"), &bad)
	if err == nil || string(got) != "pre" {
		t.Errorf("bad value: got %q, %v; want an error and dst unchanged", got, err)
	}
}
