package pipeline

import (
	"context"
	"errors"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/event"
)

// preflight checks the source for a stream from the checkpoint cp (nil:
// none). With Snapshot.WhenNeeded, a checkpoint whose binlog the server has
// purged is not refused: resnap is true, and the pipeline starts again at
// the server's head with the initial snapshot (Debezium's snapshot.mode
// when_needed).
func (p *Pipeline) preflight(ctx context.Context, cp *checkpoint.Checkpoint) (srv *binlog.Server, resnap bool, err error) {
	var from event.Position
	if cp != nil {
		from = cp.Position
	}
	srv, err = binlog.Preflight(ctx, &p.cfg.Source, from)
	var pe *binlog.PreflightError
	if err == nil || cp == nil || !p.cfg.Snapshot.WhenNeeded || !errors.As(err, &pe) || pe.Check != "checkpoint" {
		return srv, false, err
	}
	p.log.Warn("the checkpoint's binlog is purged; snapshot.mode when_needed: snapshotting again from the server's head",
		"checkpoint", from.String(), "err", err.Error())
	srv, err = binlog.Preflight(ctx, &p.cfg.Source, event.Position{})
	return srv, err == nil, err
}
