package emit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/event/position"
	"github.com/sluicecdc/sluice/internal/testing/testport"
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

// TestS3ObjectTimeout: the registry object's reads and writes against a
// store that accepts connections and never answers fail after the
// object's timeout, naming it, under a context without a deadline.
func TestS3ObjectTimeout(t *testing.T) {
	// The SDK's default HTTP client has no response timeout: the object's
	// own deadline is what must end the calls.
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(testport.BlackHole(t)), UsePathStyle: true, Credentials: aws.AnonymousCredentials{}})
	o := NewS3Object(client, "lake", "cdc/_schemas/main.json").WithTimeout(300 * time.Millisecond)
	for _, c := range []struct {
		name string
		op   func(context.Context) error
	}{
		{"read", func(ctx context.Context) error { _, err := o.Read(ctx); return err }},
		{"write", func(ctx context.Context) error { return o.Write(ctx, []byte("{}")) }},
	} {
		done := make(chan error, 1)
		go func() { done <- c.op(context.Background()) }()
		select {
		case err := <-done:
			if !errors.Is(err, errNoAnswer) || !strings.Contains(err.Error(), "300ms") || !strings.Contains(err.Error(), "s3://lake/cdc/_schemas/main.json") {
				t.Errorf("%s on a silent store: %v, want an error naming the object and the 300ms timeout", c.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s on a silent store still waiting after 10s", c.name)
		}
	}
}
