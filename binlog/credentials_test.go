package binlog_test

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/go-sql-driver/mysql"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
	"github.com/sluicecdc/sluice/schema"
)

// TestIAMToken: a token is signed for the address connected to, the
// user, the region and the credentials, and made anew at every call.
func TestIAMToken(t *testing.T) {
	creds := credentials.NewStaticCredentialsProvider("AKIASLUICETEST000001", "secret-test-key", "")
	f := binlog.IAMPasswords("eu-west-1", "sluicer", creds)
	ctx := context.Background()
	a, err := f(ctx, "db-a.cluster-x.eu-west-1.rds.amazonaws.com:3306")
	if err != nil {
		t.Fatal(err)
	}
	b, err := f(ctx, "db-b.eu-west-1.rds.amazonaws.com:3307")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ token, host string }{{a, "db-a.cluster-x.eu-west-1.rds.amazonaws.com:3306"}, {b, "db-b.eu-west-1.rds.amazonaws.com:3307"}} {
		if !strings.HasPrefix(tc.token, tc.host+"?") {
			t.Fatalf("token %q does not start with %s?", tc.token, tc.host)
		}
		q, err := url.ParseQuery(strings.SplitN(tc.token, "?", 2)[1])
		if err != nil {
			t.Fatal(err)
		}
		if q.Get("Action") != "connect" || q.Get("DBUser") != "sluicer" || q.Get("X-Amz-Expires") != "900" ||
			!strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIASLUICETEST000001/") ||
			!strings.HasSuffix(q.Get("X-Amz-Credential"), "/eu-west-1/rds-db/aws4_request") || q.Get("X-Amz-Signature") == "" {
			t.Fatalf("token query %v: want Action=connect, DBUser=sluicer, 15 minutes, the credential's scope and a signature", q)
		}
	}
}

// TestPasswordPerConnection: every connection sluice makes (SQL,
// replication, the SQL driver's pool) asks Passwords for its secret, so
// a token is always fresh.
func TestPasswordPerConnection(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.RequireOwned(t)
	s.Exec(t, "CREATE USER tok@'%' IDENTIFIED BY 'tok-1'", "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO tok@'%'")
	var mu sync.Mutex
	var calls []string
	cfg := sourceConfig(s, "tok", binlog.TLSConfig{Mode: binlog.TLSDisabled})
	cfg.Passwords = func(ctx context.Context, addr string) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, addr)
		return "tok-1", nil
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(calls)
	}
	ctx := context.Background()
	for i := 1; i <= 2; i++ {
		conn, err := binlog.Connect(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		conn.Close()
		if count() != i {
			t.Fatalf("after %d connections, %d password calls", i, count())
		}
	}
	if calls[0] != s.Addr() {
		t.Fatalf("password asked for %q, want the address %s", calls[0], s.Addr())
	}
	dc, err := cfg.DriverConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	connector, err := mysql.NewConnector(dc)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	db.SetMaxIdleConns(0) // every query on a new connection
	before := count()
	for range 2 {
		var one int
		if err := db.QueryRow("SELECT 1").Scan(&one); err != nil {
			t.Fatal(err)
		}
	}
	if got := count() - before; got != 2 {
		t.Fatalf("two driver connections asked for %d passwords, want 2", got)
	}

	// The replication stream asks again at every reconnect.
	srv, err := binlog.Preflight(ctx, cfg, event.Position{})
	if err != nil {
		t.Fatal(err)
	}
	before = count()
	st := newStream(t, cfg, srv)
	s.Exec(t, "CREATE DATABASE tokdb", "CREATE TABLE tokdb.t (id INT PRIMARY KEY)", "INSERT INTO tokdb.t VALUES (1)")
	st.waitRow(t)
	first := count() - before
	if first < 1 {
		t.Fatalf("the stream connected without asking for a password")
	}
	killDump(t, s)
	s.Exec(t, "INSERT INTO tokdb.t VALUES (2)")
	st.waitRow(t)
	if got := count() - before; got <= first {
		t.Fatalf("the stream reconnected without asking for a new password (%d calls before the kill, %d after)", first, got)
	}
	st.stop(t)
}

// TestPasswordFileRotation: the password is changed on the server and in
// the file, the replication connection is killed, and the stream
// reconnects with the new password.
func TestPasswordFileRotation(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{})
	s.RequireOwned(t)
	s.Exec(t, "CREATE USER rot@'%' IDENTIFIED BY 'first-pw'", "GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO rot@'%'",
		"CREATE DATABASE rotdb", "CREATE TABLE rotdb.t (id INT PRIMARY KEY)")
	file := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(file, []byte("first-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := sourceConfig(s, "rot", binlog.TLSConfig{Mode: binlog.TLSDisabled})
	cfg.PasswordFile = file
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := binlog.Preflight(context.Background(), cfg, event.Position{})
	if err != nil {
		t.Fatal(err)
	}
	st := newStream(t, cfg, srv)
	s.Exec(t, "INSERT INTO rotdb.t VALUES (1)")
	st.waitRow(t)

	s.Exec(t, "ALTER USER rot@'%' IDENTIFIED BY 'second-pw'")
	if err := os.WriteFile(file, []byte("second-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	killDump(t, s)
	s.Exec(t, "INSERT INTO rotdb.t VALUES (2)")
	st.waitRow(t)
	st.stop(t)
}

// stream runs a Streamer in the background and counts the rows it reads.
type stream struct {
	cancel context.CancelFunc
	items  chan binlog.Item
	done   chan error
}

func newStream(t *testing.T, cfg *binlog.Config, srv *binlog.Server) *stream {
	ctx, cancel := context.WithCancel(context.Background())
	st := &stream{cancel: cancel, items: make(chan binlog.Item, 64), done: make(chan error, 1)}
	streamer := binlog.NewStreamer(*cfg, srv.Flavor, schema.NewRegistry())
	go func() { st.done <- streamer.Run(ctx, srv.Head, st.items) }()
	t.Cleanup(cancel)
	return st
}

// waitRow waits for a committed transaction with one row.
func (st *stream) waitRow(t *testing.T) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	rows := 0
	for {
		select {
		case it := <-st.items:
			switch it.Kind {
			case binlog.ItemRows:
				rows += len(it.Rows)
			case binlog.ItemAbort:
				rows = 0
			case binlog.ItemCommit:
				if rows == 1 {
					return
				}
				rows = 0
			}
		case err := <-st.done:
			t.Fatalf("stream stopped: %v", err)
		case <-timeout:
			t.Fatal("no row within 30s")
		}
	}
}

func (st *stream) stop(t *testing.T) {
	t.Helper()
	st.cancel()
	if err := <-st.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("stream: %v", err)
	}
}

// killDump kills the server side of the binlog dump connection.
func killDump(t *testing.T, s *mysqltest.Server) {
	t.Helper()
	db := s.DB(t)
	var id int64
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := db.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' LIMIT 1").Scan(&id)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no binlog dump connection: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := db.Exec("KILL ?", id); err != nil {
		t.Fatal(err)
	}
}
