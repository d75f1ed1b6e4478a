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
// has purged (by GTID: one resuming after a set the server purged
// transactions past) is refused, unless Snapshot.WhenNeeded: then resnap is true,
// and the pipeline starts again at the server's head with the initial
// snapshot (Debezium's snapshot.mode when_needed).
func (p *Pipeline) preflight(ctx context.Context, cp *checkpoint.Checkpoint) (srv *binlog.Server, resumeGTIDs string, resnap bool, err error) {
	if srv, err = binlog.Preflight(ctx, &p.cfg.Source, event.Position{}); err != nil {
		return nil, "", false, err
	}
	if resumeGTIDs, err = p.resumeGTIDs(cp, srv); err != nil || cp == nil {
		return srv, resumeGTIDs, false, err
	}
	if resumeGTIDs != "" {
		// By GTID: the server must still have every transaction not in
		// the set.
		purged, err := binlog.PurgedGTIDs(ctx, &p.cfg.Source, srv)
		if err != nil {
			return nil, "", false, err
		}
		err = binlog.CheckGTIDResume(srv.Flavor, resumeGTIDs, purged)
		if resnap, err = p.whenNeeded("gtid "+resumeGTIDs, err); err != nil || resnap {
			return srv, "", resnap, err
		}
		return srv, resumeGTIDs, false, nil
	}
	resnap, err = p.whenNeeded(cp.Position.String(), srv.CheckFrom(cp.Position))
	return srv, "", resnap, err
}

// whenNeeded turns err, from checking that the server still has what the
// checkpoint at `at` resumes from, into a snapshot from the server's head
// when Snapshot.WhenNeeded and err says the binlog is purged.
func (p *Pipeline) whenNeeded(at string, err error) (resnap bool, _ error) {
	var pe *binlog.PreflightError
	if err == nil || !p.cfg.Snapshot.WhenNeeded || !errors.As(err, &pe) || pe.Check != "checkpoint" {
		return false, err
	}
	p.log.Warn("the checkpoint's binlog is purged; snapshot.mode when_needed: snapshotting again from the server's head",
		"checkpoint", at, "err", err.Error())
	return true, nil
}
