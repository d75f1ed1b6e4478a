package emit

import (
	"context"
	"errors"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/event/position"
	"github.com/sluicecdc/sluice/schema"
)

// TestS3ObjectRegistryIfMatch: two writers of the lake's schema registry
// (an old leader and a new one) against versitygw. A write over a copy
// changed since it was read gets a 412; the registry reloads, merges the
// other's versions (keyed by position) and writes again, so neither
// overwrites the other's versions.
func TestS3ObjectRegistryIfMatch(t *testing.T) {
	_, f, _ := newVersitygwS3(t)
	ctx := context.Background()
	obj := NewS3Object(f.client, f.bucket, "raw/_schemas/main.json")
	table := func(name string) *schema.Table {
		return &schema.Table{Database: "shop", Name: name, Columns: []schema.Column{{Name: "id", Type: mysql.MYSQL_TYPE_LONG}}, PrimaryKey: []int{0}}
	}
	pos := func(off uint64) position.Position { return position.Position{File: "mysql-bin.000001", Offset: off} }

	old, err := schema.OpenRegistry(obj)
	if err != nil {
		t.Fatal(err)
	}
	newer, err := schema.OpenRegistry(obj)
	if err != nil {
		t.Fatal(err)
	}
	newer.Observe(table("orders"), pos(100))
	if err := newer.SaveContext(ctx); err != nil {
		t.Fatal(err)
	}
	// The old leader read before the new one wrote: its unconditional
	// write would drop shop.orders.
	old.Observe(table("lines"), pos(200))
	if err := old.SaveContext(ctx); err != nil {
		t.Fatal(err)
	}
	newer.Observe(table("users"), pos(300))
	if err := newer.SaveContext(ctx); err != nil {
		t.Fatal(err)
	}
	stored, err := schema.OpenRegistry(obj)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"orders", "lines", "users"} {
		if vs := stored.Versions("shop", name); len(vs) != 1 {
			t.Errorf("stored registry holds %d versions of shop.%s, want 1 (tables: %v)", len(vs), name, stored.Tables())
		}
	}
	// The condition itself: a write with a stale ETag is refused.
	_, etag, err := obj.ReadVersion(ctx)
	if err != nil || etag == "" {
		t.Fatalf("ReadVersion: %q, %v", etag, err)
	}
	if _, err := obj.WriteIf(ctx, []byte("{}\n"), etag); err != nil {
		t.Fatal(err)
	}
	if _, err := obj.WriteIf(ctx, []byte("{}\n"), etag); !errors.Is(err, schema.ErrChanged) {
		t.Fatalf("write with a stale ETag: %v, want ErrChanged", err)
	}
	if _, err := obj.WriteIf(ctx, []byte("{}\n"), ""); !errors.Is(err, schema.ErrChanged) {
		t.Fatalf("create over an existing object: %v, want ErrChanged", err)
	}
}
