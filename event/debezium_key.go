package event

import (
	"bytes"
	"encoding/json"
	"fmt"
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
	var top map[string]json.RawMessage
	if err := json.Unmarshal(value, &top); err != nil {
		return dst, false, fmt.Errorf("debezium key: event value: %w", err)
	}
	payload, schema := top, json.RawMessage(nil)
	if p, ok := top["payload"]; ok && top["schema"] != nil {
		schema = top["schema"]
		payload = nil
		if err := json.Unmarshal(p, &payload); err != nil {
			return dst, false, fmt.Errorf("debezium key: event payload: %w", err)
		}
	}
	var op string
	if raw, ok := payload["op"]; !ok || json.Unmarshal(raw, &op) != nil {
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
	if err := json.Unmarshal(payload[imageName], &image); err != nil || image == nil {
		return dst, del, fmt.Errorf("debezium key: %s of an op %q event is not an object", imageName, op)
	}
	start := len(dst)
	if schema != nil {
		ks, err := debeziumKeySchemaFromValue(schema, imageName, keyColumns)
		if err != nil {
			return dst, del, err
		}
		dst = append(dst, `{"schema":`...)
		dst = append(dst, ks...)
		dst = append(dst, `,"payload":`...)
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
	if schema != nil {
		dst = append(dst, '}')
	}
	return dst, del, nil
}

// debeziumKeySchemaFromValue returns the key schema DebeziumKeySchema
// writes, built from the envelope schema of a value: the key columns'
// fields of its row struct (field image), renamed from .Value to .Key and
// required.
func debeziumKeySchemaFromValue(envelope json.RawMessage, image string, keyColumns []string) ([]byte, error) {
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
