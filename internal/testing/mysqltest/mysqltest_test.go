package mysqltest

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/testproc"
)

// shared is the package's server from TestMain, exercising Main.
var shared *Server

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		// Child process of TestOrphanCleanup: no shared server.
		os.Exit(m.Run())
	}
	Main(m, Options{}, func(s *Server) { shared = s })
}

type binlogSettings struct {
	logBin      int
	format      string
	rowImage    string
	rowMetadata string
	serverID    int
}

func queryBinlogSettings(t *testing.T, db *sql.DB) binlogSettings {
	t.Helper()
	var b binlogSettings
	err := db.QueryRow("SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata, @@server_id").
		Scan(&b.logBin, &b.format, &b.rowImage, &b.rowMetadata, &b.serverID)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMainSharedServer(t *testing.T) {
	if shared == nil {
		t.Fatal("Main did not hand over the server")
	}
	var one int
	if err := shared.DB(t).QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func TestStartDefaults(t *testing.T) {
	begin := time.Now()
	s := StartT(t, Options{})
	t.Logf("start (copy template + ready): %v", time.Since(begin))
	s.RequireOwned(t)

	if s.Host != "127.0.0.1" || s.User != "root" || s.Password != "" || s.External {
		t.Errorf("server = %+v", s)
	}
	if s.Addr() != fmt.Sprintf("127.0.0.1:%d", s.Port) {
		t.Errorf("Addr() = %q", s.Addr())
	}
	wantDSN := fmt.Sprintf("root:@tcp(127.0.0.1:%d)/mydb?multiStatements=true&parseTime=false&interpolateParams=true", s.Port)
	if got := s.DSN("mydb"); got != wantDSN {
		t.Errorf("DSN = %q, want %q", got, wantDSN)
	}

	db := s.DB(t)
	got := queryBinlogSettings(t, db)
	want := binlogSettings{logBin: 1, format: "ROW", rowImage: "FULL", rowMetadata: "FULL", serverID: 1}
	if got != want {
		t.Errorf("binlog settings = %+v, want %+v", got, want)
	}

	var tz, charset, collation, user string
	var maxConn int
	err := db.QueryRow("SELECT @@time_zone, @@character_set_server, @@collation_server, @@max_connections, CURRENT_USER()").
		Scan(&tz, &charset, &collation, &maxConn, &user)
	if err != nil {
		t.Fatal(err)
	}
	if tz != "+00:00" || charset != "utf8mb4" || collation != "utf8mb4_general_ci" || maxConn != 200 {
		t.Errorf("time_zone=%q charset=%q collation=%q max_connections=%d", tz, charset, collation, maxConn)
	}
	t.Logf("connected as %s", user)

	var version string
	if err := db.QueryRow("SELECT VERSION()").Scan(&version); err != nil {
		t.Fatal(err)
	}
	t.Logf("server version %s", version)
}

// Grants are enforced (no --skip-grant-tables): a user with replication
// grants only can read the binlog position but not the tables.
func TestGrantsEnforced(t *testing.T) {
	s := StartT(t, Options{})
	s.RequireOwned(t)
	s.Exec(t,
		"CREATE DATABASE secret",
		"CREATE TABLE secret.t (id INT PRIMARY KEY)",
		"CREATE USER 'repl'@'%' IDENTIFIED BY 'pw'",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'repl'@'%'",
	)
	db, err := sql.Open("mysql", fmt.Sprintf("repl:pw@tcp(%s)/", s.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query("SHOW GRANTS")
	if err != nil {
		t.Fatal(err)
	}
	var grants []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			t.Fatal(err)
		}
		grants = append(grants, g)
	}
	rows.Close()
	if len(grants) != 1 || !strings.Contains(grants[0], "REPLICATION SLAVE") {
		t.Errorf("grants = %q", grants)
	}
	if _, err := db.Exec("SELECT * FROM secret.t"); err == nil {
		t.Error("repl could read secret.t: grants are not enforced")
	}
	bad, _ := sql.Open("mysql", fmt.Sprintf("repl:wrong@tcp(%s)/", s.Addr()))
	defer bad.Close()
	if err := bad.Ping(); err == nil {
		t.Error("login with a wrong password succeeded")
	}
}

func TestArgsOverride(t *testing.T) {
	s := StartT(t, Options{Args: []string{"--binlog-format=STATEMENT", "--binlog-row-metadata=MINIMAL", "--server-id=7"}})
	s.RequireOwned(t)
	got := queryBinlogSettings(t, s.DB(t))
	want := binlogSettings{logBin: 1, format: "STATEMENT", rowImage: "FULL", rowMetadata: "MINIMAL", serverID: 7}
	if got != want {
		t.Errorf("binlog settings = %+v, want %+v", got, want)
	}
}

func TestArgsSkipLogBin(t *testing.T) {
	s := StartT(t, Options{Args: []string{"--skip-log-bin"}})
	s.RequireOwned(t)
	if got := queryBinlogSettings(t, s.DB(t)); got.logBin != 0 {
		t.Errorf("@@log_bin = %d with --skip-log-bin", got.logBin)
	}
}

func TestParallelServers(t *testing.T) {
	if os.Getenv(EnvDSN) != "" {
		t.Skip("external server: no independent servers")
	}
	var servers [2]*Server
	var errs [2]error
	var wg sync.WaitGroup
	begin := time.Now()
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			servers[i], errs[i] = Start(Options{})
		}()
	}
	wg.Wait()
	t.Logf("two servers started in parallel in %v", time.Since(begin))
	for i, s := range servers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() {
			if err := s.Stop(); err != nil {
				t.Error(err)
			}
		})
	}
	a, b := servers[0], servers[1]
	if a.Port == b.Port {
		t.Fatalf("both servers on port %d", a.Port)
	}
	if a.DataDir() == b.DataDir() {
		t.Fatalf("both servers in %s", a.DataDir())
	}

	a.Exec(t, "CREATE DATABASE only_a", "CREATE TABLE only_a.t (v VARCHAR(10))", "INSERT INTO only_a.t VALUES ('a')")
	b.Exec(t, "CREATE DATABASE only_b")

	var v string
	if err := a.DB(t).QueryRow("SELECT v FROM only_a.t").Scan(&v); err != nil || v != "a" {
		t.Fatalf("server a: v=%q err=%v", v, err)
	}
	dbB := b.DB(t)
	if err := dbB.QueryRow("SELECT v FROM only_a.t").Scan(&v); err == nil {
		t.Fatal("server b sees server a's table")
	}
	var n int
	if err := a.DB(t).QueryRow("SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'only_b'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("server a sees only_b: n=%d err=%v", n, err)
	}
}

func TestExecSessionState(t *testing.T) {
	s := shared
	s.Exec(t,
		"CREATE DATABASE IF NOT EXISTS exec_state",
		"USE exec_state",
		"CREATE TABLE t (x INT)",
		"SET @v := 42",
		"SET SESSION sql_mode = 'ANSI_QUOTES'",
		`INSERT INTO "t" VALUES (@v)`,
	)
	t.Cleanup(func() { s.Exec(t, "DROP DATABASE exec_state") })
	var x int
	if err := s.DB(t).QueryRow("SELECT x FROM exec_state.t").Scan(&x); err != nil || x != 42 {
		t.Fatalf("x = %d, err = %v", x, err)
	}
}

// Session state does not leak from one Exec into the next.
func TestExecFreshSession(t *testing.T) {
	s := shared
	s.Exec(t, "CREATE DATABASE IF NOT EXISTS exec_fresh", "USE exec_fresh", "SET @leak := 1")
	t.Cleanup(func() { s.Exec(t, "DROP DATABASE exec_fresh") })
	for range 3 {
		// Fails with "table 'probe' already exists" if the connection
		// of an earlier Exec is reused.
		s.Exec(t, "CREATE TEMPORARY TABLE exec_fresh.probe AS SELECT DATABASE() AS d, @leak AS l")
	}
	// And the pool holds no connection with the state of an earlier Exec.
	pool, err := s.execPool()
	if err != nil {
		t.Fatal(err)
	}
	var d, l sql.NullString
	if err := pool.QueryRow("SELECT DATABASE(), @leak").Scan(&d, &l); err != nil {
		t.Fatal(err)
	}
	if d.Valid || l.Valid {
		t.Errorf("session state leaked into the pool: database=%v @leak=%v", d, l)
	}
}

func TestKillRestart(t *testing.T) {
	s := StartT(t, Options{})
	s.RequireOwned(t)
	s.Exec(t, "CREATE DATABASE crash", "CREATE TABLE crash.t (id INT PRIMARY KEY) ENGINE=InnoDB", "INSERT INTO crash.t VALUES (1), (2)")
	port := s.Port
	if err := s.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(s.DataDir(), "ibdata1")); err != nil {
		t.Fatalf("datadir gone after Kill: %v", err)
	}
	probe, _ := sql.Open("mysql", s.DSN(""))
	defer probe.Close()
	if err := probe.Ping(); err == nil {
		t.Fatal("server answers after Kill")
	}
	if err := s.Kill(); err == nil {
		t.Error("second Kill succeeded")
	}
	begin := time.Now()
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	t.Logf("restart with crash recovery: %v", time.Since(begin))
	if s.Port != port {
		t.Errorf("port changed from %d to %d", port, s.Port)
	}
	var n int
	if err := s.DB(t).QueryRow("SELECT COUNT(*) FROM crash.t").Scan(&n); err != nil || n != 2 {
		t.Fatalf("after restart: count=%d err=%v", n, err)
	}
}

func TestStopRemovesDataDir(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.RequireOwned(t)
	dir := s.DataDir()
	pid := serverPid(t, s)
	begin := time.Now()
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("stop: %v", time.Since(begin))
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("datadir %s still there: %v", dir, err)
	}
	if testproc.Running(pid) {
		t.Errorf("mariadbd %d still running", pid)
	}
	if err := s.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if err := s.Restart(); err == nil {
		t.Error("Restart after Stop succeeded")
	}
}

func TestExternalDSN(t *testing.T) {
	if os.Getenv(EnvDSN) != "" {
		t.Skip("already external")
	}
	owned := shared
	t.Setenv(EnvDSN, fmt.Sprintf("root:@tcp(%s)/?timeout=5s", owned.Addr()))
	ext, err := Start(Options{Args: []string{"--this-flag-is-ignored"}})
	if err != nil {
		t.Fatal(err)
	}
	if !ext.External || ext.Host != "127.0.0.1" || ext.Port != owned.Port || ext.User != "root" || ext.Password != "" {
		t.Errorf("external server = %+v", ext)
	}
	dsn := ext.DSN("somedb")
	for _, want := range []string{"/somedb?", "multiStatements=true", "interpolateParams=true", "timeout=5s"} {
		if !strings.Contains(dsn, want) {
			t.Errorf("DSN %q lacks %q", dsn, want)
		}
	}
	var one int
	if err := ext.DB(t).QueryRow("SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	ext.Exec(t, "SET @x := 1")
	if err := ext.Stop(); err != nil {
		t.Errorf("Stop of external: %v", err)
	}
	if err := ext.Kill(); err == nil {
		t.Error("Kill of external succeeded")
	}
	ran := t.Run("RequireOwned", func(t *testing.T) {
		ext.RequireOwned(t)
		t.Error("RequireOwned did not skip")
	})
	if !ran {
		t.Log("subtest skipped as expected")
	}

	t.Setenv(EnvDSN, "root:@tcp(127.0.0.1:1)/?timeout=1s")
	if _, err := Start(Options{}); err == nil {
		t.Error("Start with an unreachable external server succeeded")
	}
}

func TestStartFailureShowsErrorLog(t *testing.T) {
	if os.Getenv(EnvDSN) != "" {
		t.Skip("external server")
	}
	_, err := Start(Options{Args: []string{"--no-such-option-xyz"}})
	if err == nil {
		t.Fatal("Start with a bad flag succeeded")
	}
	if !strings.Contains(err.Error(), "no-such-option-xyz") || !strings.Contains(err.Error(), "error.log") {
		t.Errorf("error does not show the error log: %v", err)
	}
	t.Logf("error: %v", err)
}

// A port taken between pickPort and the server's bind is retried.
func TestPortCollisionRetry(t *testing.T) {
	if os.Getenv(EnvDSN) != "" {
		t.Skip("external server")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	calls := 0
	pickPort = func() (int, error) {
		calls++
		if calls == 1 {
			return taken, nil
		}
		return testproc.FreePort()
	}
	defer func() { pickPort = testproc.FreePort }()
	begin := time.Now()
	s := StartT(t, Options{})
	t.Logf("start with one collision: %v", time.Since(begin))
	if calls != 2 || s.Port == taken {
		t.Errorf("calls=%d port=%d taken=%d", calls, s.Port, taken)
	}
}

func TestMissingBinary(t *testing.T) {
	t.Setenv(EnvDSN, "")
	t.Setenv("PATH", t.TempDir())
	saved := defaultMariadbd
	defaultMariadbd = filepath.Join(t.TempDir(), "no-mariadbd")
	defer func() { defaultMariadbd = saved }()
	_, err := Start(Options{})
	if err == nil || !strings.Contains(err.Error(), "install mariadb-server (apt-get install -y mariadb-server) or set SLUICE_TEST_MYSQL_DSN") {
		t.Fatalf("Start without mariadbd: %v", err)
	}
}

func TestTemplateBuildTime(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	bin, err := findMariadbd()
	if err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	begin := time.Now()
	if err := buildTemplate(bin, dir); err != nil {
		t.Fatal(err)
	}
	t.Logf("template init (mariadb-install-db): %v", time.Since(begin))
	dst := t.TempDir()
	begin = time.Now()
	if err := copyTree(dir, dst); err != nil {
		t.Fatal(err)
	}
	t.Logf("template copy: %v", time.Since(begin))
	if _, err := os.Stat(filepath.Join(dst, templateMarker)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("marker copied: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, "mysql", "global_priv.frm")); err != nil {
		t.Error(err)
	}
}

const helperEnv = "SLUICE_MYSQLTEST_HELPER"

// TestHelperServer is run as a child process by TestOrphanCleanup: it starts
// a server, prints its data directory and pid, and waits to be killed.
func TestHelperServer(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		t.Skip("helper process only")
	}
	s, err := Start(Options{})
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Printf("READY %s %d\n", s.DataDir(), serverPid(t, s))
	time.Sleep(time.Minute)
	os.Exit(1)
}

// A test binary killed with SIGKILL takes its server along (parent-death
// signal), and the next Start removes the data directory left behind.
func TestOrphanCleanup(t *testing.T) {
	if os.Getenv(EnvDSN) != "" {
		t.Skip("external server")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(out)
	var dir string
	var pid int
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "READY" {
			dir = f[1]
			pid, _ = strconv.Atoi(f[2])
			break
		}
		t.Log("helper:", sc.Text())
	}
	if dir == "" {
		t.Fatal("helper did not start a server")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	deadline := time.Now().Add(10 * time.Second)
	for testproc.Running(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("mariadbd %d survived its test binary", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("datadir of the killed helper already gone: %v", err)
	}
	cleanupOrphans()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan datadir %s not removed: %v", dir, err)
	}
	// Our own live servers are left alone.
	if _, err := os.Stat(shared.DataDir()); err != nil {
		t.Errorf("cleanup removed a live server's datadir: %v", err)
	}
}

// Orphans whose server still runs (e.g. a binary killed while the
// parent-death signal was not in effect) are killed too.
func TestOrphanCleanupKillsServer(t *testing.T) {
	if os.Getenv(EnvDSN) != "" {
		t.Skip("external server")
	}
	// A dead owner pid: a process that has exited and been reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid := dead.ProcessState.Pid()
	dir, err := os.MkdirTemp(dataParent(), fmt.Sprintf("%s%d-", dirPrefix, deadPid))
	if err != nil {
		t.Fatal(err)
	}
	// A stand-in "server" whose command line names the datadir (bash does
	// not exec the last command of a list, so it stays the process).
	sleeper := exec.Command("bash", "-c", "sleep 60; :", "fake-mariadbd", "--datadir="+dir)
	sleeper.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-sleeper.Process.Pid, syscall.SIGKILL) })
	os.WriteFile(filepath.Join(dir, testproc.OwnerFile), fmt.Appendf(nil, "%d 1 %d\n", deadPid, sleeper.Process.Pid), 0o644)
	cleanupOrphans()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan datadir %s not removed: %v", dir, err)
	}
	done := make(chan struct{})
	go func() { sleeper.Wait(); close(done) }()
	select {
	case <-done:
		if ws := sleeper.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
			t.Errorf("stand-in server ended with %v, not SIGKILL", sleeper.ProcessState)
		}
	case <-time.After(5 * time.Second):
		t.Error("orphan server not killed")
	}
}

func serverPid(t testing.TB, s *Server) int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		t.Fatal("server not running")
	}
	return s.proc.Pid()
}

// BenchmarkStartStop measures a full server life: copy, start, ready, stop.
func BenchmarkStartStop(b *testing.B) {
	if os.Getenv(EnvDSN) != "" {
		b.Skip("external server")
	}
	for b.Loop() {
		s, err := Start(Options{})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Stop(); err != nil {
			b.Fatal(err)
		}
	}
}
