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
	for i, v := range row {
		if names(i) == "pipeline" {
			if s, ok := v.(string); !ok || s != e.p.cfg.Name {
				return
			}
		}
	}
	e.heartbeat = &pendingHeartbeat{at: at, pos: pos, index: index}
}

// appendHeartbeat adds the heartbeat record hb, if any, in format f to
// batch b, if f writes them.
func (e *encoder) appendHeartbeat(format event.Format, b *emit.Batch, c *event.Commit, hb *pendingHeartbeat) {
	f, ok := format.(event.Heartbeats)
	if hb == nil || !ok {
		return
	}
	off := len(b.Data)
	b.Data = f.AppendHeartbeat(b.Data, hb.at)
	b.Data = append(b.Data, '\n')
	b.Events = append(b.Events, emit.Ref{
		Off: off, Len: len(b.Data) - off - 1, Database: "__debezium-heartbeat", Table: e.p.cfg.Name,
		Timestamp: c.Timestamp, Pos: hb.pos, Index: hb.index, ServerID: e.tx.ServerID, Generation: e.tx.Generation,
	})
}
