package event

import (
	"strconv"

	"github.com/sluicecdc/sluice/schema"
)

// connectSchema is a Kafka Connect schema as JsonConverter writes it with
// schemas.enable=true: type, fields, optional, name, version, doc,
// parameters, default, in that order.
type connectSchema struct {
	typ      string
	fields   []byte // a struct's fields array, as JSON
	optional bool
	name     string
	version  int
	doc      string
	params   [][2]string
	dflt     string // the default as JSON, "" for none
}

// append appends the schema as a JSON object left open, so a struct's
// field can add its "field" member; close it with '}'.
func (s *connectSchema) append(dst []byte) []byte {
	dst = append(dst, `{"type":`...)
	dst = appendString(dst, s.typ)
	if s.fields != nil {
		dst = append(dst, `,"fields":`...)
		dst = append(dst, s.fields...)
	}
	dst = append(dst, `,"optional":`...)
	dst = strconv.AppendBool(dst, s.optional)
	if s.name != "" {
		dst = append(dst, `,"name":`...)
		dst = appendString(dst, s.name)
	}
	if s.version != 0 {
		dst = append(dst, `,"version":`...)
		dst = strconv.AppendInt(dst, int64(s.version), 10)
	}
	if s.doc != "" {
		dst = append(dst, `,"doc":`...)
		dst = appendString(dst, s.doc)
	}
	if len(s.params) > 0 {
		dst = append(dst, `,"parameters":{`...)
		for i, p := range s.params {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, p[0])
			dst = append(dst, ':')
			dst = appendString(dst, p[1])
		}
		dst = append(dst, '}')
	}
	if s.dflt != "" {
		dst = append(dst, `,"default":`...)
		dst = append(dst, s.dflt...)
	}
	return dst
}

// appendField appends a struct member: the open schema s, its field name, '}'.
func appendField(dst, open []byte, name string) []byte {
	dst = append(dst, open...)
	dst = append(dst, `,"field":`...)
	dst = appendString(dst, name)
	return append(dst, '}')
}

// debeziumSourceSchema is the schema of the source block, as the MySQL
// connector declares it (io.debezium.connector.mysql.Source), with
// snapshot the string enum of Debezium 2.
const debeziumSourceSchema = debeziumSourceHead + debeziumSourceTail

// debeziumSchemaChangeSourceSchema is the source block's schema in a schema
// change event: with Debezium's common sequence field after db (always
// null for MySQL), as the documentation's schema change example shows it.
// The documentation's change event examples show no sequence, and neither
// do sluice's change events.
const debeziumSchemaChangeSourceSchema = debeziumSourceHead +
	`{"type":"string","optional":true,"field":"sequence"},` +
	debeziumSourceTail

// debeziumSourceHead and debeziumSourceTail are the source block's fields
// before and after the place of sequence.
const debeziumSourceHead = `{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"version"},` +
	`{"type":"string","optional":false,"field":"connector"},` +
	`{"type":"string","optional":false,"field":"name"},` +
	`{"type":"int64","optional":false,"field":"ts_ms"},` +
	`{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,last,false,incremental"},"default":"false","field":"snapshot"},` +
	`{"type":"string","optional":false,"field":"db"},`

const debeziumSourceTail = `{"type":"string","optional":true,"field":"table"},` +
	`{"type":"int64","optional":false,"field":"server_id"},` +
	`{"type":"string","optional":true,"field":"gtid"},` +
	`{"type":"string","optional":false,"field":"file"},` +
	`{"type":"int64","optional":false,"field":"pos"},` +
	`{"type":"int32","optional":false,"field":"row"},` +
	`{"type":"int64","optional":true,"field":"thread"},` +
	`{"type":"string","optional":true,"field":"query"}` +
	`],"optional":false,"name":"io.debezium.connector.mysql.Source","field":"source"}`

// debeziumTransactionSchema is the schema of the transaction block
// (provide.transaction.metadata).
const debeziumTransactionSchema = `{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"id"},` +
	`{"type":"int64","optional":false,"field":"total_order"},` +
	`{"type":"int64","optional":false,"field":"data_collection_order"}` +
	`],"optional":true,"name":"event.block","version":1,"field":"transaction"}`

// debeziumTxEventSchema is the schema of a transaction boundary event.
const debeziumTxEventSchema = `{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"status"},` +
	`{"type":"string","optional":false,"field":"id"},` +
	`{"type":"int64","optional":true,"field":"event_count"},` +
	`{"type":"array","items":{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"data_collection"},` +
	`{"type":"int64","optional":false,"field":"event_count"}` +
	`],"optional":false,"name":"event.collection","version":1},"optional":true,"field":"data_collections"},` +
	`{"type":"int64","optional":false,"field":"ts_ms"}` +
	`],"optional":false,"name":"io.debezium.connector.common.TransactionMetadataValue","version":1}`

// debeziumSchemaChangeSchema is the schema of a schema change event
// (io.debezium.connector.mysql.SchemaChangeValue). tableChanges' items are
// Debezium's io.debezium.connector.schema.Change, its table the optional
// io.debezium.connector.schema.Table of Debezium's SchemaFactory.
const debeziumSchemaChangeSchema = `{"type":"struct","fields":[` +
	debeziumSchemaChangeSourceSchema + `,` +
	`{"type":"int64","optional":false,"field":"ts_ms"},` +
	`{"type":"string","optional":true,"field":"databaseName"},` +
	`{"type":"string","optional":true,"field":"schemaName"},` +
	`{"type":"string","optional":true,"field":"ddl"},` +
	`{"type":"array","items":{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"type"},` +
	`{"type":"string","optional":false,"field":"id"},` +
	`{"type":"struct","fields":[` +
	`{"type":"string","optional":true,"field":"defaultCharsetName"},` +
	`{"type":"array","items":{"type":"string","optional":false},"optional":true,"field":"primaryKeyColumnNames"},` +
	`{"type":"array","items":{"type":"struct","fields":[` +
	`{"type":"string","optional":false,"field":"name"},` +
	`{"type":"int32","optional":false,"field":"jdbcType"},` +
	`{"type":"int32","optional":true,"field":"nativeType"},` +
	`{"type":"string","optional":false,"field":"typeName"},` +
	`{"type":"string","optional":true,"field":"typeExpression"},` +
	`{"type":"string","optional":true,"field":"charsetName"},` +
	`{"type":"int32","optional":true,"field":"length"},` +
	`{"type":"int32","optional":true,"field":"scale"},` +
	`{"type":"int32","optional":false,"field":"position"},` +
	`{"type":"boolean","optional":true,"field":"optional"},` +
	`{"type":"boolean","optional":true,"field":"autoIncremented"},` +
	`{"type":"boolean","optional":true,"field":"generated"},` +
	`{"type":"string","optional":true,"field":"comment"},` +
	`{"type":"string","optional":true,"field":"defaultValueExpression"},` +
	`{"type":"array","items":{"type":"string","optional":false},"optional":true,"field":"enumValues"}` +
	`],"optional":false,"name":"io.debezium.connector.schema.Column","version":1},"optional":false,"field":"columns"},` +
	`{"type":"string","optional":true,"field":"comment"}` +
	`],"optional":true,"name":"io.debezium.connector.schema.Table","version":1,"field":"table"}` +
	`],"optional":false,"name":"io.debezium.connector.schema.Change","version":1},"optional":false,"field":"tableChanges"}` +
	`],"optional":false,"name":"io.debezium.connector.mysql.SchemaChangeValue","version":1}`

// debeziumSchemaName is <topic.prefix>.<db>.<table>.<suffix>, the names as
// they are: schema.name.adjustment.mode none, Debezium 2's default (the
// documentation's examples keep "mysql-server-1").
func debeziumSchemaName(prefix string, t *schema.Table, suffix string) string {
	return prefix + "." + t.Database + "." + t.Name + "." + suffix
}

// appendRowSchema appends the struct schema of t's rows, named
// <prefix>.<db>.<table>.Value, optional, left open for its "field".
func appendRowSchema(dst []byte, name string, cols []dbzColumn) []byte {
	fields := []byte{'['}
	for i := range cols {
		if i > 0 {
			fields = append(fields, ',')
		}
		fields = appendField(fields, cols[i].schema, cols[i].col.Name)
	}
	fields = append(fields, ']')
	s := connectSchema{typ: "struct", fields: fields, optional: true, name: name}
	return s.append(dst)
}

// appendEnvelopeSchema appends the schema of a change event's value for t.
func appendEnvelopeSchema(dst []byte, prefix string, t *schema.Table, cols []dbzColumn, txMeta bool) []byte {
	value := appendRowSchema(nil, debeziumSchemaName(prefix, t, "Value"), cols)
	fields := []byte{'['}
	fields = appendField(fields, value, "before")
	fields = append(fields, ',')
	fields = appendField(fields, value, "after")
	fields = append(fields, ',')
	fields = append(fields, debeziumSourceSchema...)
	if txMeta {
		fields = append(fields, ',')
		fields = append(fields, debeziumTransactionSchema...)
	}
	fields = append(fields, `,{"type":"string","optional":false,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"}]`...)
	s := connectSchema{typ: "struct", fields: fields, name: debeziumSchemaName(prefix, t, "Envelope")}
	return append(s.append(dst), '}')
}

// DebeziumKeySchema returns the schema of t's change event keys as Kafka
// Connect's JsonConverter writes it: a struct named
// <prefix>.<db>.<table>.Key of the primary key's columns, each rendered with
// opts as in the value. A table without a primary key has no key: nil.
func DebeziumKeySchema(prefix string, t *schema.Table, opts DebeziumOptions) ([]byte, error) {
	if len(t.PrimaryKey) == 0 {
		return nil, nil
	}
	fields := []byte{'['}
	for n, i := range t.PrimaryKey {
		dc, err := newDbzColumn(&t.Columns[i], &opts)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			fields = append(fields, ',')
		}
		fields = appendField(fields, dc.schema, dc.col.Name)
	}
	fields = append(fields, ']')
	s := connectSchema{typ: "struct", fields: fields, name: debeziumSchemaName(prefix, t, "Key")}
	return append(s.append(nil), '}'), nil
}

// AppendDebeziumKey appends r's key as a Debezium key payload ({"id":1004}),
// wrapped with its schema when opts.SchemasEnable, values rendered with
// opts as in the value. A table without a primary key appends nothing.
func AppendDebeziumKey(dst []byte, prefix string, r *Row, opts DebeziumOptions) ([]byte, error) {
	t := r.Table
	if len(t.PrimaryKey) == 0 {
		return dst, nil
	}
	image := r.After
	if r.Type == Delete {
		image = r.Before
	}
	start := len(dst)
	if opts.SchemasEnable {
		ks, err := DebeziumKeySchema(prefix, t, opts)
		if err != nil {
			return dst, err
		}
		dst = append(dst, `{"schema":`...)
		dst = append(dst, ks...)
		dst = append(dst, `,"payload":`...)
	}
	dst = append(dst, '{')
	var scratch []byte
	for n, i := range t.PrimaryKey {
		dc, err := newDbzColumn(&t.Columns[i], &opts)
		if err != nil {
			return dst[:start], err
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, dc.key...)
		var v any
		if i < len(image) {
			v = image[i]
		}
		if dst, scratch, err = dc.appendDbz(dst, v, scratch); err != nil {
			return dst[:start], err
		}
	}
	dst = append(dst, '}')
	if opts.SchemasEnable {
		dst = append(dst, '}')
	}
	return dst, nil
}
