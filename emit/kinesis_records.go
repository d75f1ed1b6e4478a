package emit

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/sluicecdc/sluice/event"
)

// addEvent turns event i of b into records. Callers hold s.mu.
func (s *KinesisSink) addEvent(kb *kinesisBatch, b *Batch, i int, r *Ref) {
	line := b.Data[r.Off : r.Off+r.Len]
	own := 0 // the line is a slice of the batch, counted with it
	if s.epochPrefix != nil {
		line = withEpoch(s.epochPrefix, line)
		own = cap(line)
	}
	key := s.routeKey(r, line)
	limit := s.cfg.MaxRecordBytes - len(key)
	if s.agg != nil {
		limit = s.agg.maxData(key, s.cfg.MaxRecordBytes)
	}
	if len(line) <= limit {
		s.addRecordLocked(kb, key, line, own)
		return
	}
	var dedupe []byte
	if r.Pos.IsZero() {
		dedupe = fmt.Appendf(nil, "seq:%d:%d", b.Seq, i)
	} else {
		dedupe = event.AppendDedupeKey(nil, r.ServerID, r.Pos, r.Index)
	}
	parts := splitEvent(line, dedupe, limit)
	s.log.Debug("event over the record size limit: sent in parts", "bytes", len(line), "parts", len(parts), "dedupe_key", string(dedupe))
	for _, p := range parts {
		s.addRecordLocked(kb, key, p, cap(p))
	}
}

// withEpoch returns a copy of the JSON object line with prefix
// (`{"epoch":N,`) in place of its opening brace.
func withEpoch(prefix, line []byte) []byte {
	out := make([]byte, 0, len(prefix)+len(line))
	out = append(out, prefix...)
	if len(line) >= 2 && line[1] == '}' {
		out = out[:len(out)-1] // an empty object: no comma
	}
	return append(out, line[1:]...)
}

// addRecordLocked queues one record (or adds it to its aggregate). own is
// the capacity of data's own allocation, 0 when data is a slice of the
// batch (counted with the batch).
func (s *KinesisSink) addRecordLocked(kb *kinesisBatch, key string, data []byte, own int) {
	if s.agg != nil {
		s.aggregateLocked(kb, key, data)
		return
	}
	size := kinesisUnitBytes + own
	s.buffered += size
	s.enqueueLocked(newUnit(key, data, size, kb))
}

// kinesisUnitBytes is about what a queued record holds besides its data:
// the unit, its request entry and partition key.
const kinesisUnitBytes = 256

// partitionKey is r's partition key under the configured scheme. Callers
// hold s.mu (it caches the last table's key).
func (s *KinesisSink) partitionKey(r *Ref) string {
	if s.cfg.PartitionKey == PartitionByDatabase {
		return fitPartitionKey(r.Database)
	}
	if r.Database != s.lastDB || r.Table != s.lastTable || s.lastKey == "" {
		s.lastDB, s.lastTable = r.Database, r.Table
		s.lastKey = r.Database
		if r.Table != "" {
			s.lastKey = r.Database + "." + r.Table
		}
	}
	if s.cfg.PartitionKey == PartitionByTable || len(r.Key) == 0 {
		return fitPartitionKey(s.lastKey)
	}
	return fitPartitionKey(s.lastKey + string(r.Key))
}

// fitPartitionKey makes k a valid partition key: at most 256 Unicode
// characters (counted as UTF-16 units, the stricter reading), else
// "sha256:" and the hex SHA-256 of k; never empty.
func fitPartitionKey(k string) string {
	if k == "" {
		return "-"
	}
	if len(k) <= kinesisMaxPartitionKey { // bytes bound UTF-16 units
		return k
	}
	n := 0
	for _, c := range k {
		n++
		if c > 0xFFFF {
			n++
		}
	}
	if n <= kinesisMaxPartitionKey {
		return k
	}
	sum := sha256.Sum256([]byte(k))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// kinesisPartPrefix begins every part of an event sent in parts.
const kinesisPartPrefix = `{"sluice_part":`

// splitEvent cuts line into parts of at most limit bytes each:
//
//	{"sluice_part":{"key":"<dedupe key>","n":1,"of":3},"data":"<base64 of bytes>"}
//
// with n counting from 1, and the data of parts 1..of concatenated giving
// the event back.
func splitEvent(line, dedupe []byte, limit int) [][]byte {
	qkey, _ := json.Marshal(string(dedupe))
	digits := len(strconv.Itoa(len(line))) // bounds the digits of n and of
	overhead := len(`{"sluice_part":{"key":,"n":,"of":},"data":""}`) + len(qkey) + 2*digits
	chunk := (limit - overhead) / 4 * 3
	if chunk < 1 {
		chunk = 1 // limits far below any real one; Validate rules them out
	}
	of := (len(line) + chunk - 1) / chunk
	parts := make([][]byte, 0, of)
	for n := 1; n <= of; n++ {
		raw := line[(n-1)*chunk : min(n*chunk, len(line))]
		p := make([]byte, 0, overhead+base64.StdEncoding.EncodedLen(len(raw)))
		p = append(p, kinesisPartPrefix+`{"key":`...)
		p = append(p, qkey...)
		p = append(p, `,"n":`...)
		p = strconv.AppendInt(p, int64(n), 10)
		p = append(p, `,"of":`...)
		p = strconv.AppendInt(p, int64(of), 10)
		p = append(p, `},"data":"`...)
		p = base64.StdEncoding.AppendEncode(p, raw)
		p = append(p, `"}`...)
		parts = append(parts, p)
	}
	return parts
}

// KinesisReassembler puts back together the events the Kinesis sink sent
// in parts. Feed it the records of one shard in stream order (after
// de-aggregation, if the sink aggregates). It is not safe for concurrent
// use.
//
// A resend may put copies of parts in the stream (see KinesisSink). A run
// of parts starting with part 1 is a fresh copy of the event: it replaces
// any parts held, and is returned again once complete, where the stream
// holds it. Parts after the first that come once their event is complete,
// without a part 1 before them, are copies left over from a resend that
// completed it, and are dropped.
type KinesisReassembler struct {
	partial map[string]*kinesisPartial
	// done remembers the last events completed (with their slot in
	// doneRing), to drop the left-over copies of their parts.
	done     map[string]int
	doneRing []string
	doneNext int
}

type kinesisPartial struct {
	parts [][]byte
	have  int
}

// kinesisReassemblerMemory is how many completed events a reassembler
// remembers.
const kinesisReassemblerMemory = 1024

// NewKinesisReassembler returns an empty reassembler.
func NewKinesisReassembler() *KinesisReassembler {
	return &KinesisReassembler{
		partial:  make(map[string]*kinesisPartial),
		done:     make(map[string]int),
		doneRing: make([]string, kinesisReassemblerMemory),
	}
}

// IsKinesisPart reports whether a record's data is a part of an event.
func IsKinesisPart(data []byte) bool { return bytes.HasPrefix(data, []byte(kinesisPartPrefix)) }

// Add takes one record's data and returns the event it completes: data
// itself when it is not a part, the whole event when it is the last
// missing part of a copy of one, and nil for other parts.
func (r *KinesisReassembler) Add(data []byte) ([]byte, error) {
	if !IsKinesisPart(data) {
		return data, nil
	}
	var p struct {
		Part *struct {
			Key string `json:"key"`
			N   int    `json:"n"`
			Of  int    `json:"of"`
		} `json:"sluice_part"`
		Data []byte `json:"data"`
	}
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("kinesis part: %w", err)
	}
	if p.Part == nil || p.Part.Key == "" || p.Part.Of < 1 || p.Part.N < 1 || p.Part.N > p.Part.Of {
		return nil, errors.New("kinesis part: bad sluice_part header")
	}
	key := p.Part.Key
	pe := r.partial[key]
	if p.Part.N == 1 {
		delete(r.done, key) // a fresh copy
		pe = nil
	} else if _, ok := r.done[key]; ok {
		return nil, nil
	}
	if pe == nil {
		pe = &kinesisPartial{parts: make([][]byte, p.Part.Of)}
		r.partial[key] = pe
	}
	if len(pe.parts) != p.Part.Of {
		return nil, fmt.Errorf("kinesis part %s: %d parts, earlier parts said %d", key, p.Part.Of, len(pe.parts))
	}
	if pe.parts[p.Part.N-1] == nil {
		pe.have++
	}
	pe.parts[p.Part.N-1] = p.Data
	if pe.have < len(pe.parts) {
		return nil, nil
	}
	delete(r.partial, key)
	if old := r.doneRing[r.doneNext]; old != "" && r.done[old] == r.doneNext {
		delete(r.done, old)
	}
	r.doneRing[r.doneNext] = key
	r.done[key] = r.doneNext
	r.doneNext = (r.doneNext + 1) % len(r.doneRing)
	return bytes.Join(pe.parts, nil), nil
}

// Pending is how many events have parts still missing.
func (r *KinesisReassembler) Pending() int { return len(r.partial) }
