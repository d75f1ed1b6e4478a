package pipeline

import (
	"context"
	"errors"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/event"
)

// preflight checks the source for a stream from the checkpoint cp (nil:
// none) and decides how the stream resumes: resumeGTIDs is the GTID set to
// resume after ("" for by position). A checkpoint whose binlog the server
// has purged is refused, unless Snapshot.WhenNeeded: then resnap is true,
// and the pipeline starts again at the server's head with the initial
// snapshot (Debezium's snapshot.mode when_needed).
func (p *Pipeline) preflight(ctx context.Context, cp *checkpoint.Checkpoint) (srv *binlog.Server, resumeGTIDs string, resnap bool, err error) {
	if srv, err = binlog.Preflight(ctx, &p.cfg.Source, event.Position{}); err != nil {
		return nil, "", false, err
	}
	if resumeGTIDs, err = p.resumeGTIDs(cp, srv); err != nil || resumeGTIDs != "" || cp == nil {
		return srv, resumeGTIDs, false, err
	}
	err = srv.CheckFrom(cp.Position)
	var pe *binlog.PreflightError
	if err == nil || !p.cfg.Snapshot.WhenNeeded || !errors.As(err, &pe) || pe.Check != "checkpoint" {
		return srv, "", false, err
	}
	p.log.Warn("the checkpoint's binlog is purged; snapshot.mode when_needed: snapshotting again from the server's head",
		"checkpoint", cp.Position.String(), "err", err.Error())
	return srv, "", true, nil
}
