package binlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/sluicecdc/sluice/event"
)

// FileBefore returns the start of the newest binlog file created at or
// before t: a stream from there sees every transaction committed from t on.
// A binlog file's format description event carries its creation time.
func FileBefore(ctx context.Context, cfg *Config, srv *Server, t time.Time) (event.Position, error) {
	for i := len(srv.Binlogs) - 1; i >= 0; i-- {
		created, err := fileCreated(ctx, cfg, srv, srv.Binlogs[i])
		if err != nil {
			return event.Position{}, err
		}
		if !created.After(t) {
			return event.Position{File: srv.Binlogs[i], Offset: 4}, nil
		}
	}
	if len(srv.Binlogs) == 0 {
		return event.Position{}, fmt.Errorf("the server has no binlogs")
	}
	return event.Position{}, fmt.Errorf("the oldest binlog the server has (%s) was created after %s: the changes before it are gone", srv.Binlogs[0], t.UTC().Format(time.RFC3339))
}

// fileCreated reads the creation time of one binlog file of srv (the
// server preflight reached), over TLS and with credentials as configured.
func fileCreated(ctx context.Context, cfg *Config, srv *Server, file string) (time.Time, error) {
	addr := srv.Addr
	if addr == "" {
		addr = cfg.Addrs()[0]
	}
	// A probe finds out whether mode preferred gets TLS from this server.
	conn, tc, err := cfg.connectAddr(ctx, addr)
	if err != nil {
		return time.Time{}, err
	}
	_ = conn.Close()
	host, port, err := splitAddr(addr)
	if err != nil {
		return time.Time{}, err
	}
	password, err := cfg.password(ctx, addr)
	if err != nil {
		return time.Time{}, err
	}
	dialer, authenticated := guardedDialer(&net.Dialer{Timeout: cfg.DialTimeout})
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 1_000_000 + rand.Uint32N(1<<30), Flavor: srv.Flavor, Host: host, Port: port,
		User: cfg.User, Password: password, TLSConfig: tc, ReadTimeout: cfg.ReadTimeout,
		Logger: silentLogger(), Dialer: dialer,
	})
	defer syncer.Close()
	st, err := syncer.StartSync(mysql.Position{Name: file, Pos: 4})
	authenticated()
	if err != nil {
		return time.Time{}, fmt.Errorf("read binlog %s: %w", file, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.ReadTimeout)
	defer cancel()
	for {
		e, err := st.GetEvent(ctx)
		if err != nil {
			return time.Time{}, fmt.Errorf("read binlog %s: %w", file, err)
		}
		if _, ok := e.Event.(*replication.FormatDescriptionEvent); ok && e.Header.Timestamp != 0 {
			return time.Unix(int64(e.Header.Timestamp), 0), nil
		}
	}
}
