package event

import (
	"strconv"
	"time"
)

// Heartbeats is implemented by a Format that emits heartbeat records:
// Debezium's __debezium-heartbeat messages.
type Heartbeats interface {
	// AppendHeartbeat appends a heartbeat record for the time at.
	AppendHeartbeat(dst []byte, at time.Time) []byte
}

var _ Heartbeats = (*Debezium)(nil)

// debeziumHeartbeatSchema is the schema of a heartbeat message's value.
const debeziumHeartbeatSchema = `{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"}],` +
	`"optional":false,"name":"io.debezium.connector.common.Heartbeat"}`

// AppendHeartbeat implements Heartbeats: the value of a message of
// Debezium's topic __debezium-heartbeat.<topic.prefix>, {"ts_ms":MS}.
func (d *Debezium) AppendHeartbeat(dst []byte, at time.Time) []byte {
	if d.opts.SchemasEnable {
		dst = append(dst, `{"schema":`...)
		dst = append(dst, debeziumHeartbeatSchema...)
		dst = append(dst, `,"payload":`...)
	}
	dst = append(dst, `{"ts_ms":`...)
	dst = strconv.AppendInt(dst, at.UnixMilli(), 10)
	dst = append(dst, '}')
	if d.opts.SchemasEnable {
		dst = append(dst, '}')
	}
	return dst
}

// DebeziumHeartbeatTopic is the topic Debezium sends a connector's
// heartbeats to.
func DebeziumHeartbeatTopic(prefix string) string { return "__debezium-heartbeat." + prefix }
