// Package eventtest reads Maxwell-format events back for tests: decoding,
// and folding a stream of row events into the rows it leaves.
package eventtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Row is what tests read of a Maxwell event.
type Row struct {
	Database string          `json:"database"`
	Table    string          `json:"table"`
	Type     string          `json:"type"`
	Data     json.RawMessage `json:"data"`
	Old      json.RawMessage `json:"old"`
	// PrimaryKey is the primary_key object; Read turns Maxwell's array
	// shape into it by PrimaryKeyColumns.
	PrimaryKey        json.RawMessage `json:"primary_key"`
	PrimaryKeyColumns []string        `json:"primary_key_columns"`
	DedupeKey         string          `json:"dedupe_key"`
}

// keyObject renders a primary_key array as the object it stands for.
func keyObject(pk json.RawMessage, cols []string) (json.RawMessage, error) {
	var vals []json.RawMessage
	if err := json.Unmarshal(pk, &vals); err != nil {
		return nil, err
	}
	if len(vals) != len(cols) {
		return nil, fmt.Errorf("primary_key %s has %d values for columns %v", pk, len(vals), cols)
	}
	if len(vals) == 0 {
		return nil, nil // a keyless table
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		name, _ := json.Marshal(c)
		b.Write(name)
		b.WriteByte(':')
		b.Write(vals[i])
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// Read decodes JSON lines.
func Read(r io.Reader) ([]Row, error) {
	var out []Row
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 64<<20)
	for n := 1; sc.Scan(); n++ {
		var ev Row
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return nil, fmt.Errorf("line %d: %w: %s", n, err, sc.Bytes())
		}
		if len(ev.PrimaryKey) > 0 && ev.PrimaryKey[0] == '[' {
			obj, err := keyObject(ev.PrimaryKey, ev.PrimaryKeyColumns)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n, err)
			}
			ev.PrimaryKey = obj
		}
		out = append(out, ev)
	}
	return out, sc.Err()
}

// Fold applies row events of database db in order and returns the rows
// they leave: table → key (see Key) → data object as the events render it.
// Updates that change the key remove the old key.
func Fold(evs []Row, db string) map[string]map[string]string {
	state := map[string]map[string]string{}
	for _, ev := range evs {
		if ev.Database != db || ev.Table == "" || len(ev.PrimaryKey) == 0 {
			continue
		}
		rows := state[ev.Table]
		if rows == nil {
			rows = map[string]string{}
			state[ev.Table] = rows
		}
		key := Key(ev.PrimaryKey, nil)
		switch ev.Type {
		case "update":
			if old := Key(ev.PrimaryKey, ev.Old); old != key {
				delete(rows, old) // the update moved the row's key
			}
			rows[key] = string(ev.Data)
		case "insert", "bootstrap-insert":
			rows[key] = string(ev.Data)
		case "delete":
			delete(rows, key)
		}
	}
	return state
}

// Key renders a primary_key object compactly, in its own order, with the
// values old holds for any of its columns (an update's "old": the key
// before the update).
func Key(pk, old json.RawMessage) string {
	var olds map[string]json.RawMessage
	_ = json.Unmarshal(old, &olds)
	d := json.NewDecoder(bytes.NewReader(pk))
	var b bytes.Buffer
	b.WriteByte('{')
	if _, err := d.Token(); err != nil {
		return string(pk)
	}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return string(pk)
		}
		name, _ := tok.(string)
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return string(pk)
		}
		if o, ok := olds[name]; ok {
			v = o
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		nb, _ := json.Marshal(name)
		b.Write(nb)
		b.WriteByte(':')
		_ = json.Compact(&b, v)
	}
	b.WriteByte('}')
	return b.String()
}
