package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// DebeziumKeyFromValue appends the key document of the Debezium row change
// event value (as Debezium.AppendRow writes it) for the primary key columns
// keyColumns, as AppendDebeziumKey writes it for the event's row: the
// payload {"id":1004} holds the key columns' values as the value renders
// them, taken from before for a delete and from after otherwise; when the
// value carries its schema (schemas.enable), the key is wrapped the same
// way, its schema the key columns' fields of the value's row schema in a
// struct named <topic.prefix>.<db>.<table>.Key. Sinks that carry keys
// (Kafka) call it with the bytes they are handed, so the key always agrees
// with the value it is sent with.
//
// It also reports whether the event is a delete. Events that are not row
// changes (schema changes, transaction and heartbeat events) and rows of
// tables without a primary key have no key: dst is returned unchanged.
func DebeziumKeyFromValue(dst, value []byte, keyColumns []string) (_ []byte, del bool, err error) {
	return (*DebeziumKeys)(nil).Append(dst, value, "", keyColumns)
}

// DebeziumKeys derives key documents as DebeziumKeyFromValue does, keeping
// each table's key schema with the value schema it came from, so an event
// whose value carries the same schema as the table's last one only has its
// payload parsed. It is not safe for concurrent use.
type DebeziumKeys struct {
	tables map[string]*debeziumKeyCache
}

type debeziumKeyCache struct {
	prefix    []byte // {"schema":<the value's schema>,"payload":
	keySchema []byte
	cols      []string
}

// NewDebeziumKeys returns an empty cache.
func NewDebeziumKeys() *DebeziumKeys {
	return &DebeziumKeys{tables: make(map[string]*debeziumKeyCache)}
}

const (
	dbzSchemaOpen  = `{"schema":`
	dbzPayloadOpen = `,"payload":`
)

// Append appends the key document of value, an event of table (any name
// that tells tables apart; the cache's key) with primary key keyColumns,
// and reports whether it is a delete. A nil *DebeziumKeys caches nothing.
func (k *DebeziumKeys) Append(dst, value []byte, table string, keyColumns []string) (_ []byte, del bool, err error) {
	var c *debeziumKeyCache
	if k != nil {
		c = k.tables[table]
	}
	var payload, keySchema []byte
	if c != nil && len(keyColumns) > 0 && bytes.HasPrefix(value, c.prefix) && slices.Equal(c.cols, keyColumns) && bytes.HasSuffix(value, []byte{'}'}) {
		payload, keySchema = value[len(c.prefix):len(value)-1], c.keySchema
	} else {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(value, &top); err != nil {
			return dst, false, fmt.Errorf("debezium key: event value: %w", err)
		}
		schema, hasSchema := top["schema"]
		p, hasPayload := top["payload"]
		if !hasSchema || !hasPayload {
			return appendDebeziumKeyPayload(dst, top, nil, keyColumns)
		}
		var env map[string]json.RawMessage
		if err := json.Unmarshal(p, &env); err != nil {
			return dst, false, fmt.Errorf("debezium key: event payload: %w", err)
		}
		if len(keyColumns) == 0 || env["op"] == nil {
			return appendDebeziumKeyPayload(dst, env, nil, keyColumns)
		}
		if keySchema, err = debeziumKeySchemaFromValue(schema, keyColumns); err != nil {
			return dst, false, err
		}
		prefix := slices.Concat([]byte(dbzSchemaOpen), schema, []byte(dbzPayloadOpen))
		if k != nil && bytes.HasPrefix(value, prefix) {
			if len(k.tables) > 4096 {
				clear(k.tables) // tables re-created by DDL churn: keep the cache bounded
			}
			k.tables[table] = &debeziumKeyCache{prefix: prefix, keySchema: keySchema, cols: slices.Clone(keyColumns)}
		}
		return appendDebeziumKeyPayload(dst, env, keySchema, keyColumns)
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(payload, &env); err != nil {
		return dst, false, fmt.Errorf("debezium key: event payload: %w", err)
	}
	return appendDebeziumKeyPayload(dst, env, keySchema, keyColumns)
}

// appendDebeziumKeyPayload appends the key document of the event whose
// payload is env: the key columns' values of its image, wrapped with
// keySchema when it is not nil.
func appendDebeziumKeyPayload(dst []byte, env map[string]json.RawMessage, keySchema []byte, keyColumns []string) (_ []byte, del bool, err error) {
	var op string
	if raw, ok := env["op"]; !ok || json.Unmarshal(raw, &op) != nil {
		return dst, false, nil // not a row change event
	}
	del = op == "d"
	if len(keyColumns) == 0 {
		return dst, del, nil
	}
	imageName := "after"
	if del {
		imageName = "before"
	}
	var image map[string]json.RawMessage
	if err := json.Unmarshal(env[imageName], &image); err != nil || image == nil {
		return dst, del, fmt.Errorf("debezium key: %s of an op %q event is not an object", imageName, op)
	}
	start := len(dst)
	if keySchema != nil {
		dst = append(dst, dbzSchemaOpen...)
		dst = append(dst, keySchema...)
		dst = append(dst, dbzPayloadOpen...)
	}
	dst = append(dst, '{')
	for n, c := range keyColumns {
		v, ok := image[c]
		if !ok {
			return dst[:start], del, fmt.Errorf("debezium key: key column %s is not in the event's %s (a filter must not exclude key columns)", c, imageName)
		}
		if n > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, c)
		dst = append(dst, ':')
		dst = append(dst, v...)
	}
	dst = append(dst, '}')
	if keySchema != nil {
		dst = append(dst, '}')
	}
	return dst, del, nil
}

// debeziumKeySchemaFromValue returns the key schema DebeziumKeySchema
// writes, built from the envelope schema of a value: the key columns'
// fields of its row struct (before and after have the same), renamed from
// .Value to .Key and required.
func debeziumKeySchemaFromValue(envelope json.RawMessage, keyColumns []string) ([]byte, error) {
	const image = "after"
	var env struct {
		Fields []json.RawMessage `json:"fields"`
	}
	if err := json.Unmarshal(envelope, &env); err != nil {
		return nil, fmt.Errorf("debezium key: value schema: %w", err)
	}
	var row struct {
		Fields []json.RawMessage `json:"fields"`
		Name   string            `json:"name"`
	}
	for _, f := range env.Fields {
		var named struct {
			Field string `json:"field"`
		}
		if json.Unmarshal(f, &named) == nil && named.Field == image {
			if err := json.Unmarshal(f, &row); err != nil {
				return nil, fmt.Errorf("debezium key: value schema of %s: %w", image, err)
			}
			break
		}
	}
	name, ok := strings.CutSuffix(row.Name, ".Value")
	if !ok {
		return nil, fmt.Errorf("debezium key: the value schema has no row struct named <prefix>.<db>.<table>.Value (got %q)", row.Name)
	}
	byName := make(map[string]json.RawMessage, len(row.Fields))
	for _, f := range row.Fields {
		var named struct {
			Field string `json:"field"`
		}
		if err := json.Unmarshal(f, &named); err != nil {
			return nil, fmt.Errorf("debezium key: value schema field: %w", err)
		}
		byName[named.Field] = f
	}
	fields := []byte{'['}
	for n, c := range keyColumns {
		f, ok := byName[c]
		if !ok {
			return nil, fmt.Errorf("debezium key: key column %s has no field in the value schema", c)
		}
		if n > 0 {
			fields = append(fields, ',')
		}
		fields = append(fields, bytes.TrimSpace(f)...)
	}
	fields = append(fields, ']')
	s := connectSchema{typ: "struct", fields: fields, name: name + ".Key"}
	return append(s.append(nil), '}'), nil
}
