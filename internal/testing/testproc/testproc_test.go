package testproc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	helperEnv  = "SLUICE_TESTPROC_HELPER" // the parent directory, for helper
	testPrefix = "sluice-testproc-"
)

func TestMain(m *testing.M) {
	if parent := os.Getenv(helperEnv); parent != "" {
		os.Exit(helper(parent))
	}
	os.Exit(m.Run())
}

// helper runs in a child test binary for TestCleanupOrphans: it makes a
// directory with a spawned child and a stray child (no parent-death signal)
// recorded as its child, prints "<dir> <spawned pid> <stray pid>" and exits
// without cleaning up, as a killed test binary would.
func helper(parent string) int {
	dir, err := NewDir(parent, testPrefix, "lbl")
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	spawned, err := Spawn("/bin/sh", []string{"-c", "sleep 60; :"}, "")
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	// sh does not exec the last command of a list, so it stays the process
	// and keeps dir on its command line.
	stray := exec.Command("/bin/sh", "-c", "sleep 60; :", "fake-server", filepath.Join(dir, "data"))
	stray.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := stray.Start(); err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	if err := WriteOwner(dir, stray.Process.Pid); err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	fmt.Println(dir, spawned.Pid(), stray.Process.Pid)
	return 0
}

func TestSpawnSignalWait(t *testing.T) {
	p, err := Spawn("/bin/sh", []string{"-c", "sleep 30"}, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Signal(syscall.SIGKILL); p.Wait() })
	if pgid, err := syscall.Getpgid(p.Pid()); err != nil || pgid != p.Pid() {
		t.Errorf("process group of %d: %d, %v; want its own", p.Pid(), pgid, err)
	}
	if p.WaitTimeout(50 * time.Millisecond) {
		t.Fatalf("exited early: %v", p.Err())
	}
	if err := p.Err(); err != nil {
		t.Errorf("Err while running: %v", err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !p.WaitTimeout(5 * time.Second) {
		t.Fatal("still running 5s after SIGTERM")
	}
	var exit *exec.ExitError
	if err := p.Err(); !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("Err = %v, want killed by SIGTERM", err)
	}
	if err := p.Wait(); err != p.Err() {
		t.Errorf("Wait = %v, Err = %v", err, p.Err())
	}
	select {
	case <-p.Done():
	default:
		t.Error("Done not closed after exit")
	}
}

func TestStop(t *testing.T) {
	p, err := Spawn("/bin/sh", []string{"-c", "sleep 30"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Stop(5 * time.Second) {
		t.Error("Stop: not stopped by SIGTERM")
	}
	// SIGTERM ignored (and so by sleep too): killed after the grace time.
	logPath := filepath.Join(t.TempDir(), "log")
	p, err = Spawn("/bin/sh", []string{"-c", "trap '' TERM; echo trapped; sleep 30"}, logPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill() })
	for deadline := time.Now().Add(5 * time.Second); LogFrom(logPath, 0) == ""; {
		if time.Now().After(deadline) {
			t.Fatal("shell did not set its trap")
		}
		time.Sleep(5 * time.Millisecond)
	}
	begin := time.Now()
	if p.Stop(100 * time.Millisecond) {
		t.Errorf("Stop: stopped by SIGTERM: %v", p.Err())
	}
	if d := time.Since(begin); d < 100*time.Millisecond || d > 5*time.Second {
		t.Errorf("Stop took %v", d)
	}
	var exit *exec.ExitError
	if err := p.Err(); !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("Err = %v, want killed by SIGKILL", err)
	}
}

func TestSpawnLog(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "child.log")
	for i := range 2 {
		p, err := Spawn("/bin/sh", []string{"-c", "echo out $0; echo err $0 >&2", strconv.Itoa(i)}, logPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := "out 0\nerr 0\nout 1\nerr 1\n"; string(got) != want {
		t.Errorf("log = %q, want %q (appended)", got, want)
	}
	if tail := TailFile(logPath, 2); tail != "out 1\nerr 1" {
		t.Errorf("TailFile = %q", tail)
	}
	if from := LogFrom(logPath, 12); from != "out 1\nerr 1\n" {
		t.Errorf("LogFrom = %q", from)
	}

	if _, err := Spawn(filepath.Join(t.TempDir(), "missing"), nil, ""); err == nil {
		t.Error("Spawn of a missing binary succeeded")
	}
	if _, err := Spawn("/bin/true", nil, filepath.Join(t.TempDir(), "no", "log")); err == nil {
		t.Error("Spawn with an unwritable log succeeded")
	}
}

func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("port %d not free: %v", port, err)
	}
	l.Close()
}

func TestDataParent(t *testing.T) {
	const env = "SLUICE_TESTPROC_DIR"
	t.Setenv(env, "/some/where")
	if got := DataParent(env, 0, 1); got != "/some/where" {
		t.Errorf("with $%s: %q", env, got)
	}
	t.Setenv(env, "")
	long := t.TempDir() + "/" + strings.Repeat("x", 50)
	t.Setenv("TMPDIR", long)
	const noShm = 1 << 62 // more than any /dev/shm has free
	if got := DataParent(env, noShm, 0); got != long {
		t.Errorf("unbounded: %q, want %q", got, long)
	}
	if got := DataParent(env, noShm, 48); got != "/tmp" {
		t.Errorf("bounded: %q, want /tmp", got)
	}
}

// A test binary that exits leaves its directory behind, with its spawned
// child gone (parent-death signal) and a stray child still running: the
// next CleanupOrphans kills the stray and removes the directory.
func TestCleanupOrphans(t *testing.T) {
	parent := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+parent)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v: %s", err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 3 {
		t.Fatalf("helper said %q", out)
	}
	dir := f[0]
	spawned, _ := strconv.Atoi(f[1])
	stray, _ := strconv.Atoi(f[2])
	t.Cleanup(func() { syscall.Kill(-stray, syscall.SIGKILL) })
	if !strings.HasPrefix(filepath.Base(dir), fmt.Sprintf("%s%d-lbl-", testPrefix, cmd.Process.Pid)) {
		t.Errorf("directory %s not named <prefix><pid>-<label>-", dir)
	}
	waitDead(t, spawned, "spawned child of the exited helper")
	if !Running(stray) {
		t.Fatal("stray child not running")
	}
	mine, err := NewDir(parent, testPrefix, "")
	if err != nil {
		t.Fatal(err)
	}

	CleanupOrphans(testPrefix, parent, parent)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("orphan %s not removed: %v", dir, err)
	}
	waitDead(t, stray, "stray child of the orphan")
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("own directory removed: %v", err)
	}
}

// The owner is judged by pid and start time; a recorded child is killed
// only when its command line names the directory.
func TestCleanupOrphansOwner(t *testing.T) {
	parent := t.TempDir()
	live := exec.Command("/bin/sh", "-c", "sleep 60; :", "bystander")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })
	livePid := live.Process.Pid
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid := dead.ProcessState.Pid()

	for _, c := range []struct {
		name  string
		owner int
		file  string // OwnerFile content; "" for none
		kept  bool
	}{
		{"live owner", livePid, fmt.Sprintf("%d %s 0\n", livePid, procStartTime(livePid)), true},
		{"live owner, no owner file", livePid, "", true},
		{"live owner, partial owner file", livePid, fmt.Sprintf("%d", livePid), true},
		{"reused pid", livePid, fmt.Sprintf("%d 1 0\n", livePid), false},
		{"dead owner", deadPid, fmt.Sprintf("%d 1 0\n", deadPid), false},
		{"dead owner, no owner file", deadPid, "", false},
		// The bystander's command line does not name the directory.
		{"dead owner, child pid reused", deadPid, fmt.Sprintf("%d 1 %d\n", deadPid, livePid), false},
	} {
		dir, err := os.MkdirTemp(parent, fmt.Sprintf("%s%d-", testPrefix, c.owner))
		if err != nil {
			t.Fatal(err)
		}
		if c.file != "" {
			if err := os.WriteFile(filepath.Join(dir, OwnerFile), []byte(c.file), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		CleanupOrphans(testPrefix, parent)
		_, err = os.Stat(dir)
		if kept := err == nil; kept != c.kept {
			t.Errorf("%s: kept = %v, want %v (%v)", c.name, kept, c.kept, err)
		}
		os.RemoveAll(dir)
	}
	if !Running(livePid) {
		t.Error("bystander killed")
	}
}

func waitDead(t *testing.T, pid int, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for Running(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("%s (%d) still running", what, pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
