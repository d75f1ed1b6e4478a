package pipeline

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/sluicecdc/sluice/binlog"
)

// heartbeats writes the current time, with microseconds, into
// Config.HeartbeatTable every HeartbeatInterval. The row comes back through
// the binlog: the pipeline reads its lag off it, and a stall shows even on
// a quiet database. Heartbeat rows are not emitted to sinks.
func (p *Pipeline) heartbeats(ctx context.Context) error {
	p.cfg.Metrics.heartbeatEvery(p.cfg.HeartbeatInterval, time.Now())
	db, table, _ := strings.Cut(p.cfg.HeartbeatTable, ".")
	failing := 0
	conn, err := p.heartbeatConn(ctx, db, table)
	if err != nil {
		// Heartbeats measure lag; without them the stream still flows. A
		// table that cannot be written is a warning, retried every tick.
		failing = 1
		conn = nil
		p.log.Warn("heartbeat table cannot be written; streaming without heartbeats until it can", "table", p.cfg.HeartbeatTable, "err", err.Error())
	}
	defer func() {
		if conn != nil {
			_ = conn.Close()
		}
	}()
	stmt := fmt.Sprintf("REPLACE INTO `%s`.`%s` (pipeline, ts) VALUES (?, NOW(6))", db, table)
	t := time.NewTicker(p.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if conn == nil {
			if conn, err = p.heartbeatConn(ctx, db, table); err != nil {
				conn = nil
			}
		}
		if conn != nil {
			// A write stuck on a lock or a dead connection must not hold up
			// a stop: it gets a deadline.
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err = conn.Execute(stmt, p.cfg.Name); err == nil {
				failing = 0
				continue
			}
			_ = conn.Close()
			conn = nil // reconnect on the next tick
		}
		if failing++; failing == 1 || failing%60 == 0 {
			p.log.Warn("heartbeat not written; retrying", "table", p.cfg.HeartbeatTable, "failures", failing, "err", err.Error())
		}
	}
}

func (p *Pipeline) heartbeatConn(ctx context.Context, db, table string) (*client.Conn, error) {
	conn, err := binlog.Connect(ctx, &p.cfg.Source)
	if err != nil {
		return nil, fmt.Errorf("heartbeat connection: %w", err)
	}
	for _, q := range []string{
		fmt.Sprintf("CREATE DATABASE IF NOT EXISTS `%s`", db),
		fmt.Sprintf("CREATE TABLE IF NOT EXISTS `%s`.`%s` (pipeline VARCHAR(64) PRIMARY KEY, ts DATETIME(6) NOT NULL)", db, table),
	} {
		if _, err := conn.Execute(q); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("heartbeat table %s.%s: %w (grant CREATE, INSERT, DELETE on %s.* to the sluice user, or set heartbeat.table to \"\" to turn heartbeats off)", db, table, err, db)
		}
	}
	return conn, nil
}
