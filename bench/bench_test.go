package main

import (
	"crypto/md5"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestWorkloadIsReproducible(t *testing.T) {
	a, rows := workload{rows: 100_000, seed: 7}.statements()
	b, _ := workload{rows: 100_000, seed: 7}.statements()
	c, _ := workload{rows: 100_000, seed: 8}.statements()
	if rows != 100_000 || len(a) != 100 {
		t.Fatalf("%d rows in %d statements, want 100000 in 100", rows, len(a))
	}
	if !slices.Equal(a, b) {
		t.Error("the same seed gave different statements")
	}
	if slices.Equal(a, c) {
		t.Error("another seed gave the same statements")
	}
	// 40 insert, 40 update, 20 delete statements, in that order, both tables.
	var kinds []string
	for _, s := range a {
		kind, _, _ := strings.Cut(s, " ")
		if len(kinds) == 0 || kinds[len(kinds)-1] != kind {
			kinds = append(kinds, kind)
		}
		if !strings.Contains(s, "bench.sbtest") && !strings.Contains(s, "bench.wide") {
			t.Errorf("statement on neither table: %.80s", s)
		}
	}
	if want := []string{"INSERT", "UPDATE", "DELETE"}; !slices.Equal(kinds, want) {
		t.Errorf("phases %v, want %v", kinds, want)
	}
}

func TestDeaggregate(t *testing.T) {
	plain := []byte(`{"table":"ticks"}`)
	if got, err := deaggregate(plain); err != nil || len(got) != 1 || string(got[0]) != string(plain) {
		t.Fatalf("plain record: %q, %v", got, err)
	}
	var body []byte
	body = protowire.AppendTag(body, 1, protowire.BytesType)
	body = protowire.AppendString(body, "k")
	for _, d := range []string{"one", "two"} {
		var rec []byte
		rec = protowire.AppendTag(rec, 1, protowire.VarintType)
		rec = protowire.AppendVarint(rec, 0)
		rec = protowire.AppendTag(rec, 3, protowire.BytesType)
		rec = protowire.AppendString(rec, d)
		body = protowire.AppendTag(body, 3, protowire.BytesType)
		body = protowire.AppendBytes(body, rec)
	}
	sum := md5.Sum(body)
	agg := append(append(append([]byte(nil), kplMagic...), body...), sum[:]...)
	got, err := deaggregate(agg)
	if err != nil || len(got) != 2 || string(got[0]) != "one" || string(got[1]) != "two" {
		t.Fatalf("aggregate: %q, %v", got, err)
	}
}

func TestSummarize(t *testing.T) {
	var d []time.Duration
	for i := 100; i >= 1; i-- {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	l := summarize(d)
	if l.n != 100 || l.p50 != 50*time.Millisecond || l.p99 != 99*time.Millisecond || l.maxv != 100*time.Millisecond {
		t.Errorf("got %+v", l)
	}
}

func TestTickCreated(t *testing.T) {
	ev := []byte(`{"database":"live","table":"ticks","type":"insert","ts":1,"data":{"id":1,"created_at":"2026-11-24 08:00:00.123456","payload":"tick-1"}}`)
	got, ok := tickCreated(ev)
	if want := time.Date(2026, 11, 24, 8, 0, 0, 123456000, time.UTC); !ok || !got.Equal(want) {
		t.Errorf("got %v %t, want %v", got, ok, want)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1000: "-1,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
