package emit

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// routeKey is the partition key of the event r locates, line its JSON.
// Callers hold s.mu.
func (s *KinesisSink) routeKey(r *Ref, line []byte) string {
	switch s.cfg.PartitionKey {
	case PartitionByTransaction:
		if !r.Commit.IsZero() {
			k := make([]byte, 0, 48)
			k = append(k, "tx:"...)
			k = strconv.AppendUint(k, uint64(r.ServerID), 10)
			k = append(k, ':')
			k = append(k, r.Commit.File...)
			k = append(k, ':')
			k = strconv.AppendUint(k, r.Commit.Offset, 10)
			return fitPartitionKey(string(k))
		}
	case PartitionByColumns:
		if k, ok := columnsKey(line, s.cfg.Columns); ok {
			return fitPartitionKey(k)
		}
	}
	return s.partitionKey(r)
}

// columnsKey renders the values of cols in the event's row image as a
// JSON array: the Maxwell format's "data", the Debezium format's "after"
// (or "before", for a delete). ok is false when the event has no row
// image or lacks one of the columns.
func columnsKey(line []byte, cols []string) (string, bool) {
	type images struct {
		After, Before map[string]json.RawMessage
	}
	var ev struct {
		Data map[string]json.RawMessage `json:"data"`
		images
		Payload *images `json:"payload"` // Debezium with schemas
	}
	// Only the row image is decoded: the rest of the event is skipped.
	if err := json.Unmarshal(line, &ev); err != nil {
		return "", false
	}
	if ev.Payload != nil {
		ev.images = *ev.Payload
	}
	image := ev.Data
	if image == nil {
		image = ev.After
	}
	if image == nil {
		image = ev.Before
	}
	if image == nil {
		return "", false
	}
	var b bytes.Buffer
	b.WriteByte('[')
	for i, c := range cols {
		v, ok := image[c]
		if !ok {
			return "", false
		}
		if i > 0 {
			b.WriteByte(',')
		}
		if err := json.Compact(&b, v); err != nil {
			return "", false
		}
	}
	b.WriteByte(']')
	return b.String(), true
}
