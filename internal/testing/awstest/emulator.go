package awstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicecdc/sluice/internal/testing/testproc"
)

const (
	readyTimeout  = 30 * time.Second
	stopGrace     = 10 * time.Second
	startAttempts = 3
	dirPrefix     = "sluice-aws-"
	logFile       = "emulator.log"
)

// Emulator is one emulated AWS service running as a child process on
// 127.0.0.1. Its data lives in a directory of its own that survives Stop,
// Kill and Restart, so a test can take the service away and bring it back
// on the same endpoint with the same data. Close removes it.
//
// Its methods are safe for concurrent use.
type Emulator struct {
	Service Service
	Host    string // 127.0.0.1
	Port    int

	env     *Env // for the readiness probe's client
	bin     string
	args    []string // after bin, port included
	root    string   // holds data/, the log and the owner file
	dataDir string

	mu      sync.Mutex
	proc    *testproc.Process // nil when not running
	paused  bool
	closed  bool
	startup time.Duration
}

// Endpoint is the service's base URL, http://127.0.0.1:PORT.
func (m *Emulator) Endpoint() string { return "http://" + m.Addr() }

// Addr is "127.0.0.1:PORT".
func (m *Emulator) Addr() string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

// DataDir is the directory the emulator keeps its data in.
func (m *Emulator) DataDir() string { return m.dataDir }

// StartupTime is how long the last start or restart took, from spawning the
// process until it answered a request.
func (m *Emulator) StartupTime() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.startup
}

// Running reports whether the process runs (paused or not).
func (m *Emulator) Running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc != nil
}

// Log returns the last lines of the emulator's output, for failure
// messages.
func (m *Emulator) Log() string { return testproc.TailFile(filepath.Join(m.root, logFile), 40) }

// Stop stops the emulator gracefully (SIGTERM, SIGKILL after 10 s) and keeps
// its data: Restart brings it back. Stopping a stopped emulator is a no-op.
func (m *Emulator) Stop() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.proc
	if p == nil {
		return nil
	}
	m.proc = nil
	if m.paused {
		p.Signal(syscall.SIGCONT)
		m.paused = false
	}
	if !p.Stop(stopGrace) {
		return fmt.Errorf("awstest: %s did not stop within %v of SIGTERM; killed", m.Service, stopGrace)
	}
	return nil
}

// Kill kills the emulator with SIGKILL, as a crash, and keeps its data
// (what it had written to its files before; LevelDB and versitygw write
// through to the page cache, so acknowledged writes survive).
func (m *Emulator) Kill() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := m.proc
	if p == nil {
		return fmt.Errorf("awstest: %s is not running", m.Service)
	}
	m.proc = nil
	m.paused = false
	p.Kill()
	return nil
}

// Restart starts a stopped or killed emulator again on the same port and
// data directory, and waits until it answers.
func (m *Emulator) Restart() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return fmt.Errorf("awstest: %s was closed", m.Service)
	}
	if m.proc != nil {
		return fmt.Errorf("awstest: %s is running", m.Service)
	}
	var err error
	// The port is ours; retry briefly in case the old socket lingers.
	for attempt := 0; attempt < startAttempts; attempt++ {
		if err = m.launchLocked(); !errors.Is(err, errPortInUse) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
	return err
}

// Pause freezes the emulator with SIGSTOP: it keeps its port and accepts
// connections (the kernel completes the handshakes) but answers nothing, as
// a hung server. It returns once every thread of the process has stopped.
// Resume thaws it.
func (m *Emulator) Pause() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return fmt.Errorf("awstest: %s is not running", m.Service)
	}
	m.proc.Signal(syscall.SIGSTOP)
	m.paused = true
	// SIGSTOP stops the process only when one of its threads next runs;
	// until then, on a busy machine, the others go on answering.
	if err := waitStopped(m.proc.Pid(), stopGrace); err != nil {
		return fmt.Errorf("awstest: pause %s: %w", m.Service, err)
	}
	return nil
}

// waitStopped waits until every thread of pid is in the stopped state.
func waitStopped(pid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		stopped, err := allThreadsStopped(pid)
		if err != nil {
			return err
		}
		if stopped {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process %d not stopped %v after SIGSTOP", pid, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

// allThreadsStopped reads the state of each of pid's threads from
// /proc/PID/task/TID/stat.
func allThreadsStopped(pid int) (bool, error) {
	taskDir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(taskDir)
	if err != nil {
		return false, fmt.Errorf("process %d: %w", pid, err)
	}
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join(taskDir, t.Name(), "stat"))
		if err != nil {
			continue // the thread exited
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 || i+2 >= len(b) {
			return false, fmt.Errorf("process %d: unreadable %s/stat", pid, t.Name())
		}
		switch state := b[i+2]; state {
		case 'T', 't':
		case 'Z', 'X':
			return false, fmt.Errorf("process %d exited", pid)
		default:
			return false, nil
		}
	}
	return true, nil
}

// Resume continues an emulator frozen by Pause.
func (m *Emulator) Resume() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil {
		return fmt.Errorf("awstest: %s is not running", m.Service)
	}
	m.proc.Signal(syscall.SIGCONT)
	m.paused = false
	return nil
}

// Close kills the emulator and removes its data. It is idempotent.
func (m *Emulator) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	if p := m.proc; p != nil {
		m.proc = nil
		// The data goes too, so there is nothing to shut down cleanly.
		p.Kill()
	}
	return os.RemoveAll(m.root)
}

var errPortInUse = errors.New("port in use")

// launchLocked spawns the process and waits until it answers.
func (m *Emulator) launchLocked() error {
	logPath := filepath.Join(m.root, logFile)
	logStart := testproc.LogSize(logPath)
	begin := time.Now()
	p, err := testproc.Spawn(m.bin, m.args, logPath)
	if err != nil {
		return fmt.Errorf("awstest: start %s: %w", m.Service, err)
	}
	// Best effort: the emulator dies with this process anyway (parent-death
	// signal); the record only lets cleanupOrphans kill it if it did not.
	_ = testproc.WriteOwner(m.root, p.Pid())
	if err := m.waitReady(p); err != nil {
		p.Kill()
		log := testproc.LogFrom(logPath, logStart)
		if strings.Contains(log, "EADDRINUSE") || strings.Contains(log, "address already in use") {
			err = fmt.Errorf("%w: %v", errPortInUse, err)
		}
		return fmt.Errorf("awstest: %s on %s: %w\n--- %s:\n%s", m.Service, m.Addr(), err, logPath, testproc.Tail(log, 20))
	}
	m.proc = p
	m.startup = time.Since(begin)
	logf("%s ready on %s in %v", m.Service, m.Addr(), m.startup.Round(time.Millisecond))
	return nil
}

// waitReady waits until the process listens on its port, and only on
// loopback addresses, then polls with a real API call (ListBuckets,
// ListStreams, ListTables) until it succeeds; it gives up when the process
// exits or readyTimeout passes. Checking the process's own sockets tells it
// from a stranger that took the port between FreePort and the listen.
func (m *Emulator) waitReady(p *testproc.Process) error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	var lastErr error
	listening := false
	for {
		select {
		case <-p.Done():
			return fmt.Errorf("exited before it was ready: %v", p.Err())
		case <-ctx.Done():
			return fmt.Errorf("not ready after %v: %v", readyTimeout, lastErr)
		default:
		}
		var err error
		if !listening {
			listening, err = m.listensOnlyOnLoopback(p.Pid())
			if err != nil {
				return err
			}
			if !listening {
				err = fmt.Errorf("not listening on port %d yet", m.Port)
			}
		}
		if listening {
			actx, acancel := context.WithTimeout(ctx, 2*time.Second)
			err = m.env.probe(actx, m)
			acancel()
			if err == nil {
				return nil
			}
		}
		lastErr = err
		select {
		case <-ctx.Done():
		case <-p.Done():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// listensOnlyOnLoopback reports whether pid listens on m.Port; it fails
// when pid listens on any address that is not a loopback address.
func (m *Emulator) listensOnlyOnLoopback(pid int) (bool, error) {
	addrs, err := listeningSockets(pid)
	if err != nil {
		return false, nil // exiting; the caller sees it
	}
	found := false
	for _, a := range addrs {
		if !a.IP.IsLoopback() {
			return false, fmt.Errorf("listens on %s, not only on loopback", a)
		}
		if a.Port == m.Port {
			found = true
		}
	}
	return found, nil
}

// EnvDir names the environment variable that sets the directory under which
// the emulators' data directories are created.
const EnvDir = "SLUICE_AWSTEST_DIR"

// minShmFree is the free space /dev/shm needs to be used for data
// directories.
const minShmFree = 1 << 30

// dataParent is where data directories go: $SLUICE_AWSTEST_DIR, else
// /dev/shm when it is a large enough tmpfs, else the temporary directory.
func dataParent() string { return testproc.DataParent(EnvDir, minShmFree, 0) }

// newRoot creates <parent>/sluice-aws-<pid>-<service>-<random> with data/
// inside, and records this process as its owner.
func newRoot(svc Service) (root, data string, err error) {
	root, err = testproc.NewDir(dataParent(), dirPrefix, string(svc))
	if err != nil {
		return "", "", fmt.Errorf("awstest: %w", err)
	}
	data = filepath.Join(root, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		os.RemoveAll(root)
		return "", "", fmt.Errorf("awstest: %w", err)
	}
	return root, data, nil
}

var cleanupOnce sync.Once

// cleanupOrphans removes the data directories that test binaries which are
// gone left behind (their emulators died with them through the
// parent-death signal; any that still run are killed). Best effort, once
// per process.
func cleanupOrphans() {
	cleanupOnce.Do(func() { testproc.CleanupOrphans(dirPrefix, dataParent()) })
}
