package emit

import (
	"bytes"
	"context"
	"crypto/md5"
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// userRecord is one record of a KPL aggregate.
type userRecord struct {
	pk, ehk string
	data    []byte
}

// deaggregate unpacks a KPL aggregated record the way the KCL and the AWS
// deaggregation libraries do, written here from the format's
// documentation (the AWS Go deaggregator is not available to this build).
// It reports false for data that is not an aggregate.
func deaggregate(t testing.TB, data []byte) ([]userRecord, bool) {
	t.Helper()
	if len(data) < len(kplMagic)+md5.Size || !bytes.Equal(data[:len(kplMagic)], kplMagic[:]) {
		return nil, false
	}
	body := data[len(kplMagic) : len(data)-md5.Size]
	if sum := md5.Sum(body); !bytes.Equal(sum[:], data[len(data)-md5.Size:]) {
		t.Fatalf("aggregate of %d bytes: MD5 does not match", len(data))
	}
	var pks, ehks []string
	type rec struct {
		pki, ehki uint64
		hasEHK    bool
		data      []byte
	}
	var recs []rec
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			t.Fatalf("aggregate: bad tag: %v", protowire.ParseError(n))
		}
		body = body[n:]
		if typ != protowire.BytesType {
			t.Fatalf("aggregate: field %d has wire type %d", num, typ)
		}
		v, n := protowire.ConsumeBytes(body)
		if n < 0 {
			t.Fatalf("aggregate: field %d: %v", num, protowire.ParseError(n))
		}
		body = body[n:]
		switch num {
		case 1:
			pks = append(pks, string(v))
		case 2:
			ehks = append(ehks, string(v))
		case 3:
			var r rec
			for len(v) > 0 {
				fnum, ftyp, n := protowire.ConsumeTag(v)
				if n < 0 {
					t.Fatalf("record: bad tag")
				}
				v = v[n:]
				switch {
				case fnum == 1 && ftyp == protowire.VarintType:
					r.pki, n = protowire.ConsumeVarint(v)
				case fnum == 2 && ftyp == protowire.VarintType:
					r.ehki, n = protowire.ConsumeVarint(v)
					r.hasEHK = true
				case fnum == 3 && ftyp == protowire.BytesType:
					r.data, n = protowire.ConsumeBytes(v)
				default:
					n = protowire.ConsumeFieldValue(fnum, ftyp, v)
				}
				if n < 0 {
					t.Fatalf("record: field %d: %v", fnum, protowire.ParseError(n))
				}
				v = v[n:]
			}
			recs = append(recs, r)
		}
	}
	out := make([]userRecord, len(recs))
	for i, r := range recs {
		if r.pki >= uint64(len(pks)) || (r.hasEHK && r.ehki >= uint64(len(ehks))) {
			t.Fatalf("record %d: key index out of the tables", i)
		}
		out[i] = userRecord{pk: pks[r.pki], data: r.data}
		if r.hasEHK {
			out[i].ehk = ehks[r.ehki]
		}
	}
	return out, true
}

// hashKeyOf is the hash key Kinesis routes a partition key by.
func hashKeyOf(pk string) *big.Int {
	sum := md5.Sum([]byte(pk))
	return new(big.Int).SetBytes(sum[:])
}

// evenShard is the shard a hash key falls in when 2^128 is split evenly
// into n shards, as CreateStream does.
func evenShard(hashKey *big.Int, n int) int {
	q := new(big.Int).Mul(hashKey, big.NewInt(int64(n)))
	return int(q.Rsh(q, 128).Int64())
}

// TestKinesisAggregateRoundTrip: aggregated records unpack to every event
// (over-size ones in parts) under its own partition key, in order per key;
// each aggregate and every record in it carry their group's explicit hash
// key, which lies on the shard the records' own keys hash to when the
// shard count divides the group count, so a KCL consumer, which drops
// user records hashed outside its shard, keeps them all. Strict, with
// records refused and requests throttled: no request holds two aggregates
// of a group, and each key's events unpack exactly in order, once each.
func TestKinesisAggregateRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		ordering KinesisOrdering
		faults   bool
	}{
		{OrderRelaxed, false},
		{OrderStrict, true},
	} {
		t.Run(string(tc.ordering), func(t *testing.T) {
			m := &memKinesis{rng: rand.New(rand.NewPCG(9, 9)), inFlight: map[string]bool{}}
			if tc.faults {
				m.throttle, m.failRate, m.callFail = 0.3, 0.02, 0.05
			}
			cfg := testKinesisConfig()
			cfg.Ordering = tc.ordering
			cfg.Aggregate = true
			cfg.AggregateMaxBytes = 8 << 10
			cfg.AggregateGroups = 16
			cfg.MaxRecordBytes = 32 << 10
			s := newTestKinesisSink(t, &fakeKinesis{put: m.put}, cfg)
			rng := rand.New(rand.NewPCG(1, 2))
			var written []testEvent
			ctx := context.Background()
			for seq := uint64(1); seq <= 20; seq++ {
				evs := genEvents(rng, len(written), 50+rng.IntN(200), 40, 60)
				if seq%5 == 0 {
					evs[0].pad = 100_000 // over the record limit: parts
				}
				written = append(written, evs...)
				if err := s.Write(ctx, testBatch(seq, evs)); err != nil {
					t.Fatal(err)
				}
			}
			waitDurable(t, s, 20)

			var got []landed
			users, parts := 0, 0
			r := NewKinesisReassembler()
			for _, kr := range m.records {
				if len(kr.data)+len(kr.pk) > cfg.MaxRecordBytes {
					t.Fatalf("aggregate of %d bytes over the limit", len(kr.data))
				}
				recs, ok := deaggregate(t, kr.data)
				if !ok {
					t.Fatalf("record under %q is not an aggregate", kr.pk)
				}
				hk, _ := new(big.Int).SetString(kr.ehk, 10)
				if hk == nil {
					t.Fatalf("aggregate under %q: explicit hash key %q", kr.pk, kr.ehk)
				}
				for _, u := range recs {
					users++
					if u.ehk != kr.ehk {
						t.Fatalf("user record %s: explicit hash key %q, aggregate's %q", u.pk, u.ehk, kr.ehk)
					}
					for _, shards := range []int{1, 2, 4, 8, 16} {
						if evenShard(hashKeyOf(u.pk), shards) != evenShard(hk, shards) {
							t.Fatalf("user record %s lands on shard %d of %d, not on its own key's", u.pk, evenShard(hk, shards), shards)
						}
					}
					if IsKinesisPart(u.data) {
						parts++
					}
					e, err := r.Add(u.data)
					if err != nil {
						t.Fatal(err)
					}
					if e != nil {
						got = append(got, parseLanded(t, u.pk, e))
					}
				}
			}
			if tc.ordering == OrderStrict {
				if m.repeat {
					t.Error("a request held two aggregates of one group")
				}
				if dups := checkStrictKeyOrder(t, written, got, primaryKeyOf, true); dups != 0 {
					t.Errorf("%d copies landed", dups)
				}
			} else {
				checkKeyOrder(t, written, got, primaryKeyOf)
			}
			st := s.Stats()
			t.Logf("%d events in %d user records (%d parts) in %d Kinesis records; %+v", len(written), users, parts, len(m.records), st)
			if parts == 0 || len(m.records) >= len(written)/4 {
				t.Errorf("%d parts, %d Kinesis records for %d events: want parts, and aggregation", parts, len(m.records), len(written))
			}
			if st.Records != int64(len(m.records)) || st.Events != int64(users) {
				t.Errorf("stats %+v: want %d records, %d events", st, len(m.records), users)
			}
			if tc.faults && st.Retries == 0 {
				t.Errorf("stats %+v: want retries", st)
			}
		})
	}
}

// TestKinesisAggregateFitsRecordLimit: with aggregate_max_bytes at the
// record limit, aggregates of records of every size fill up to the limit
// and never over it, their partition key included.
func TestKinesisAggregateFitsRecordLimit(t *testing.T) {
	m := &memKinesis{rng: rand.New(rand.NewPCG(9, 9)), inFlight: map[string]bool{}}
	cfg := testKinesisConfig()
	cfg.Aggregate = true
	cfg.MaxRecordBytes = 4 << 10
	cfg.AggregateMaxBytes = cfg.MaxRecordBytes
	cfg.AggregateGroups = 1
	s := newTestKinesisSink(t, &fakeKinesis{put: m.put}, cfg)
	rng := rand.New(rand.NewPCG(1, 2))
	n := 0
	for seq := uint64(1); seq <= 100; seq++ {
		evs := genEvents(rng, n, 100, 3, 0)
		for i := range evs {
			evs[i].pad = rng.IntN(200)
		}
		n += len(evs)
		if err := s.Write(context.Background(), testBatch(seq, evs)); err != nil {
			t.Fatal(err)
		}
	}
	waitDurable(t, s, 100)
	largest := 0
	for _, r := range m.records {
		size := len(r.data) + len(r.pk)
		if size > cfg.MaxRecordBytes {
			t.Fatalf("aggregate of %d bytes under %q: over the %d-byte limit", len(r.data), r.pk, cfg.MaxRecordBytes)
		}
		largest = max(largest, size)
	}
	if largest < cfg.MaxRecordBytes-300 {
		t.Errorf("largest aggregate %d bytes: want them filled near %d", largest, cfg.MaxRecordBytes)
	}
}

// TestKinesisAggregateGroups: a partition key's group is fixed, groups
// split the hash key space evenly, and each group's explicit hash key lies
// in its slice.
func TestKinesisAggregateGroups(t *testing.T) {
	a := newAggregator(256, 64<<10, 1<<20)
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	for g, s := range a.hashKeys {
		hk, _ := new(big.Int).SetString(s, 10)
		if got := evenShard(hk, 256); got != g {
			t.Fatalf("group %d: hash key %s is in slice %d", g, s, got)
		}
		if hk.Cmp(space) >= 0 {
			t.Fatalf("group %d: hash key %s over 2^128-1", g, s)
		}
	}
	for i := range 1000 {
		pk := fmt.Sprintf("shop.orders[%d]", i)
		if g := a.group(pk); g != evenShard(hashKeyOf(pk), 256) || g != a.group(pk) {
			t.Fatalf("%s: group %d, its hash key is in slice %d", pk, g, evenShard(hashKeyOf(pk), 256))
		}
	}
}
