package emit

import (
	"crypto/md5"
	"encoding/binary"
	"math/big"
	"math/bits"
	"strconv"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// kplMagic begins every KPL aggregated record.
var kplMagic = [4]byte{0xF3, 0x89, 0x9A, 0xC2}

// Field numbers of the KPL aggregation format:
//
//	message AggregatedRecord {
//	  repeated string partition_key_table     = 1;
//	  repeated string explicit_hash_key_table = 2;
//	  repeated Record records                 = 3;
//	}
//	message Record {
//	  required uint64 partition_key_index     = 1;
//	  optional uint64 explicit_hash_key_index = 2;
//	  required bytes  data                    = 3;
//	  repeated Tag    tags                    = 4;
//	}
const (
	aggPartitionKeyTable    protowire.Number = 1
	aggExplicitHashKeyTable protowire.Number = 2
	aggRecords              protowire.Number = 3
	recPartitionKeyIndex    protowire.Number = 1
	recExplicitHashKeyIdx   protowire.Number = 2
	recData                 protowire.Number = 3
)

// aggregator packs records into KPL aggregated records, one open aggregate
// per group. A record's group is fixed by the MD5 of its partition key (the
// hash Kinesis routes by), and an aggregate goes to the stream with its
// group's explicit hash key, the middle of the group's slice of the hash
// key space: all records of a key go to one shard, in order. Every user
// record inside carries that explicit hash key too, so that a KCL consumer,
// which drops user records whose hash key is outside its shard's range,
// keeps them all.
//
// An aggregate is the sender's unit of order, with its group label as key:
// Kinesis takes or refuses it whole, and under strict ordering a request
// holds at most one aggregate of a group. So a group's aggregates land one
// after the other in order, and with them every key of the group, however
// keys mix in a group; grouping by hash rather than by key is what lets
// aggregates fill when there are many more keys than shards.
type aggregator struct {
	groups   int
	maxBytes int
	open     map[int]*aggRecord
	labels   []string // per group: the aggregate's partition key
	hashKeys []string // per group: its explicit hash key, decimal
}

// aggregateLinger is how long an aggregate waits to fill while requests
// are under way.
const aggregateLinger = 100 * time.Millisecond

// aggRecord is an aggregate being filled.
type aggRecord struct {
	group  int
	opened time.Time
	keys   []string
	keyIdx map[string]uint64
	body   []byte // the records, each as AggregatedRecord field 3
	tables int    // encoded size of the two tables
	size   int    // capacity of body, counted in buffered
	shares []kinesisShare
}

// newAggregator returns an aggregator of aggregates up to maxBytes, and
// within recordLimit (a Kinesis record's limit, partition key included).
func newAggregator(groups, maxBytes, recordLimit int) *aggregator {
	a := &aggregator{
		groups:   groups,
		maxBytes: min(maxBytes, recordLimit-len(aggLabelPrefix+"65535")),
		open:     make(map[int]*aggRecord),
		labels:   make([]string, groups),
		hashKeys: make([]string, groups),
	}
	space := new(big.Int).Lsh(big.NewInt(1), 128)
	for g := range groups {
		// floor((2g+1) * 2^128 / 2G): the middle of group g's slice.
		mid := new(big.Int).Mul(space, big.NewInt(int64(2*g+1)))
		mid.Div(mid, big.NewInt(int64(2*groups)))
		a.hashKeys[g] = mid.String()
		a.labels[g] = aggLabelPrefix + strconv.Itoa(g)
	}
	return a
}

// aggLabelPrefix and the group number make an aggregate's partition key.
const aggLabelPrefix = "sluice-agg-"

// group returns the group of a partition key: the slice of the hash key
// space its MD5 falls in.
func (a *aggregator) group(key string) int {
	sum := md5.Sum([]byte(key))
	hi, _ := bits.Mul64(binary.BigEndian.Uint64(sum[:8]), uint64(a.groups))
	return int(hi)
}

// aggregateOverhead bounds what an aggregate of one record adds to its
// data, besides the partition key: magic, MD5, table entries and record
// framing.
const aggregateOverhead = 4 + md5.Size + 2*binary.MaxVarintLen64 + // magic, MD5; tag and length of each table entry
	2 + 40 + // explicit hash key entry
	4*binary.MaxVarintLen64 + 8 // record framing

// maxData is the largest record data of key that fits an aggregate of one
// within a Kinesis record of limit bytes.
func (a *aggregator) maxData(key string, limit int) int {
	return limit - len(aggLabelPrefix+"65535") - len(key) - aggregateOverhead
}

// encodedSize is the size of r sealed.
func (r *aggRecord) encodedSize() int { return len(kplMagic) + r.tables + len(r.body) + md5.Size }

// aggregateLocked adds a record to its group's open aggregate, first
// sealing the aggregate if the record would overfill it, and seals it
// when full. Callers hold s.mu.
func (s *KinesisSink) aggregateLocked(kb *kinesisBatch, key string, data []byte) {
	a := s.agg
	g := a.group(key)
	r := a.open[g]
	if r != nil && r.encodedSize()+r.grow(key, len(data)) > a.maxBytes {
		s.sealGroupLocked(r)
		r = nil
	}
	if r == nil {
		r = &aggRecord{group: g, opened: s.now(), keyIdx: make(map[string]uint64)}
		r.tables = protowire.SizeTag(aggExplicitHashKeyTable) + protowire.SizeBytes(len(a.hashKeys[g]))
		a.open[g] = r
	}
	idx, ok := r.keyIdx[key]
	if !ok {
		idx = uint64(len(r.keys))
		r.keys = append(r.keys, key)
		r.keyIdx[key] = idx
		r.tables += protowire.SizeTag(aggPartitionKeyTable) + protowire.SizeBytes(len(key))
	}
	held := cap(r.body)
	r.body = protowire.AppendTag(r.body, aggRecords, protowire.BytesType)
	r.body = protowire.AppendVarint(r.body, uint64(recordSize(idx, len(data))))
	r.body = protowire.AppendTag(r.body, recPartitionKeyIndex, protowire.VarintType)
	r.body = protowire.AppendVarint(r.body, idx)
	r.body = protowire.AppendTag(r.body, recExplicitHashKeyIdx, protowire.VarintType)
	r.body = protowire.AppendVarint(r.body, 0)
	r.body = protowire.AppendTag(r.body, recData, protowire.BytesType)
	r.body = protowire.AppendBytes(r.body, data)
	r.size += cap(r.body) - held
	s.buffered += cap(r.body) - held
	if n := len(r.shares); n > 0 && r.shares[n-1].batch == kb {
		r.shares[n-1].n++
	} else {
		r.shares = append(r.shares, kinesisShare{batch: kb, n: 1})
	}
	kb.left++
	if r.encodedSize() >= a.maxBytes {
		s.sealGroupLocked(r)
	}
}

// grow is how much adding a record of key with dataLen bytes of data
// makes r's encoded size grow.
func (r *aggRecord) grow(key string, dataLen int) int {
	idx, ok := r.keyIdx[key]
	n := 0
	if !ok {
		idx = uint64(len(r.keys))
		n = protowire.SizeTag(aggPartitionKeyTable) + protowire.SizeBytes(len(key))
	}
	return n + protowire.SizeTag(aggRecords) + protowire.SizeBytes(recordSize(idx, dataLen))
}

// recordSize is the encoded size of a Record message (not its framing).
func recordSize(keyIdx uint64, dataLen int) int {
	return protowire.SizeTag(recPartitionKeyIndex) + protowire.SizeVarint(keyIdx) +
		protowire.SizeTag(recExplicitHashKeyIdx) + protowire.SizeVarint(0) +
		protowire.SizeTag(recData) + protowire.SizeBytes(dataLen)
}

// sealLocked queues the open aggregates, all or those older than
// aggregateLinger, and returns how many it queued. Callers hold s.mu.
func (s *KinesisSink) sealLocked(all bool) int {
	n := 0
	old := s.now().Add(-aggregateLinger)
	for _, r := range s.agg.open {
		if all || r.opened.Before(old) {
			s.sealGroupLocked(r)
			n++
		}
	}
	return n
}

// sealGroupLocked encodes an open aggregate and queues it as a record.
// Callers hold s.mu.
func (s *KinesisSink) sealGroupLocked(r *aggRecord) {
	a := s.agg
	delete(a.open, r.group)
	out := make([]byte, 0, r.encodedSize())
	out = append(out, kplMagic[:]...)
	for _, k := range r.keys {
		out = protowire.AppendTag(out, aggPartitionKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, k)
	}
	out = protowire.AppendTag(out, aggExplicitHashKeyTable, protowire.BytesType)
	out = protowire.AppendString(out, a.hashKeys[r.group])
	out = append(out, r.body...)
	sum := md5.Sum(out[len(kplMagic):])
	out = append(out, sum[:]...)

	// The record now holds out, not the body it was built from.
	size := kinesisUnitBytes + cap(out)
	s.buffered += size - r.size
	u := &kinesisUnit{key: a.labels[r.group], size: size, shares: r.shares}
	u.entry.Data = out
	u.entry.PartitionKey = &u.key
	u.entry.ExplicitHashKey = &a.hashKeys[r.group]
	s.enqueueLocked(u)
}
