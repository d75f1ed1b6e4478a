package filter

import (
	"testing"

	"github.com/sluicecdc/sluice/event"
)

// BenchmarkRow: the column filter on one 4-column row, one column dropped
// and one hashed (go test -bench Row ./filter).
func BenchmarkRow(b *testing.B) {
	f, err := New(Config{ExcludeColumns: []string{"shop.users.password_hash"}, HashColumns: []string{"shop.users.email"}, HashKey: []byte("key")})
	if err != nil {
		b.Fatal(err)
	}
	tbl := users()
	after := []any{int32(1), "ann@example.com", "h", int32(40)}
	b.ReportAllocs()
	for b.Loop() {
		r := event.Row{Table: tbl, Type: event.Insert, After: after}
		if err := f.Row(&r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTable: the table filter with a few patterns, per rows event.
func BenchmarkTable(b *testing.B) {
	f, err := New(Config{Include: []string{"shop.*", "billing.invoices"}, Exclude: []string{"shop.audit_*"}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !f.Table("shop", "orders") {
			b.Fatal("excluded")
		}
	}
}
