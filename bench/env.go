package main

import (
	"bufio"
	"context"
	"database/sql"
	"debug/buildinfo"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
)

// env is what every run shares: the module, the sluice binary, the
// throwaway server and a scratch directory.
type env struct {
	opts    *options
	root    string // the module's directory
	dir     string // scratch: configs, checkpoints, sink output
	ownDir  bool   // dir was made here and is removed at the end
	sluice  string // the sluice binary
	srv     *mysqltest.Server
	db      *sql.DB
	src     binlog.Config
	machine machineInfo
}

func newEnv(ctx context.Context, o *options) (_ *env, err error) {
	if os.Getenv(mysqltest.EnvDSN) != "" {
		// mysqltest would hand out that server, and the bench drops and
		// fills databases of its own.
		return nil, fmt.Errorf("%s is set: the bench starts a server of its own; unset it", mysqltest.EnvDSN)
	}
	e := &env{opts: o}
	defer func() {
		if err != nil {
			_ = e.close()
		}
	}()
	if e.root, err = moduleRoot(); err != nil {
		return nil, err
	}
	if o.dir != "" {
		e.dir = o.dir
		if err := os.MkdirAll(e.dir, 0o755); err != nil {
			return nil, err
		}
	} else {
		// Sink output goes to the ordinary temporary directory (a disk on
		// the CI machine), not to /dev/shm, so the file sink's fsyncs cost
		// what they cost on a real machine.
		if e.dir, err = os.MkdirTemp("", "sluice-bench-"); err != nil {
			return nil, err
		}
		e.ownDir = true
	}
	e.sluice = o.sluiceBin
	if e.sluice == "" {
		e.sluice = filepath.Join(e.dir, "sluice")
		logf("building %s", e.sluice)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", e.sluice, "./cmd/sluice")
		cmd.Dir = e.root
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build ./cmd/sluice: %w\n%s", err, out)
		}
	}
	logf("starting mariadbd")
	// A buffer pool that holds the workload, so writing it takes seconds,
	// not minutes; it does not change what the binlog holds.
	if e.srv, err = mysqltest.Start(mysqltest.Options{Args: []string{"--innodb-buffer-pool-size=1G"}}); err != nil {
		return nil, err
	}
	if e.db, err = sql.Open("mysql", e.srv.DSN("")); err != nil {
		return nil, err
	}
	e.src = binlog.Config{Host: e.srv.Host, Port: uint16(e.srv.Port), User: e.srv.User, Password: e.srv.Password,
		HeartbeatPeriod: 2 * time.Second, ReadTimeout: 30 * time.Second, DialTimeout: 10 * time.Second}
	e.machine = readMachine(ctx, e)
	return e, nil
}

func (e *env) close() error {
	var errs []error
	if e.db != nil {
		errs = append(errs, e.db.Close())
	}
	if e.srv != nil {
		errs = append(errs, e.srv.Stop())
	}
	if e.ownDir && !e.opts.keep {
		errs = append(errs, os.RemoveAll(e.dir))
	} else if e.dir != "" {
		logf("output kept in %s", e.dir)
	}
	return errors.Join(errs...)
}

// exec runs statements in order on one connection.
func (e *env) exec(ctx context.Context, stmts ...string) error {
	conn, err := e.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("exec %.200q: %w", s, err)
		}
	}
	return nil
}

// moduleRoot finds the directory of sluice's go.mod from the working
// directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/sluicecdc/sluice\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run bench inside the sluice module (go run ./bench)")
		}
		dir = parent
	}
}

// machineInfo describes where the figures were taken.
type machineInfo struct {
	CPUs     int
	CPUModel string
	MemBytes int64
	Go       string
	MariaDB  string
	Commit   string // short commit, with "+ uncommitted changes" when the tree is dirty
	Load     string // load averages at start
}

func readMachine(ctx context.Context, e *env) machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), Go: runtime.Version(), CPUModel: "unknown", Commit: "unknown"}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
		_ = f.Close()
	}
	if kb := procField("/proc/meminfo", "MemTotal:"); kb > 0 {
		m.MemBytes = kb << 10
	}
	_ = e.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&m.MariaDB)
	if out, err := gitOutput(ctx, e.root, "rev-parse", "--short", "HEAD"); err == nil {
		m.Commit = out
		// Untracked files count too (a new file in cmd/sluice changes the
		// binary); this program and the Markdown files do not.
		if st, err := gitOutput(ctx, e.root, "status", "--porcelain", "--", ".", ":!bench", ":!*.md"); err == nil && st != "" {
			m.Commit += " + uncommitted changes"
		}
	}
	if e.opts.sluiceBin != "" {
		m.Commit = "binary " + e.opts.sluiceBin + " (-sluice)"
		if rev := binaryRevision(e.opts.sluiceBin); rev != "" {
			m.Commit += " built from " + rev
		}
		if e.opts.sluiceDesc != "" {
			m.Commit += ": " + e.opts.sluiceDesc
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.Load = strings.Join(f[:3], " ")
		}
	}
	return m
}

// binaryRevision is the commit a Go binary records it was built from
// (short, with "+ uncommitted changes" when the tree was dirty), or ""
// when it records none (go build -buildvcs=false, or not from a checkout).
func binaryRevision(path string) string {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return ""
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return ""
	}
	rev = rev[:min(len(rev), 7)]
	if modified == "true" {
		rev += " + uncommitted changes"
	}
	return rev
}

func gitOutput(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// procField reads a "Name:   123 kB" line of a /proc file, in the file's unit.
func procField(path, name string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// machineBusy returns the CPU time all processes of the machine have used
// since boot (user, nice, system, irq, softirq, steal in /proc/stat).
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / 100 // USER_HZ is 100 on Linux
}
