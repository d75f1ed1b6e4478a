// Package mysqltest gives tests a throwaway, real MariaDB server.
//
// Each Start copies a pre-initialised data directory (built once per mariadbd
// version with mariadb-install-db and cached under os.TempDir()) into a fresh
// directory sluice-my-<pid>-<random> under /dev/shm (a tmpfs; /tmp when
// /dev/shm is small or missing; $SLUICE_MYSQLTEST_DIR overrides) and starts
// mariadbd on a free loopback port, with the binary log enabled in ROW format
// with FULL row image and FULL row metadata. Starting a server takes under a
// tenth of a second on tmpfs. Root logs in over TCP with an empty password;
// grants are enforced. Set SLUICE_MYSQLTEST_VERBOSE=1 to print timings.
//
// When SLUICE_TEST_MYSQL_DSN is set (a go-sql-driver DSN such as
// "root:pw@tcp(127.0.0.1:3307)/"), no server is started: Start returns a
// Server describing that external server, Options.Args are ignored, and data
// is shared between all "servers". Tests that need their own server (special
// flags, Kill, independent data) call RequireOwned, which skips them then.
//
// Typical use, one shared server per test package:
//
//	var srv *mysqltest.Server
//
//	func TestMain(m *testing.M) {
//		mysqltest.Main(m, mysqltest.Options{}, func(s *mysqltest.Server) { srv = s })
//	}
//
// or one server per test:
//
//	s := mysqltest.StartT(t, mysqltest.Options{Args: []string{"--binlog-format=STATEMENT"}})
//
// Servers are started in their own process group with a parent-death signal,
// so they die with the test binary even when it is killed; the data
// directories such binaries leave behind are removed by the next Start on the
// machine. This package is Linux-only.
package mysqltest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

	"github.com/go-sql-driver/mysql"

	"github.com/sluicecdc/sluice/internal/testing/testproc"
)

// EnvDSN names the environment variable that points the tests at an
// external server instead of starting mariadbd.
const EnvDSN = "SLUICE_TEST_MYSQL_DSN"

// dsnParams are appended to every DSN returned by Server.DSN.
const dsnParams = "multiStatements=true&parseTime=false&interpolateParams=true"

// verbose prints timings to stderr (SLUICE_MYSQLTEST_VERBOSE=1).
var verbose = os.Getenv("SLUICE_MYSQLTEST_VERBOSE") != ""

const installHint = "install mariadb-server (apt-get install -y mariadb-server) or set " + EnvDSN

const (
	readyTimeout   = 30 * time.Second
	stopGrace      = 10 * time.Second
	startAttempts  = 3
	dirPrefix      = "sluice-my-"
	templatePrefix = "sluice-mysqltest-template-"
	templateMarker = ".sluice-template-ok"
	pidFile        = "mariadbd.pid"
	errorLogFile   = "error.log"
	socketFile     = "s.sock"
	// templateFormat is part of the template cache key: bump it when the
	// way templates are built changes.
	templateFormat = "2"
)

// InnoDB settings that shape the files of the data directory; the template is
// built with them, so each server must start with the same ones.
var innodbFileArgs = []string{
	"--innodb-log-file-size=48M",
	"--innodb-buffer-pool-size=32M",
}

// Options configures a server started by Start.
type Options struct {
	// Args are extra mariadbd flags, appended after the defaults and
	// overriding them (e.g. "--binlog-format=STATEMENT", "--skip-log-bin",
	// "--binlog-row-metadata=MINIMAL").
	Args []string
	// TLS, when set, starts the server with these certificates
	// (--ssl-ca, --ssl-cert, --ssl-key) and require_secure_transport=ON:
	// it refuses plaintext TCP connections. DSN then asks for TLS
	// without verifying the certificate.
	TLS *Certs
}

// Server is a running MariaDB server, owned by the test (started by Start) or
// external (from SLUICE_TEST_MYSQL_DSN).
type Server struct {
	Host     string // 127.0.0.1 for an owned server
	Port     int
	User     string // "root" for an owned server
	Password string // "" for an owned server
	External bool   // true when SLUICE_TEST_MYSQL_DSN is used

	extCfg *mysql.Config // External only
	tls    bool          // started with Options.TLS

	bin     string
	args    []string // full mariadbd command line after the binary, port included
	datadir string

	mu      sync.Mutex
	proc    *testproc.Process // nil when not running
	stopped bool
	pool    *sql.DB // used by Exec; opened lazily
}

// Start starts a fresh mariadbd, or returns a Server describing the external
// server named by SLUICE_TEST_MYSQL_DSN when that is set.
func Start(opts Options) (*Server, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return external(dsn)
	}
	bin, err := findMariadbd()
	if err != nil {
		return nil, err
	}
	cleanupOrphans()
	tmpl, err := ensureTemplate(bin)
	if err != nil {
		return nil, err
	}
	begin := time.Now()
	dir, err := newDataDir()
	if err != nil {
		return nil, err
	}
	if err := copyTree(tmpl, dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("mysqltest: copy template: %w", err)
	}
	copied := time.Now()
	s := &Server{Host: "127.0.0.1", User: "root", bin: bin, datadir: dir, tls: opts.TLS != nil}
	extra := opts.Args
	if c := opts.TLS; c != nil {
		extra = append([]string{"--ssl-ca=" + c.CA, "--ssl-cert=" + c.ServerCert, "--ssl-key=" + c.ServerKey,
			"--require-secure-transport=ON"}, extra...)
	}
	var lastErr error
	for attempt := 0; attempt < startAttempts; attempt++ {
		port, err := pickPort()
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("mysqltest: %w", err)
		}
		s.Port = port
		s.args = serverArgs(dir, port, extra)
		err = s.launch()
		if err == nil {
			if verbose {
				fmt.Fprintf(os.Stderr, "mysqltest: %s started on %s: copy %v, ready %v\n",
					dir, s.Addr(), copied.Sub(begin).Round(time.Millisecond), time.Since(copied).Round(time.Millisecond))
			}
			return s, nil
		}
		lastErr = err
		if !errors.Is(err, errPortInUse) {
			break
		}
	}
	os.RemoveAll(dir)
	return nil, lastErr
}

// StartT starts a server for one test and stops it when the test ends; it
// calls t.Fatal when the server cannot be started.
func StartT(t testing.TB, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("mysqltest: stop: %v", err)
		}
	})
	return s
}

// Main runs a test package against one shared server: it starts the server,
// hands it to set (store it in a package variable), runs the tests, stops the
// server and exits. Call it from TestMain.
func Main(m *testing.M, opts Options, set func(*Server)) {
	s, err := Start(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	set(s)
	code := m.Run()
	if code != 0 && !s.External {
		fmt.Fprintf(os.Stderr, "mysqltest: tests failed; server error log (tail):\n%s\n", s.ErrorLog())
	}
	if err := s.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "mysqltest: stop:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// RequireOwned skips the test when the server is external, for tests that
// need server flags, Kill/Restart or a server of their own.
func (s *Server) RequireOwned(t testing.TB) {
	t.Helper()
	if s.External {
		t.Skip("mysqltest: needs a server of its own; skipped because " + EnvDSN + " is set")
	}
}

// Addr returns "host:port".
func (s *Server) Addr() string {
	return net.JoinHostPort(s.Host, strconv.Itoa(s.Port))
}

// DSN returns a go-sql-driver/mysql DSN for database db ("" for none), with
// multiStatements=true, parseTime=false and interpolateParams=true.
func (s *Server) DSN(db string) string {
	if s.External {
		cfg := s.extCfg.Clone()
		cfg.DBName = db
		cfg.MultiStatements = true
		cfg.ParseTime = false
		cfg.InterpolateParams = true
		return cfg.FormatDSN()
	}
	params := dsnParams
	if s.tls {
		params += "&tls=skip-verify"
	}
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?%s", s.User, s.Password, s.Addr(), db, params)
}

// DB opens a *sql.DB on DSN("") and closes it when the test ends.
func (s *Server) DB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		t.Fatalf("mysqltest: open: %v", err)
	}
	// Tests poll with a new pool per call: an idle connection kept until
	// the test ends would pile up to the server's max_connections.
	db.SetConnMaxIdleTime(2 * time.Second)
	t.Cleanup(func() { db.Close() })
	return db
}

// Exec runs the statements in order on one connection, so USE and session
// variables carry over from one to the next (but not to the next Exec). It
// calls t.Fatal, naming the statement, on the first error; like t.Fatal it
// must be called from the test's goroutine.
func (s *Server) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	pool, err := s.execPool()
	if err != nil {
		t.Fatalf("mysqltest: %v", err)
	}
	ctx := context.Background()
	conn, err := pool.Conn(ctx)
	if err != nil {
		t.Fatalf("mysqltest: connect to %s: %v", s.Addr(), err)
	}
	defer conn.Close()
	for _, stmt := range stmts {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			// Do not put a connection whose session state is unknown back.
			conn.Raw(func(any) error { return driver.ErrBadConn })
			t.Fatalf("mysqltest: exec %q: %v", stmt, err)
		}
	}
	// Drop the session state (current database, variables) with the
	// connection rather than leaking it into the next Exec.
	conn.Raw(func(any) error { return driver.ErrBadConn })
}

func (s *Server) execPool() (*sql.DB, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pool == nil {
		db, err := sql.Open("mysql", s.DSN(""))
		if err != nil {
			return nil, err
		}
		s.pool = db
	}
	return s.pool, nil
}

// DataDir returns the server's data directory ("" for an external server).
func (s *Server) DataDir() string { return s.datadir }

// ErrorLog returns the last lines of the server's error log ("" for an
// external server), for test failure messages.
func (s *Server) ErrorLog() string {
	if s.External {
		return ""
	}
	return testproc.TailFile(filepath.Join(s.datadir, errorLogFile), 40)
}

// Stop stops the server (SIGTERM, then SIGKILL after 10s) and removes its
// data directory. It is a no-op for an external server and when repeated.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pool != nil {
		s.pool.Close()
		s.pool = nil
	}
	if s.External || s.stopped {
		return nil
	}
	s.stopped = true
	var err error
	if p := s.proc; p != nil {
		s.proc = nil
		if !p.Stop(stopGrace) {
			err = fmt.Errorf("mysqltest: mariadbd did not stop within %v of SIGTERM; killed", stopGrace)
		}
	}
	if rerr := os.RemoveAll(s.datadir); rerr != nil && err == nil {
		err = rerr
	}
	return err
}

// Kill kills the server with SIGKILL, as a crash, and waits for it to exit.
// The data directory is kept: Restart starts the server again on it, and
// Stop removes it.
func (s *Server) Kill() error {
	if s.External {
		return errors.New("mysqltest: cannot kill an external server (use RequireOwned)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return errors.New("mysqltest: server is not running")
	}
	s.proc = nil
	p.Kill()
	return nil
}

// Restart starts a killed server again, with the same data directory, port
// and flags, and waits until it is ready (after InnoDB crash recovery).
func (s *Server) Restart() error {
	if s.External {
		return errors.New("mysqltest: cannot restart an external server (use RequireOwned)")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("mysqltest: server was stopped")
	}
	if s.proc != nil {
		return errors.New("mysqltest: server is running")
	}
	var err error
	// The port is ours already; retry briefly in case the kernel has not
	// released the listening socket of the killed process yet.
	for attempt := 0; attempt < startAttempts; attempt++ {
		if err = s.launchLocked(); !errors.Is(err, errPortInUse) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}

func external(dsn string) (*Server, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysqltest: parse %s: %w", EnvDSN, err)
	}
	if cfg.Net != "tcp" {
		return nil, fmt.Errorf("mysqltest: %s must use tcp(host:port), not %s", EnvDSN, cfg.Net)
	}
	host, portStr, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("mysqltest: %s address %q: %w", EnvDSN, cfg.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("mysqltest: %s port %q: %w", EnvDSN, portStr, err)
	}
	s := &Server{Host: host, Port: port, User: cfg.User, Password: cfg.Passwd, External: true, extCfg: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return nil, fmt.Errorf("mysqltest: external server %s from %s: %w", s.Addr(), EnvDSN, err)
	}
	return s, nil
}

// defaultMariadbd is where Debian's mariadb-server installs the server.
var defaultMariadbd = "/usr/sbin/mariadbd"

func findMariadbd() (string, error) {
	if fi, err := os.Stat(defaultMariadbd); err == nil && !fi.IsDir() {
		return defaultMariadbd, nil
	}
	for _, name := range []string{"mariadbd", "mysqld"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("mysqltest: mariadbd not found (looked for " + defaultMariadbd + ", and mariadbd and mysqld on PATH): " + installHint)
}

func findInstallDB(bin string) (string, error) {
	// Next to the server's bin directory first (/usr/sbin/mariadbd ->
	// /usr/bin/mariadb-install-db), then on PATH.
	base := filepath.Dir(filepath.Dir(bin))
	for _, p := range []string{
		filepath.Join(base, "bin", "mariadb-install-db"),
		filepath.Join(base, "scripts", "mariadb-install-db"),
		"/usr/bin/mariadb-install-db",
	} {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	for _, name := range []string{"mariadb-install-db", "mysql_install_db"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("mysqltest: mariadb-install-db not found: " + installHint)
}

func isRoot() bool { return os.Geteuid() == 0 }

// serverArgs returns the mariadbd command line (after the binary).
func serverArgs(dir string, port int, extra []string) []string {
	args := []string{
		"--no-defaults", // must be first
		"--datadir=" + dir,
		"--socket=" + filepath.Join(dir, socketFile),
		"--port=" + strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--log-bin=" + filepath.Join(dir, "mysql-bin"),
		"--binlog-format=ROW",
		"--binlog-row-image=FULL",
		"--binlog-row-metadata=FULL",
		"--server-id=1",
		"--skip-name-resolve",
		"--pid-file=" + filepath.Join(dir, pidFile),
		"--log-error=" + filepath.Join(dir, errorLogFile),
		// The server's own temporary files (Aria tables behind
		// information_schema queries, sort files) stay in its datadir: a
		// shared /tmp is cleaned by others while tests run.
		"--tmpdir=" + dir,
		"--default-time-zone=+00:00",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_general_ci",
		"--max-connections=200",
		// Speed. Durability against a crash of the machine is not needed;
		// committed data still survives a SIGKILL of the server (Kill).
		"--innodb-doublewrite=0",
		"--innodb-flush-log-at-trx-commit=2",
		"--loose-skip-innodb-adaptive-hash-index",
		"--loose-innodb-buffer-pool-load-at-startup=0",
		"--loose-innodb-buffer-pool-dump-at-shutdown=0",
		"--loose-skip-performance-schema",
	}
	args = append(args, innodbFileArgs...)
	if isRoot() {
		args = append(args, "--user=root")
	}
	return append(args, extra...)
}

// launch starts mariadbd with s.args and waits until it answers SELECT 1.
func (s *Server) launch() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.launchLocked()
}

var errPortInUse = errors.New("port in use")

func (s *Server) launchLocked() error {
	logPath := filepath.Join(s.datadir, errorLogFile)
	logStart := testproc.LogSize(logPath) // this launch's part of the log starts here
	// Stdout and stderr go to /dev/null: everything is in the error log.
	p, err := testproc.Spawn(s.bin, s.args, "")
	if err != nil {
		return fmt.Errorf("mysqltest: start %s: %w", s.bin, err)
	}
	// Best effort: the server dies with this process anyway (parent-death
	// signal); the record only lets cleanupOrphans kill it if it did not.
	_ = testproc.WriteOwner(s.datadir, p.Pid())
	if err := waitReady(s.DSN(""), s.Addr(), s.datadir, p); err != nil {
		p.Kill()
		log := testproc.LogFrom(logPath, logStart)
		if portInUse(log) {
			err = fmt.Errorf("%w: %v", errPortInUse, err)
		}
		return fmt.Errorf("mysqltest: mariadbd on %s: %w\n--- tail of %s:\n%s", s.Addr(), err, logPath, testproc.Tail(log, 40))
	}
	s.proc = p
	return nil
}

func portInUse(log string) bool {
	return strings.Contains(log, "Address already in use") ||
		strings.Contains(log, "Bind on TCP/IP port") ||
		strings.Contains(log, "another mysqld server running on port")
}

// waitReady polls until the server accepts TCP connections and answers
// SELECT 1 as the server of datadir (not some other server that got the
// port), until the process exits, or until readyTimeout passes.
func waitReady(dsn, addr, datadir string, p *testproc.Process) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	go func() {
		select {
		case <-p.Done():
			cancel()
		case <-ctx.Done():
		}
	}()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	var lastErr error
	for {
		select {
		case <-p.Done():
			return fmt.Errorf("mariadbd exited before it was ready: %v", p.Err())
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", readyTimeout, lastErr)
		default:
		}
		// A TCP connect first keeps the driver from logging refused
		// connections; once connected, the query waits for the server to
		// be ready to serve.
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			var one int
			var dir string
			err = db.QueryRowContext(ctx, "SELECT 1, @@datadir").Scan(&one, &dir)
			if err == nil {
				if filepath.Clean(dir) == filepath.Clean(datadir) {
					return nil
				}
				err = fmt.Errorf("%w: %s is a server with datadir %s", errPortInUse, addr, dir)
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pickPort picks the port of a server; tests replace it.
var pickPort = testproc.FreePort

// EnvDir names the environment variable that sets the directory under which
// the servers' data directories are created.
const EnvDir = "SLUICE_MYSQLTEST_DIR"

const (
	// minShmFree is the free space /dev/shm needs to be used for data
	// directories.
	minShmFree = 2 << 30
	// maxParentLen bounds the length of the temporary directory used as
	// the parent of data directories: the unix socket inside a data
	// directory must fit in 107 bytes.
	maxParentLen = 48
)

// dataParent is where data directories go: $SLUICE_MYSQLTEST_DIR, else
// /dev/shm when it is a large enough tmpfs, else the temporary directory
// when its path is short, else /tmp.
func dataParent() string {
	return testproc.DataParent(EnvDir, minShmFree, maxParentLen)
}

// newDataDir creates <parent>/sluice-my-<pid>-<random> and records this
// process as its owner.
func newDataDir() (string, error) {
	dir, err := testproc.NewDir(dataParent(), dirPrefix, "")
	if err != nil {
		return "", fmt.Errorf("mysqltest: %w", err)
	}
	return dir, nil
}

// cleanupOrphans removes the data directories of test processes that are
// gone, killing their servers if they still run. Best effort.
func cleanupOrphans() {
	testproc.CleanupOrphans(dirPrefix, dataParent(), "/dev/shm", os.TempDir(), "/tmp")
}

var (
	templateMu    sync.Mutex
	templatePaths = map[string]string{} // mariadbd binary -> template dir
)

// ensureTemplate returns the data directory template for bin, building it if
// needed. It is cached across processes under os.TempDir(), keyed by the
// output of mariadbd --version, and built under a file lock because go test
// runs several test binaries at once.
func ensureTemplate(bin string) (string, error) {
	templateMu.Lock()
	defer templateMu.Unlock()
	if p, ok := templatePaths[bin]; ok {
		if _, err := os.Stat(filepath.Join(p, templateMarker)); err == nil {
			return p, nil
		}
	}
	ver, err := exec.Command(bin, "--no-defaults", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("mysqltest: %s --version: %w", bin, err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%v\x00%v", templateFormat, bin, ver, innodbFileArgs, isRoot())
	final := filepath.Join(os.TempDir(), templatePrefix+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(final, templateMarker)); err == nil {
		templatePaths[bin] = final
		return final, nil
	}

	lock, err := os.OpenFile(final+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("mysqltest: template lock: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("mysqltest: template lock: %w", err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)

	if _, err := os.Stat(filepath.Join(final, templateMarker)); err == nil {
		templatePaths[bin] = final // built by another process meanwhile
		return final, nil
	}
	// Leftovers of builds that died: we hold the lock, nobody else builds.
	os.RemoveAll(final)
	if olds, _ := filepath.Glob(final + ".tmp-*"); olds != nil {
		for _, o := range olds {
			os.RemoveAll(o)
		}
	}
	tmp, err := os.MkdirTemp(os.TempDir(), filepath.Base(final)+".tmp-")
	if err != nil {
		return "", fmt.Errorf("mysqltest: %w", err)
	}
	begin := time.Now()
	if err := buildTemplate(bin, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if verbose {
		fmt.Fprintf(os.Stderr, "mysqltest: built template %s in %v\n", final, time.Since(begin).Round(time.Millisecond))
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("mysqltest: %w", err)
	}
	templatePaths[bin] = final
	return final, nil
}

// buildTemplate runs mariadb-install-db into dir (which must exist and be
// empty) and marks it complete.
func buildTemplate(bin, dir string) error {
	installDB, err := findInstallDB(bin)
	if err != nil {
		return err
	}
	args := []string{
		"--no-defaults",
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--datadir=" + dir,
	}
	if isRoot() {
		args = append(args, "--user=root")
	}
	// Passed on to mariadbd: the redo log is created with its final size.
	args = append(args, innodbFileArgs...)
	args = append(args, "--innodb-doublewrite=0", "--loose-skip-performance-schema")
	cmd := exec.Command(installDB, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("mysqltest: %s: %w\n%s", installDB, err, testproc.Tail(string(out), 40))
	}
	// A buffer pool dump is useless in a fresh server.
	os.Remove(filepath.Join(dir, "ib_buffer_pool"))
	if err := sparsify(dir); err != nil {
		return fmt.Errorf("mysqltest: template: %w", err)
	}
	return os.WriteFile(filepath.Join(dir, templateMarker), nil, 0o644)
}

// copyTree copies the template src into the existing directory dst, without
// the template marker. Files are copied by a few goroutines: on a virtual
// disk, creating a file is what takes the time.
func copyTree(src, dst string) error {
	type job struct {
		from, to string
		perm     fs.FileMode
	}
	var jobs []job
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel == "." || rel == templateMarker {
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.Mkdir(target, info.Mode().Perm())
		case info.Mode().IsRegular():
			jobs = append(jobs, job{path, target, info.Mode().Perm()})
		}
		return nil // sockets, symlinks: none in a fresh template
	})
	if err != nil {
		return err
	}
	const workers = 8
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(jobs); i += workers {
				if err := copyFile(jobs[i].from, jobs[i].to, jobs[i].perm); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// copyFile copies src to dst, preserving holes: only the data extents of
// src (found with SEEK_DATA/SEEK_HOLE) are copied. The template's files are
// made sparse when it is built, which makes copying its mostly empty InnoDB
// files cheap.
func copyFile(src, dst string, perm fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	err = copyExtents(out, in, size)
	if err == nil {
		err = out.Truncate(size)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}

const (
	seekData = 3 // SEEK_DATA
	seekHole = 4 // SEEK_HOLE
)

func copyExtents(out, in *os.File, size int64) error {
	var off int64
	for off < size {
		data, err := in.Seek(off, seekData)
		if err != nil {
			if errors.Is(err, syscall.ENXIO) {
				return nil // only a hole is left
			}
			// SEEK_DATA unsupported: copy the rest as is.
			data = off
		}
		hole, err := in.Seek(data, seekHole)
		if err != nil {
			hole = size
		}
		if _, err := in.Seek(data, io.SeekStart); err != nil {
			return err
		}
		if _, err := out.Seek(data, io.SeekStart); err != nil {
			return err
		}
		// io.CopyN uses copy_file_range on Linux.
		if _, err := io.CopyN(out, in, hole-data); err != nil {
			return err
		}
		off = hole
	}
	return nil
}

// sparsify rewrites the regular files under dir with their all-zero blocks
// as holes.
func sparsify(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		return sparsifyFile(path)
	})
}

func sparsifyFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	const block = 4096
	zero := make([]byte, block)
	holes := 0
	for i := 0; i+block <= len(b); i += block {
		if bytes.Equal(b[i:i+block], zero) {
			holes++
		}
	}
	if holes == 0 {
		return nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := path + ".sparse"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	for i := 0; i < len(b); i += block {
		end := min(i+block, len(b))
		if end-i == block && bytes.Equal(b[i:end], zero) {
			continue
		}
		if _, err := f.WriteAt(b[i:end], int64(i)); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Truncate(int64(len(b))); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ExecScript runs a .sql file's statements (each ends with a line ending
// in ";"; lines starting with -- are comments) in a fresh database db.
func (s *Server) ExecScript(t testing.TB, db, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{"DROP DATABASE IF EXISTS " + db, "CREATE DATABASE " + db, "USE " + db}
	var cur strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(l)
		cur.WriteByte('\n')
		if t := strings.TrimSpace(l); strings.HasSuffix(t, ";") {
			stmts = append(stmts, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	s.Exec(t, stmts...)
}

// StartReplicaT starts a server (server id 2, log_slave_updates) replicating
// from primary by GTID, stopped when the test ends.
func StartReplicaT(t testing.TB, primary *Server) *Server {
	t.Helper()
	r := StartT(t, Options{Args: []string{"--server-id=2", "--log-slave-updates=ON"}})
	r.Exec(t,
		fmt.Sprintf("CHANGE MASTER TO MASTER_HOST='%s', MASTER_PORT=%d, MASTER_USER='root', MASTER_PASSWORD='', MASTER_USE_GTID=slave_pos",
			primary.Host, primary.Port),
		"START SLAVE")
	return r
}

// WaitReplica waits until replica s has applied everything primary has
// written (MASTER_GTID_WAIT, up to 60 s).
func (s *Server) WaitReplica(t testing.TB, primary *Server) {
	t.Helper()
	var pos string
	if err := primary.DB(t).QueryRow("SELECT @@gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatal(err)
	}
	var ok int
	if err := s.DB(t).QueryRow("SELECT MASTER_GTID_WAIT(?, 60)", pos).Scan(&ok); err != nil || ok != 0 {
		t.Fatalf("replica did not reach %s: %v (MASTER_GTID_WAIT = %d)\n%s", pos, err, ok, s.ErrorLog())
	}
}
