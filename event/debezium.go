package event

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/sluicecdc/sluice/schema"
)

// Debezium encodes events as the value of a Debezium MySQL connector change
// event; with schemas disabled (value.converter.schemas.enable=false):
//
//	{"before":{...}|null,"after":{...}|null,
//	 "source":{"version":"sluice","connector":"mysql","name":P,"snapshot":"false",
//	           "db":D,"table":T,"server_id":N,"gtid":G|null,"file":F,"pos":N,"row":N,
//	           "thread":N|null,"query":null,"ts_ms":MS},
//	 "ts_ms":MS,["transaction":{...},]"op":"c"}
//
// op is "c" for an insert, "u" for an update, "d" for a delete and "r" for a
// row read by a snapshot (whose source.snapshot is "true", "last" for the
// snapshot's last row). before is the
// whole row before an update or delete, after the whole row after an insert
// or update. source.name is the pipeline's name (Debezium's topic.prefix);
// file and pos are the binlog file and the offset of the rows event, row the
// row's index in it; thread is the client connection the binlog names for
// the transaction (null when it names none, and for snapshot rows); query
// is always null. The transaction block is there with
// DebeziumOptions.TransactionMetadata (see TxEvents).
//
// Both ts_ms fields are the transaction's commit time in milliseconds (whole
// seconds, as the binlog records it): sluice knows no separate processing
// time for an event. They are the last fields before op, not where Debezium
// puts them, because the commit time is known only at commit and the
// encoding leaves one gap for it (see Format).
//
// Column values are rendered as the Debezium MySQL connector renders them,
// with its time.precision.mode, decimal.handling.mode,
// bigint.unsigned.handling.mode and binary.handling.mode (DebeziumOptions;
// the type table is in docs/debezium.md). With SchemasEnable each event is
// {"schema":{...},"payload":{...}} as Kafka Connect's JsonConverter writes
// it with schemas.enable=true.
type Debezium struct {
	name    string
	opts    DebeziumOptions
	tables  map[*schema.Table]*debeziumTable
	scratch []byte
	tx      txOrder // with TransactionMetadata: the open transaction's counts
}

var _ Format = (*Debezium)(nil)

type debeziumTable struct {
	cols []dbzColumn
	// head is `{"schema":{...},"payload":` with SchemasEnable, else empty.
	head []byte
	// source is `"db":"d","table":"t",`
	source []byte
}

// NewDebezium returns a Debezium encoder with the connector's default
// options whose events name the pipeline name in source.name. It caches
// per-table encodings and is not safe for concurrent use.
func NewDebezium(name string) *Debezium {
	return NewDebeziumWith(name, DefaultDebeziumOptions())
}

// NewDebeziumWith returns a Debezium encoder with the given options, which
// must be valid (DebeziumOptions.Validate).
func NewDebeziumWith(name string, opts DebeziumOptions) *Debezium {
	return &Debezium{name: name, opts: opts, tables: make(map[*schema.Table]*debeziumTable)}
}

func (d *Debezium) codec(t *schema.Table) (*debeziumTable, error) {
	if dt, ok := d.tables[t]; ok {
		return dt, nil
	}
	cols := make([]dbzColumn, len(t.Columns))
	for i := range t.Columns {
		dc, err := newDbzColumn(&t.Columns[i], &d.opts)
		if err != nil {
			return nil, fmt.Errorf("table %s: %w", t.QualifiedName(), err)
		}
		cols[i] = dc
	}
	src := append([]byte(nil), `"db":`...)
	src = appendString(src, t.Database)
	src = append(src, `,"table":`...)
	src = appendString(src, t.Name)
	src = append(src, ',')
	dt := &debeziumTable{cols: cols, source: src}
	if d.opts.SchemasEnable {
		dt.head = append([]byte(`{"schema":`), appendEnvelopeSchema(nil, d.name, t, cols, d.opts.TransactionMetadata)...)
		dt.head = append(dt.head, `,"payload":`...)
	}
	if len(d.tables) > 4096 {
		clear(d.tables) // tables re-created by DDL churn: keep the cache bounded
	}
	d.tables[t] = dt
	return dt, nil
}

var debeziumOps = [...]string{Insert: `"op":"c"}`, Update: `"op":"u"}`, Delete: `"op":"d"}`, BootstrapInsert: `"op":"r"}`}

// AppendRow implements Format. The split is inside source, where its ts_ms
// goes; the tail after it is the op.
func (d *Debezium) AppendRow(dst []byte, tx *Tx, r *Row) ([]byte, int, error) {
	if int(r.Type) >= len(debeziumOps) || debeziumOps[r.Type] == "" {
		return dst, 0, errors.New("debezium: row of unknown type " + r.Type.String())
	}
	dt, err := d.codec(r.Table)
	if err != nil {
		return dst, 0, err
	}
	dst = append(dst, dt.head...)
	dst = append(dst, `{"before":`...)
	if r.Type == Update || r.Type == Delete {
		if dst, err = d.appendImage(dst, dt, r.Before); err != nil {
			return dst, 0, err
		}
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"after":`...)
	if r.Type == Delete {
		dst = append(dst, "null"...)
	} else if dst, err = d.appendImage(dst, dt, r.After); err != nil {
		return dst, 0, err
	}
	dst = append(dst, `,"source":{"version":"sluice","connector":"mysql","name":`...)
	dst = appendString(dst, d.name)
	if r.Type == BootstrapInsert && r.Last {
		dst = append(dst, `,"snapshot":"last",`...)
	} else if r.Type == BootstrapInsert {
		dst = append(dst, `,"snapshot":"true",`...)
	} else {
		dst = append(dst, `,"snapshot":"false",`...)
	}
	dst = append(dst, dt.source...)
	dst = appendSourceTail(dst, tx, r.Pos, r.Index, r.Type != BootstrapInsert)
	split := len(dst)
	if d.opts.TransactionMetadata {
		dst = d.appendTransaction(dst, tx, r)
	}
	dst = append(dst, debeziumOps[r.Type]...)
	if d.opts.SchemasEnable {
		dst = append(dst, '}')
	}
	return dst, split, nil
}

// appendSourceTail appends the source fields after db and table, up to the
// commit-time gap: server_id, gtid, file, pos, row, thread, query. thread is
// the transaction's client thread when streamed and known, else null.
func appendSourceTail(dst []byte, tx *Tx, pos Position, index int, streamed bool) []byte {
	dst = append(dst, `"server_id":`...)
	dst = strconv.AppendUint(dst, uint64(tx.ServerID), 10)
	dst = append(dst, `,"gtid":`...)
	if tx.GTID != "" {
		dst = appendString(dst, tx.GTID)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"file":`...)
	dst = appendString(dst, pos.File)
	dst = append(dst, `,"pos":`...)
	dst = strconv.AppendUint(dst, pos.Offset, 10)
	dst = append(dst, `,"row":`...)
	dst = strconv.AppendInt(dst, int64(index), 10)
	dst = append(dst, `,"thread":`...)
	if streamed && tx.Thread != 0 {
		dst = strconv.AppendUint(dst, uint64(tx.Thread), 10)
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, `,"query":null,`...)
}

// AppendDDL implements Format: a schema change event shaped like the value
// of Debezium's schema change topic (databaseName, schemaName, ddl,
// tableChanges). A table's change names its type (CREATE, ALTER, DROP; a
// rename is an ALTER of "old","new"), its id and its table: the definition
// after the change (c.Meta), as Debezium's ConnectTableChangeSerializer
// writes it, null for a drop or a definition sluice could not work out. A
// database's change and a TRUNCATE have no tableChanges.
func (d *Debezium) AppendDDL(dst []byte, tx *Tx, c *DDL) ([]byte, int, error) {
	if d.opts.SchemasEnable {
		dst = append(dst, `{"schema":`...)
		dst = append(dst, debeziumSchemaChangeSchema...)
		dst = append(dst, `,"payload":`...)
	}
	dst = append(dst, `{"source":{"version":"sluice","connector":"mysql","name":`...)
	dst = appendString(dst, d.name)
	dst = append(dst, `,"snapshot":"false","db":`...)
	dst = appendString(dst, c.Database)
	dst = append(dst, `,"sequence":null,"table":`...)
	if c.Table != "" {
		dst = appendString(dst, c.Table)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, ',')
	dst = appendSourceTail(dst, tx, c.Pos, c.Index, true)
	split := len(dst)
	dst = append(dst, `"databaseName":`...)
	dst = appendString(dst, c.Database)
	dst = append(dst, `,"schemaName":null,"ddl":`...)
	dst = appendString(dst, c.SQL)
	dst = append(dst, `,"tableChanges":[`...)
	dst = appendTableChange(dst, c)
	dst = append(dst, "]}"...)
	if d.opts.SchemasEnable {
		dst = append(dst, '}')
	}
	return dst, split, nil
}

var tableChangeTypes = map[schema.DDLKind]string{schema.TableCreate: "CREATE", schema.TableAlter: "ALTER", schema.TableRename: "ALTER", schema.TableDrop: "DROP"}

// appendTableChange appends c's entry of tableChanges, if it has one.
func appendTableChange(dst []byte, c *DDL) []byte {
	typ, ok := tableChangeTypes[c.Kind]
	if !ok || c.Table == "" {
		return dst
	}
	id := `"` + c.Database + `"."` + c.Table + `"`
	if c.Kind == schema.TableRename {
		id = `"` + c.OldDatabase + `"."` + c.OldTable + `",` + id
	}
	dst = append(dst, `{"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","id":`...)
	dst = appendString(dst, id)
	dst = append(dst, `,"table":`...)
	if c.Meta == nil || c.Kind == schema.TableDrop {
		return append(dst, "null}"...)
	}
	return append(appendTableMeta(dst, c.Meta), '}')
}

// appendTableMeta appends Debezium's io.debezium.connector.schema.Table of
// m. sluice knows no comments (Debezium writes none either unless
// include.schema.comments is on) and no column defaults: both are null.
func appendTableMeta(dst []byte, m *schema.TableMeta) []byte {
	dst = append(dst, `{"defaultCharsetName":`...)
	dst = appendStringOrNull(dst, m.DefaultCharset)
	dst = append(dst, `,"primaryKeyColumnNames":[`...)
	for i, k := range m.PrimaryKey {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, k)
	}
	dst = append(dst, `],"columns":[`...)
	for i := range m.Columns {
		c := &m.Columns[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"name":`...)
		dst = appendString(dst, c.Name)
		dst = append(dst, `,"jdbcType":`...)
		dst = strconv.AppendInt(dst, int64(c.JDBCType), 10)
		dst = append(dst, `,"nativeType":null,"typeName":`...)
		dst = appendString(dst, c.TypeName)
		dst = append(dst, `,"typeExpression":`...)
		dst = appendString(dst, c.TypeName)
		dst = append(dst, `,"charsetName":`...)
		dst = appendStringOrNull(dst, c.Charset)
		dst = append(dst, `,"length":`...)
		dst = appendIntOrNull(dst, c.Length)
		dst = append(dst, `,"scale":`...)
		dst = appendIntOrNull(dst, c.Scale)
		dst = append(dst, `,"position":`...)
		dst = strconv.AppendInt(dst, int64(i+1), 10)
		dst = append(dst, `,"optional":`...)
		dst = strconv.AppendBool(dst, c.Optional)
		dst = append(dst, `,"autoIncremented":`...)
		dst = strconv.AppendBool(dst, c.AutoIncrement)
		dst = append(dst, `,"generated":`...)
		dst = strconv.AppendBool(dst, c.Generated)
		dst = append(dst, `,"comment":null,"defaultValueExpression":null,"enumValues":`...)
		if len(c.EnumValues) == 0 {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, '[')
			for j, v := range c.EnumValues {
				if j > 0 {
					dst = append(dst, ',')
				}
				dst = appendString(dst, v)
			}
			dst = append(dst, ']')
		}
		dst = append(dst, '}')
	}
	return append(dst, `],"comment":null}`...)
}

func appendStringOrNull(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendString(dst, s)
}

func appendIntOrNull(dst []byte, n int) []byte {
	if n < 0 {
		return append(dst, "null"...)
	}
	return strconv.AppendInt(dst, int64(n), 10)
}

func (d *Debezium) appendImage(dst []byte, dt *debeziumTable, image []any) ([]byte, error) {

	dst = append(dst, '{')
	for i := range dt.cols {
		if i > 0 {
			dst = append(dst, ',')
		}
		cc := &dt.cols[i]
		dst = append(dst, cc.key...)
		var v any
		if i < len(image) {
			v = image[i]
		}
		var err error
		if dst, d.scratch, err = cc.appendDbz(dst, v, d.scratch); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// AppendCommit implements Format: source's ts_ms, closing source, and the
// event's ts_ms.
func (d *Debezium) AppendCommit(dst []byte, c *Commit, xoffset int, last bool) []byte {
	ms := uint64(c.Timestamp) * 1000
	dst = append(dst, `"ts_ms":`...)
	dst = strconv.AppendUint(dst, ms, 10)
	dst = append(dst, `},"ts_ms":`...)
	dst = strconv.AppendUint(dst, ms, 10)
	return append(dst, ',')
}
