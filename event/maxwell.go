package event

import (
	"bytes"
	"strconv"

	"github.com/sluicecdc/sluice/schema"
)

// Format encodes change events. Encoding is split in two because the commit
// time and xid of a transaction are known only at its end: AppendRow writes
// a row with a gap at split, and AppendCommit writes what goes in the gap.
type Format interface {
	// AppendRow appends r's event to dst and returns the offset in the
	// result where the commit fields belong.
	AppendRow(dst []byte, tx *Tx, r *Row) (out []byte, split int, err error)
	// AppendDDL appends a schema change event, with a gap at split like
	// AppendRow.
	AppendDDL(dst []byte, tx *Tx, d *DDL) (out []byte, split int, err error)
	// AppendCommit appends the commit fields of the xoffset-th event of a
	// transaction; last is true for the transaction's final event.
	AppendCommit(dst []byte, c *Commit, xoffset int, last bool) []byte
}

// MaxwellOptions choose the optional fields of the Maxwell format, like
// Maxwell's output_* options. The zero value is Maxwell's own default
// output; DefaultMaxwellOptions is sluice's.
type MaxwellOptions struct {
	Position bool // "position": "file:offset" of the rows event (output_binlog_position)
	GTID     bool // "gtid", when the server writes GTIDs (output_gtid_position)
	ServerID bool // "server_id" (output_server_id)
	ThreadID bool // "thread_id" of the writing session, when the binlog carries it (output_thread_id)
	// PrimaryKey adds "primary_key": Maxwell's array of the key's values,
	// [1] (output_primary_keys), or with PrimaryKeyObject sluice's earlier
	// {"id":1}. PrimaryKeyColumns adds "primary_key_columns": ["id"]
	// (output_primary_key_columns).
	PrimaryKey, PrimaryKeyObject, PrimaryKeyColumns bool
	// RowQuery adds "query", the statement that wrote the row (output_row_query):
	// MariaDB's annotate rows events, MySQL's rows query events; the source
	// must log them (binlog_annotate_row_events / binlog_rows_query_log_events).
	RowQuery      bool
	DedupeKey     bool // "dedupe_key": server_id:file:offset:row, unchanged by replay; and "source_generation" once not 0
	SchemaVersion bool // "schema_version" of the row's table shape

	// The fields below turn off what Maxwell and sluice emit by default.

	NoCommitInfo bool // leaves out "xid" and "commit" (output_commit_info: false)
	NoXOffset    bool // leaves out "xoffset" (output_xoffset: false)
	NoNulls      bool // leaves NULL columns out of "data" and "old" (output_nulls: false)
	NoDDL        bool // emits no schema change events (output_ddl: false)
}

// DefaultMaxwellOptions returns sluice's default: every field on, the
// primary key in Maxwell's shape with its column names.
func DefaultMaxwellOptions() MaxwellOptions {
	return MaxwellOptions{Position: true, GTID: true, ServerID: true, PrimaryKey: true, PrimaryKeyColumns: true, DedupeKey: true, SchemaVersion: true}
}

// Maxwell encodes events in Maxwell's JSON format. It caches per-table
// encodings and is not safe for concurrent use.
type Maxwell struct {
	opts    MaxwellOptions
	tables  map[*schema.Table]*tableCodec
	scratch []byte
	meta    metaCache
}

var _ Format = (*Maxwell)(nil)

// NewMaxwell returns a Maxwell encoder.
func NewMaxwell(opts MaxwellOptions) *Maxwell {
	return &Maxwell{opts: opts, tables: make(map[*schema.Table]*tableCodec)}
}

type tableCodec struct {
	// heads[type] is `{"database":"d","table":"t","type":"insert",`
	heads map[Type][]byte
	cols  []columnCodec
}

func (m *Maxwell) codec(t *schema.Table) (*tableCodec, error) {
	if tc, ok := m.tables[t]; ok {
		return tc, nil
	}
	cols, err := newColumnCodecs(t)
	if err != nil {
		return nil, err
	}
	tc := &tableCodec{heads: make(map[Type][]byte, 4), cols: cols}
	for _, typ := range []Type{Insert, Update, Delete, BootstrapInsert} {
		h := append([]byte(nil), `{"database":`...)
		h = appendString(h, t.Database)
		h = append(h, `,"table":`...)
		h = appendString(h, t.Name)
		h = append(h, `,"type":"`...)
		h = append(h, typ.String()...)
		h = append(h, `",`...)
		tc.heads[typ] = h
	}
	if len(m.tables) > 4096 {
		clear(m.tables) // tables re-created by DDL churn: keep the cache bounded
	}
	m.tables[t] = tc
	return tc, nil
}

// AppendRow implements Format.
func (m *Maxwell) AppendRow(dst []byte, tx *Tx, r *Row) ([]byte, int, error) {
	tc, err := m.codec(r.Table)
	if err != nil {
		return dst, 0, err
	}
	dst = append(dst, tc.heads[r.Type]...)
	split := len(dst)
	dst = m.appendMeta(dst, tx, r.Pos, r.Index, r.Table.Version)
	image := r.After
	if r.Type == Delete {
		image = r.Before
	}
	if m.opts.ThreadID && tx.Thread != 0 {
		dst = append(dst, `"thread_id":`...)
		dst = strconv.AppendUint(dst, uint64(tx.Thread), 10)
		dst = append(dst, ',')
	}
	if m.opts.RowQuery && r.Query != "" {
		dst = append(dst, `"query":`...)
		dst = appendString(dst, r.Query)
		dst = append(dst, ',')
	}
	if dst, err = m.appendPrimaryKey(dst, tc, r.Table, image); err != nil {
		return dst, 0, err
	}
	dst = append(dst, `"data":{`...)
	first := true
	for i := range tc.cols {
		if m.opts.NoNulls && (i >= len(image) || image[i] == nil) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if dst, err = m.appendColumn(dst, &tc.cols[i], image, i); err != nil {
			return dst, 0, err
		}
	}
	dst = append(dst, '}')
	if r.Type == Update {
		dst = append(dst, `,"old":{`...)
		first := true
		for i := range tc.cols {
			if i >= len(r.Before) || i >= len(r.After) || valuesEqual(r.Before[i], r.After[i]) {
				continue
			}
			if m.opts.NoNulls && r.Before[i] == nil {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			if dst, err = m.appendColumn(dst, &tc.cols[i], r.Before, i); err != nil {
				return dst, 0, err
			}
		}
		dst = append(dst, '}')
	}
	return append(dst, '}'), split, nil
}

// appendPrimaryKey appends "primary_key" (and "primary_key_columns") as
// the options choose, each followed by a comma. In Maxwell's array shape a
// table without a primary key has empty arrays, as Maxwell emits them.
func (m *Maxwell) appendPrimaryKey(dst []byte, tc *tableCodec, t *schema.Table, image []any) ([]byte, error) {
	var err error
	if m.opts.PrimaryKey && m.opts.PrimaryKeyObject {
		if len(t.PrimaryKey) == 0 {
			return dst, nil
		}
		dst = append(dst, `"primary_key":{`...)
		for n, i := range t.PrimaryKey {
			if n > 0 {
				dst = append(dst, ',')
			}
			if dst, err = m.appendColumn(dst, &tc.cols[i], image, i); err != nil {
				return dst, err
			}
		}
		dst = append(dst, "},"...)
	} else if m.opts.PrimaryKey {
		dst = append(dst, `"primary_key":[`...)
		for n, i := range t.PrimaryKey {
			if n > 0 {
				dst = append(dst, ',')
			}
			var v any
			if i < len(image) {
				v = image[i]
			}
			if dst, m.scratch, err = tc.cols[i].appendValue(dst, v, m.scratch); err != nil {
				return dst, err
			}
		}
		dst = append(dst, "],"...)
	}
	if m.opts.PrimaryKeyColumns {
		dst = append(dst, `"primary_key_columns":[`...)
		for n, i := range t.PrimaryKey {
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, t.Columns[i].Name)
		}
		dst = append(dst, "],"...)
	}
	return dst, nil
}

func (m *Maxwell) appendColumn(dst []byte, cc *columnCodec, image []any, i int) ([]byte, error) {
	dst = append(dst, cc.key...)
	var v any
	if i < len(image) {
		v = image[i]
	}
	var err error
	dst, m.scratch, err = cc.appendValue(dst, v, m.scratch)
	return dst, err
}

// appendMeta appends the optional fields every event has, each followed by a comma.
func (m *Maxwell) appendMeta(dst []byte, tx *Tx, pos Position, index, version int) []byte {
	c := &m.meta
	if !c.valid || c.pos != pos || c.version != version || c.serverID != tx.ServerID || c.generation != tx.Generation || c.gtid != tx.GTID {
		m.fillMeta(tx, pos, version)
	}
	if c.at < 0 {
		return append(dst, c.buf...)
	}
	dst = append(dst, c.buf[:c.at]...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	return append(dst, c.buf[c.at:]...)
}

// metaCache is appendMeta's output for the last place it encoded, with
// the dedupe key's row index left out: the rows of a rows event share all
// the rest, so it is copied, not formatted again, row after row.
type metaCache struct {
	valid      bool
	pos        Position
	gtid       string
	serverID   uint32
	generation uint32
	version    int
	buf        []byte
	at         int // where the row index goes in buf; -1: nowhere
}

// fillMeta formats the metadata fields of the events at pos into m.meta.
func (m *Maxwell) fillMeta(tx *Tx, pos Position, version int) {
	c := &m.meta
	*c = metaCache{valid: true, pos: pos, gtid: tx.GTID, serverID: tx.ServerID, generation: tx.Generation, version: version, buf: c.buf[:0], at: -1}
	dst := c.buf
	if m.opts.Position {
		dst = append(dst, `"position":`...)
		dst = append(dst, '"')
		dst = appendPosition(dst, pos)
		dst = append(dst, `",`...)
	}
	if m.opts.GTID && tx.GTID != "" {
		dst = append(dst, `"gtid":`...)
		dst = appendString(dst, tx.GTID)
		dst = append(dst, ',')
	}
	if m.opts.ServerID {
		dst = append(dst, `"server_id":`...)
		dst = strconv.AppendUint(dst, uint64(tx.ServerID), 10)
		dst = append(dst, ',')
	}
	if m.opts.DedupeKey {
		// AppendDedupeKey's server_id:file:offset:, then the index.
		dst = append(dst, `"dedupe_key":"`...)
		dst = strconv.AppendUint(dst, uint64(tx.ServerID), 10)
		dst = append(dst, ':')
		dst = appendPosition(dst, pos)
		dst = append(dst, ':')
		c.at = len(dst)
		dst = append(dst, `",`...)
		if tx.Generation != 0 {
			// Orders places of different servers: see event.Tx.
			dst = append(dst, `"source_generation":`...)
			dst = strconv.AppendUint(dst, uint64(tx.Generation), 10)
			dst = append(dst, ',')
		}
	}
	if m.opts.SchemaVersion && version > 0 { // database-level changes have none
		dst = append(dst, `"schema_version":`...)
		dst = strconv.AppendInt(dst, int64(version), 10)
		dst = append(dst, ',')
	}
	c.buf = dst
}

// AppendDDL implements Format: Maxwell's schema change event, with "old"
// naming a renamed table and "def" the columns of a CREATE TABLE.
func (m *Maxwell) AppendDDL(dst []byte, tx *Tx, d *DDL) ([]byte, int, error) {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, d.Kind...)
	dst = append(dst, `","database":`...)
	dst = appendString(dst, d.Database)
	if d.Table != "" {
		dst = append(dst, `,"table":`...)
		dst = appendString(dst, d.Table)
	}
	dst = append(dst, ',')
	split := len(dst)
	dst = m.appendMeta(dst, tx, d.Pos, d.Index, d.SchemaVersion)
	if d.OldTable != "" {
		dst = append(dst, `"old":{"database":`...)
		dst = appendString(dst, d.OldDatabase)
		dst = append(dst, `,"table":`...)
		dst = appendString(dst, d.OldTable)
		dst = append(dst, "},"...)
	}
	if d.LikeTable != "" {
		dst = append(dst, `"like":{"database":`...)
		dst = appendString(dst, d.LikeDatabase)
		dst = append(dst, `,"table":`...)
		dst = appendString(dst, d.LikeTable)
		dst = append(dst, "},"...)
	}
	if len(d.Columns) > 0 {
		dst = append(dst, `"def":{"columns":[`...)
		for i, c := range d.Columns {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"name":`...)
			dst = appendString(dst, c.Name)
			dst = append(dst, `,"type":`...)
			dst = appendString(dst, c.Type)
			dst = append(dst, '}')
		}
		dst = append(dst, "]},"...)
	}
	dst = append(dst, `"sql":`...)
	dst = appendString(dst, d.SQL)
	return append(dst, '}'), split, nil
}

// AppendCommit implements Format.
func (m *Maxwell) AppendCommit(dst []byte, c *Commit, xoffset int, last bool) []byte {
	dst = append(dst, `"ts":`...)
	dst = strconv.AppendUint(dst, uint64(c.Timestamp), 10)
	if c.Xid != 0 && !m.opts.NoCommitInfo { // DDL and non-transactional engines have no xid
		dst = append(dst, `,"xid":`...)
		dst = strconv.AppendUint(dst, c.Xid, 10)
	}
	if last {
		if m.opts.NoCommitInfo {
			return append(dst, ',')
		}
		return append(dst, `,"commit":true,`...)
	}
	if m.opts.NoXOffset {
		return append(dst, ',')
	}
	dst = append(dst, `,"xoffset":`...)
	dst = strconv.AppendInt(dst, int64(xoffset), 10)
	return append(dst, ',')
}

func appendPosition(dst []byte, p Position) []byte {
	dst = append(dst, p.File...)
	dst = append(dst, ':')
	return strconv.AppendUint(dst, p.Offset, 10)
}

// AppendDedupeKey appends a row's dedupe key, "server_id:file:offset:row".
// The same row of the same binlog gets the same key in every run, replay and
// failover, so consumers can drop duplicates by it.
func AppendDedupeKey(dst []byte, serverID uint32, pos Position, index int) []byte {
	dst = strconv.AppendUint(dst, uint64(serverID), 10)
	dst = append(dst, ':')
	dst = appendPosition(dst, pos)
	dst = append(dst, ':')
	return strconv.AppendInt(dst, int64(index), 10)
}

// valuesEqual compares two decoded column values.
func valuesEqual(a, b any) bool {
	switch x := a.(type) {
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case nil:
		return b == nil
	}
	if _, ok := b.([]byte); ok {
		return false
	}
	// go-mysql decodes every other type to a comparable value.
	return a == b
}
