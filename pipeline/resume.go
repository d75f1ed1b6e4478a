package pipeline

import (
	"fmt"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/checkpoint"
)

// resumeGTIDs decides how the stream resumes from checkpoint cp on the
// server preflight reached: "" for by position, else the GTID set to
// resume after. A checkpoint of another server (a failover) resumes by
// GTID unless source.resume is position; the change goes into the
// checkpoint's history.
func (p *Pipeline) resumeGTIDs(cp *checkpoint.Checkpoint, srv *binlog.Server) (string, error) {
	if cp == nil {
		return "", nil
	}
	set := cp.GTIDSet
	if set == "" && srv.Flavor == mysql.MariaDBFlavor && cp.GTID != "" {
		// Checkpoints from before gtid_set was kept: on a server with one
		// replication domain the last GTID is the whole position.
		set = cp.GTID
	}
	mode := p.cfg.Source.Resume
	moved := cp.ServerID != 0 && cp.ServerID != srv.ServerID
	switch {
	case cp.ServerID == 0 && cp.GTIDSet != "":
		// `checkpoint set --gtid`: the set is the place, on any server.
		return cp.GTIDSet, nil
	case moved && mode == binlog.ResumePosition:
		return "", fmt.Errorf("checkpoint was taken on server_id %d but the source %s is server_id %d: positions do not carry over between servers (source.resume is position); set source.resume: auto to resume by GTID, point sluice at the original server, or re-point the checkpoint with `sluice checkpoint set`", cp.ServerID, srv.Addr, srv.ServerID)
	case moved && set == "":
		return "", fmt.Errorf("checkpoint was taken on server_id %d but the source %s is server_id %d, and the checkpoint holds no GTID set to resume by: point sluice at the original server, or re-point the checkpoint with `sluice checkpoint set --gtid SET` (the set the new server had executed at the checkpoint)", cp.ServerID, srv.Addr, srv.ServerID)
	case moved:
		if !p.cfg.FixedGeneration {
			// The new server's places do not compare with the old
			// one's: its events start a new generation.
			cp.Generation++
		}
		p.log.Warn("the source is another server than the checkpoint's: resuming after the checkpoint's executed GTID set", "addr", srv.Addr, "server_id", srv.ServerID, "checkpoint_server_id", cp.ServerID, "gtids", set, "generation", cp.Generation)
		cp.History = checkpoint.WithChange(cp.History, checkpoint.Change{
			At: time.Now().UTC(), What: "failover",
			From: fmt.Sprintf("server_id %d at %s", cp.ServerID, cp.Position),
			To:   fmt.Sprintf("server_id %d (%s) after gtid %s, generation %d", srv.ServerID, srv.Addr, set, cp.Generation),
		})
		return set, nil
	case mode == binlog.ResumeGTID && set == "":
		return "", fmt.Errorf("source.resume is gtid but the checkpoint at %s holds no GTID set (the server writes none, or the checkpoint is older): set source.resume: auto, or re-point it with `sluice checkpoint set --gtid SET`", cp.Position)
	case mode == binlog.ResumeGTID:
		return set, nil
	}
	return "", nil
}
