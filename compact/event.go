package compact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluicecdc/sluice/event/position"
)

// place is where a change sits in the binlog: the pipeline's source
// generation when it read the change, the rows event's position and the
// row's index in it. Places are ordered by generation first (positions of
// different servers do not compare; the pipeline starts a new generation
// when it moves to another server), then numerically (binlog file sequence
// number, offset, row), never as strings.
type place struct {
	gen uint32
	pos position.Position
	row int
}

func (p place) compare(o place) int {
	switch {
	case p.gen < o.gen:
		return -1
	case p.gen > o.gen:
		return 1
	}
	if c := p.pos.Compare(o.pos); c != 0 {
		return c
	}
	switch {
	case p.row < o.row:
		return -1
	case p.row > o.row:
		return 1
	}
	return 0
}

func (p place) isZero() bool { return p.pos.IsZero() }

// dedupeKey renders "server_id:file:offset:row" (without the generation).
func (p place) dedupeKey(serverID uint32) string {
	return strconv.FormatUint(uint64(serverID), 10) + ":" + p.pos.File + ":" +
		strconv.FormatUint(p.pos.Offset, 10) + ":" + strconv.Itoa(p.row)
}

// parseDedupeKey parses "server_id:file:offset:row" (generation 0).
func parseDedupeKey(s string) (place, uint32, error) {
	bad := func() (place, uint32, error) {
		return place{}, 0, fmt.Errorf("dedupe key %q: want server_id:file:offset:row", s)
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return bad()
	}
	row, err := strconv.Atoi(s[i+1:])
	if err != nil || row < 0 {
		return bad()
	}
	rest := s[:i]
	j := strings.IndexByte(rest, ':')
	if j < 0 {
		return bad()
	}
	sid, err := strconv.ParseUint(rest[:j], 10, 32)
	if err != nil {
		return bad()
	}
	pos, err := position.Parse(rest[j+1:])
	if err != nil || pos.File == "" {
		return bad()
	}
	return place{pos: pos, row: row}, uint32(sid), nil
}

// changeKind is what a change does to a table's rows.
type changeKind uint8

const (
	kindOther  changeKind = iota // schema changes that leave rows alone
	kindUpsert                   // insert, bootstrap-insert, update
	kindDelete
	kindClear // table-truncate, table-drop, database-drop
)

// change is one event of the lake, decoded as far as compaction needs.
type change struct {
	kind     changeKind
	typ      string
	database string
	table    string
	dedupe   string
	place    place
	serverID uint32
	ts       uint32
	// pk names the primary key's columns in key order; key holds their
	// values (of the row after the change, before it for deletes).
	pk  []string
	key []any
	// cols and vals are the row image ("data"), in column order.
	cols []string
	vals []any
	// old holds the changed columns' previous values of an update.
	old map[string]any
	// renamedFrom names the table a table-rename event renamed.
	renamedFrom string
	// sql is a schema change's statement.
	sql string
}

// errNoDedupeKey: events must carry dedupe_key for their order and copies.
var errNoDedupeKey = errors.New("event has no dedupe_key: compaction orders changes and drops copies by it (keep the Maxwell dedupe_key option on)")

// parseChange decodes one JSON line. It walks the event's members itself
// (encoding/json's reflection took most of a compaction's time) and keeps
// only what compaction needs.
func parseChange(line []byte) (*change, error) {
	var (
		c                            change
		pk, pkCols, data, old, oldTb []byte
		gen                          uint64
		err                          error
	)
	err = walkObject(line, func(name, v []byte) error {
		switch string(name) {
		case "database":
			c.database, err = jsonString(v)
		case "table":
			c.table, err = jsonString(v)
		case "type":
			c.typ, err = jsonString(v)
		case "dedupe_key":
			c.dedupe, err = jsonString(v)
		case "source_generation":
			gen, err = strconv.ParseUint(string(v), 10, 32)
		case "sql":
			c.sql, err = jsonString(v)
		case "ts":
			var n uint64
			n, err = strconv.ParseUint(string(v), 10, 32)
			c.ts = uint32(n)
		case "primary_key":
			pk = v
		case "primary_key_columns":
			pkCols = v
		case "data":
			data = v
		case "old":
			old = v
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("not a JSON event: %w", err)
	}
	if c.typ == "" {
		return nil, errors.New("event has no type: the compactor reads the Maxwell format")
	}
	if c.dedupe == "" {
		return nil, errNoDedupeKey
	}
	if c.place, c.serverID, err = parseDedupeKey(c.dedupe); err != nil {
		return nil, err
	}
	c.place.gen = uint32(gen) // absent (events of older sluice versions): 0
	switch c.typ {
	case "insert", "bootstrap-insert", "update":
		c.kind = kindUpsert
	case "delete":
		c.kind = kindDelete
	case "table-truncate", "table-drop", "database-drop":
		c.kind = kindClear
		return &c, nil
	case "table-rename":
		oldTb = old
		var db, tbl string
		if len(oldTb) > 0 && oldTb[0] == '{' {
			_ = walkObject(oldTb, func(name, v []byte) error {
				switch string(name) {
				case "database":
					db, _ = jsonString(v)
				case "table":
					tbl, _ = jsonString(v)
				}
				return nil
			})
			c.renamedFrom = db + "." + tbl
		}
		return &c, nil
	default:
		return &c, nil
	}
	if len(pk) > 0 && pk[0] == '[' {
		// Maxwell's shape: the values, named by primary_key_columns.
		if c.pk, c.key, err = decodeKeyArray(pk, pkCols); err != nil {
			return nil, fmt.Errorf("event %s: primary_key: %w", c.dedupe, err)
		}
	} else if pk != nil {
		if c.pk, c.key, err = decodeObject(pk); err != nil {
			return nil, fmt.Errorf("event %s: primary_key: %w", c.dedupe, err)
		}
	}
	if c.cols, c.vals, err = decodeObject(data); err != nil {
		return nil, fmt.Errorf("event %s: data: %w", c.dedupe, err)
	}
	if c.kind == kindUpsert && old != nil {
		cols, vals, err := decodeObject(old)
		if err != nil {
			return nil, fmt.Errorf("event %s: old: %w", c.dedupe, err)
		}
		c.old = make(map[string]any, len(cols))
		for i, col := range cols {
			c.old[col] = vals[i]
		}
	}
	return &c, nil
}

// errNoKeyColumns: a primary_key array names no columns by itself.
var errNoKeyColumns = errors.New("an array without primary_key_columns to name its values: turn on output.maxwell.primary_key_columns (or set output.maxwell.primary_key: object)")

// decodeKeyArray decodes a primary_key array and the primary_key_columns
// array that names its values.
func decodeKeyArray(pk, cols []byte) ([]string, []any, error) {
	if len(cols) == 0 || cols[0] != '[' {
		return nil, nil, errNoKeyColumns
	}
	var names []string
	if err := json.Unmarshal(cols, &names); err != nil {
		return nil, nil, fmt.Errorf("primary_key_columns: %w", err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(pk, &raw); err != nil {
		return nil, nil, err
	}
	if len(raw) != len(names) {
		return nil, nil, fmt.Errorf("%d values for %d primary_key_columns", len(raw), len(names))
	}
	if len(raw) == 0 {
		return nil, nil, nil // a table without a primary key
	}
	vals := make([]any, len(raw))
	for i, v := range raw {
		var err error
		if vals[i], err = decodeValue(v); err != nil {
			return nil, nil, fmt.Errorf("value %d: %w", i, err)
		}
	}
	return names, vals, nil
}

// number is a JSON number that is not an int64: a decimal, a float, or an
// integer beyond int64, kept exactly as written.
type number string

// decodeObject decodes a JSON object's members in order (null: none).
func decodeObject(raw []byte) ([]string, []any, error) {
	if len(raw) == 0 || raw[0] == 'n' {
		return nil, nil, nil
	}
	var (
		cols []string
		vals []any
	)
	err := walkObject(raw, func(name, v []byte) error {
		val, err := decodeValue(v)
		if err != nil {
			return fmt.Errorf("member %q: %w", name, err)
		}
		cols = append(cols, string(name))
		vals = append(vals, val)
		return nil
	})
	return cols, vals, err
}

// decodeValue maps a JSON value to the compactor's values: nil, int64,
// number, or string (JSON strings; objects, arrays and booleans as their
// JSON text).
func decodeValue(v []byte) (any, error) {
	if len(v) == 0 {
		return nil, errors.New("empty value")
	}
	switch c := v[0]; {
	case c == 'n':
		return nil, nil
	case c == '"':
		return jsonString(v)
	case c == '-' || c >= '0' && c <= '9':
		if bytes.IndexAny(v, ".eE") < 0 {
			if n, err := strconv.ParseInt(string(v), 10, 64); err == nil {
				return n, nil
			}
		}
		if !json.Valid(v) {
			return nil, fmt.Errorf("bad number %q", v)
		}
		return number(v), nil
	default:
		return string(v), nil
	}
}

// jsonString decodes a JSON string, without encoding/json when it holds no
// escapes.
func jsonString(v []byte) (string, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", fmt.Errorf("want a string, got %.40q", v)
	}
	if bytes.IndexByte(v, '\\') < 0 {
		return string(v[1 : len(v)-1]), nil
	}
	var s string
	err := json.Unmarshal(v, &s)
	return s, err
}

// walkObject calls fn with each member's name (raw, without quotes) and
// value (raw JSON) of the JSON object in b. It checks the structure it
// walks and never reads out of bounds; values are checked by their
// decoders.
func walkObject(b []byte, fn func(name, value []byte) error) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return errors.New("want an object")
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errors.New("want a member name")
		}
		end, err := skipString(b, i)
		if err != nil {
			return err
		}
		name := b[i+1 : end-1]
		if bytes.IndexByte(name, '\\') >= 0 {
			s, err := jsonString(b[i:end])
			if err != nil {
				return err
			}
			name = []byte(s)
		}
		i = skipSpace(b, end)
		if i >= len(b) || b[i] != ':' {
			return errors.New("want ':'")
		}
		i = skipSpace(b, i+1)
		vend, err := skipValue(b, i)
		if err != nil {
			return err
		}
		if err := fn(name, b[i:vend]); err != nil {
			return err
		}
		i = skipSpace(b, vend)
		if i >= len(b) {
			return errors.New("unterminated object")
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return nil
		default:
			return fmt.Errorf("unexpected %q", b[i])
		}
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] ('"').
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errors.New("unterminated string")
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, errors.New("missing value")
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipString(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errors.New("unterminated object or array")
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return 0, fmt.Errorf("unexpected %q", b[i])
	}
	switch b[i] {
	case 't', 'f', 'n':
		if w := string(b[i:j]); w != "true" && w != "false" && w != "null" {
			return 0, fmt.Errorf("unexpected %q", w)
		}
	}
	return j, nil
}
