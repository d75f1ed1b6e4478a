package pipeline

import (
	"time"

	"github.com/sluicecdc/sluice/emit"
	"github.com/sluicecdc/sluice/event"
)

// A format that writes heartbeat records (event.Heartbeats: Debezium's
// __debezium-heartbeat) gets one for each of this pipeline's heartbeat rows
// the binlog brings back, at the commit of the row's transaction, as an
// event of database "__debezium-heartbeat", table <pipeline>: Debezium's
// topic __debezium-heartbeat.<topic.prefix>. Its dedupe key is the row's.

// pendingHeartbeat is a heartbeat row of the open transaction.
type pendingHeartbeat struct {
	at    time.Time
	pos   event.Position
	index int
}

// noteHeartbeat records a heartbeat row of this pipeline written at at.
func (e *encoder) noteHeartbeat(row []any, names func(int) string, at time.Time, pos event.Position, index int) {
	if _, ok := e.format.(event.Heartbeats); !ok {
		return
	}
	for i, v := range row {
		if names(i) == "pipeline" {
			if s, ok := v.(string); !ok || s != e.p.cfg.Name {
				return
			}
		}
	}
	e.heartbeat = &pendingHeartbeat{at: at, pos: pos, index: index}
}

// appendHeartbeat adds the open transaction's heartbeat record, if any, to
// the current batch.
func (e *encoder) appendHeartbeat(c *event.Commit) {
	hb := e.heartbeat
	e.heartbeat = nil
	f, ok := e.format.(event.Heartbeats)
	if hb == nil || !ok {
		return
	}
	b := e.current()
	off := len(b.Data)
	b.Data = f.AppendHeartbeat(b.Data, hb.at)
	b.Data = append(b.Data, '\n')
	b.Events = append(b.Events, emit.Ref{
		Off: off, Len: len(b.Data) - off - 1, Database: "__debezium-heartbeat", Table: e.p.cfg.Name,
		Timestamp: c.Timestamp, Pos: hb.pos, Index: hb.index, ServerID: e.tx.ServerID,
	})
}
