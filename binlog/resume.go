package binlog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicecdc/sluice/event"
)

// SetSource tells the streamer which server its start position belongs
// to (server_id, from Preflight) and the executed GTID set at that
// position ("" when unknown). After a reconnect lands on another server
// (a promoted replica among Config.Hosts), the stream goes on after the
// executed set when Resume allows it, and halts when it does not.
func (s *Streamer) SetSource(serverID uint32, executed string) error {
	s.serverID = serverID
	if executed == "" {
		return nil
	}
	g, err := ParseExecutedSet(s.flavor, executed)
	if err != nil {
		return err
	}
	s.executed = g
	return nil
}

// target is the server a session streams from.
type target struct {
	addr     string
	tls      *tls.Config // nil: plaintext
	serverID uint32
}

// pick connects to the first server of Addrs that answers and reads its
// server_id; the replication connection then goes to the same server with
// the same TLS choice.
func (s *Streamer) pick(ctx context.Context) (target, error) {
	conn, addr, tc, err := s.cfg.connectAny(ctx)
	if err != nil {
		return target{}, err
	}
	defer func() { _ = conn.Close() }()
	r, err := conn.Execute("SELECT @@server_id")
	if err != nil {
		return target{}, fmt.Errorf("read server_id of %s: %w", addr, err)
	}
	id, _ := r.GetUint(0, 0)
	return target{addr: addr, tls: tc, serverID: uint32(id)}, nil
}

// startSet returns the GTID set a session on server t starts after, or
// nil to start at the handler's position. Another server than the one
// the position belongs to needs the executed set; Resume position
// refuses it.
func (s *Streamer) startSet(t target, h *handler) (mysql.GTIDSet, error) {
	if h.committed.IsZero() && s.startGTID != nil {
		return s.startGTID, nil
	}
	if h.gtidStart && h.executed != nil {
		// Started after a GTID set and no commit since: start there again.
		return h.executed.set.Clone(), nil
	}
	moved := s.serverID != 0 && t.serverID != s.serverID
	switch {
	case moved && s.cfg.Resume == ResumePosition:
		return nil, &HaltError{Err: fmt.Errorf("the source at %s is server_id %d, not %d the stream was reading: binlog positions do not carry over between servers; set source.resume: auto (or gtid) to follow a failover by GTID", t.addr, t.serverID, s.serverID)}
	case moved && h.executed == nil:
		return nil, &HaltError{Err: fmt.Errorf("the source at %s is server_id %d, not %d the stream was reading, and the executed GTID set at %s is not known yet (it is learnt at the start of the next binlog file): point sluice at server_id %d, or re-point the checkpoint with `sluice checkpoint set --gtid`", t.addr, t.serverID, s.serverID, h.committed, s.serverID)}
	case moved, s.cfg.Resume == ResumeGTID && h.executed != nil:
		return h.executed.set.Clone(), nil
	}
	return nil, nil
}

func splitAddr(addr string) (string, uint16, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("source address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(p, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("source address %q: port: %w", addr, err)
	}
	return host, uint16(port), nil
}

// trackGTIDs keeps h.executed, the executed GTID set at h.committed. A
// stream that starts without one learns it from the list of earlier
// GTIDs the server writes at the start of every binlog file. Artificial
// copies (log position 0) a server may send when a dump starts are not
// taken: they tell the state at some other place.
func (h *handler) trackGTIDs(hdr *replication.EventHeader, ev replication.Event) {
	if h.executed != nil || h.inTx || hdr.LogPos == 0 {
		return
	}
	switch ev := ev.(type) {
	case *replication.MariadbGTIDListEvent:
		set := &mysql.MariadbGTIDSet{Sets: map[uint32]*mysql.MariadbGTID{}}
		for i := range ev.GTIDs {
			g := ev.GTIDs[i]
			// The list holds the last GTID of each domain and server; the
			// domain's position is its highest sequence number.
			if cur, ok := set.Sets[g.DomainID]; !ok || g.SequenceNumber > cur.SequenceNumber {
				set.Sets[g.DomainID] = g.Clone()
			}
		}
		h.executed = &ExecutedSet{set: set}
		h.seed = set.String()
	case *replication.PreviousGTIDsEvent:
		if set, err := mysql.ParseMysqlGTIDSet(ev.GTIDSets); err == nil {
			h.executed = &ExecutedSet{set: set}
			h.seed = set.String()
		}
	}
}

// committedGTID adds the committing transaction's GTID to the executed set.
func (h *handler) committedGTID() {
	if h.executed != nil {
		h.executed.Add(h.txID)
	}
	h.txID = GTID{}
}

// takeSeed returns the executed set learnt since the last item ("" for
// none), for the consumer of the items to start its own copy from.
func (h *handler) takeSeed() string {
	s := h.seed
	h.seed = ""
	return s
}

// gtidHead reads the server's executed GTID set at its binlog head: it
// reads the set between two reads of the head and retries until the head
// did not move, so the two belong together. "" when the server writes no
// GTIDs.
func gtidHead(conn querier, flavor string, at event.Position) (string, event.Position, error) {
	q := "SELECT @@GLOBAL.gtid_executed"
	if flavor == mysql.MariaDBFlavor {
		q = "SELECT @@GLOBAL.gtid_binlog_pos"
	} else {
		r, err := conn.Execute("SELECT @@GLOBAL.gtid_mode")
		var me *mysql.MyError
		if errors.As(err, &me) && me.Code == mysql.ER_UNKNOWN_SYSTEM_VARIABLE {
			return "", at, nil // before GTIDs existed
		} else if err != nil {
			return "", at, fmt.Errorf("read gtid_mode: %w", err)
		}
		if mode, _ := r.GetString(0, 0); !strings.EqualFold(mode, "ON") {
			return "", at, nil
		}
	}
	for range 20 {
		r, err := conn.Execute(q)
		if err != nil {
			return "", at, fmt.Errorf("read executed GTID set: %w", err)
		}
		set, _ := r.GetString(0, 0)
		set = strings.ReplaceAll(set, "\n", "")
		again, err := head(conn)
		if err != nil {
			return "", at, err
		}
		if again == at {
			return set, at, nil
		}
		at = again
	}
	return "", at, nil // the server writes too fast to pair them; learnt from the stream later
}

// GTIDsAt returns the executed GTID set at pos on the server: MariaDB's
// BINLOG_GTID_POS; "" for MySQL, which has no such function.
func GTIDsAt(ctx context.Context, cfg *Config, flavor string, pos event.Position) (string, error) {
	if flavor != mysql.MariaDBFlavor {
		return "", nil
	}
	conn, err := Connect(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	r, err := conn.Execute("SELECT BINLOG_GTID_POS(?, ?)", pos.File, pos.Offset)
	if err != nil {
		return "", fmt.Errorf("executed GTID set at %s: %w", pos, err)
	}
	set, _ := r.GetString(0, 0)
	return set, nil
}

// ValidGTIDSet checks a GTID set's syntax for the flavor.
func ValidGTIDSet(flavor, set string) error {
	if _, err := mysql.ParseGTIDSet(flavor, set); err != nil {
		return fmt.Errorf("GTID set %q for %s: %w (MariaDB: domain-server-seq[,...]; MySQL: uuid:1-N[,...])", set, flavor, err)
	}
	return nil
}

// PurgedGTIDs returns what the server has purged from its binlogs: MySQL's
// gtid_purged; for MariaDB the GTID state at the start of its oldest binlog
// (BINLOG_GTID_POS), which every purged transaction is at or before. ""
// when the server writes no GTIDs or has purged nothing.
func PurgedGTIDs(ctx context.Context, cfg *Config, srv *Server) (string, error) {
	if srv.GTIDs == "" {
		return "", nil
	}
	conn, err := Connect(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	q, args := "SELECT @@GLOBAL.gtid_purged", []any(nil)
	if srv.Flavor == mysql.MariaDBFlavor {
		if len(srv.Binlogs) == 0 {
			return "", nil
		}
		q, args = "SELECT BINLOG_GTID_POS(?, 4)", []any{srv.Binlogs[0]}
	}
	r, err := conn.Execute(q, args...)
	if err != nil {
		return "", fmt.Errorf("read the purged GTIDs: %w", err)
	}
	set, _ := r.GetString(0, 0)
	return strings.ReplaceAll(set, "\n", ""), nil
}

// CheckGTIDResume checks that a stream resuming after the executed set
// finds every transaction it has not executed still in the server's
// binlogs, whose purged GTIDs are purged (PurgedGTIDs). It returns a
// *PreflightError (Check "checkpoint") naming the fix when the server
// purged some: MariaDB, a domain whose purged sequence number is past the
// set's; MySQL, a purged GTID not in the set.
func CheckGTIDResume(flavor, executed, purged string) error {
	if purged == "" {
		return nil
	}
	lost := ""
	switch flavor {
	case mysql.MariaDBFlavor:
		p, err := mariaDBLast(purged)
		if err != nil {
			return fmt.Errorf("purged GTIDs %q: %w", purged, err)
		}
		e, err := mariaDBLast(executed)
		if err != nil {
			return fmt.Errorf("executed GTID set %q: %w", executed, err)
		}
		var missing []string
		for domain, g := range p {
			if have, ok := e[domain]; !ok || have.SequenceNumber < g.SequenceNumber {
				missing = append(missing, fmt.Sprintf("domain %d up to %s", domain, g))
			}
		}
		sort.Strings(missing)
		lost = strings.Join(missing, ", ")
	default:
		p, err := mysql.ParseMysqlGTIDSet(purged)
		if err != nil {
			return fmt.Errorf("purged GTIDs %q: %w", purged, err)
		}
		e, err := mysql.ParseMysqlGTIDSet(executed)
		if err != nil {
			return fmt.Errorf("executed GTID set %q: %w", executed, err)
		}
		if !e.Contain(p) {
			lost = "some of " + purged
		}
	}
	if lost == "" {
		return nil
	}
	return &PreflightError{Check: "checkpoint", Msg: fmt.Sprintf("the checkpoint resumes by GTID after %s but the server has purged binlogs holding transactions it has not executed (%s; purged: %s): the changes in between are lost to sluice. Raise binlog retention (binlog_expire_logs_seconds, or on RDS: CALL mysql.rds_set_configuration('binlog retention hours', 72)), then re-snapshot the tables (snapshot.mode: when_needed does it at start) or remove the checkpoint to start from `start`", executed, lost, purged)}
}

// mariaDBLast reads a MariaDB GTID list (a binlog state may hold several
// servers per domain) as the last GTID of each domain: the one with the
// highest sequence number.
func mariaDBLast(list string) (map[uint32]*mysql.MariadbGTID, error) {
	last := map[uint32]*mysql.MariadbGTID{}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		g, err := mysql.ParseMariadbGTID(s)
		if err != nil {
			return nil, err
		}
		if have, ok := last[g.DomainID]; !ok || g.SequenceNumber > have.SequenceNumber {
			last[g.DomainID] = g
		}
	}
	return last, nil
}
