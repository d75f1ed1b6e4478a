// Package testproc runs the servers that tests start as child processes
// (mariadbd for mysqltest, the AWS emulators for awstest) and manages the
// scratch directories they live in.
//
// A child started by Spawn leads its own process group and has SIGKILL as
// its parent-death signal, so it dies with the test binary even when that is
// killed. Its directory, made by NewDir, is named after the test process and
// holds an owner file (see WriteOwner); CleanupOrphans removes the
// directories of test processes that are gone, killing any of their children
// that still run.
//
// Errors carry no package prefix: callers add their own. Linux only.
package testproc

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// Process is a running child process, started by Spawn.
type Process struct {
	pid  int
	done chan struct{} // closed when the process has exited
	err  error         // from Wait, set before done is closed
}

// Spawn starts bin with args in its own process group, with SIGKILL as its
// parent-death signal so that it dies with the test binary. Its output is
// appended to logPath, created when missing; with logPath "" it goes to
// /dev/null (for a server that writes its own log: a child must not hold the
// test binary's output open).
//
// The parent-death signal fires when the thread that forked the child exits,
// so the child is forked and waited for from a goroutine locked to its
// thread; that goroutine ends when the child does.
func Spawn(bin string, args []string, logPath string) (*Process, error) {
	var log *os.File
	if logPath != "" {
		var err error
		log, err = os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
	}
	p := &Process{done: make(chan struct{})}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		cmd := exec.Command(bin, args...)
		if log != nil {
			cmd.Stdout, cmd.Stderr = log, log
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		err := cmd.Start()
		if log != nil {
			log.Close() // the child has its own copy
		}
		if err != nil {
			started <- err
			return
		}
		p.pid = cmd.Process.Pid
		started <- nil
		p.err = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// Pid returns the process id, which is also its process group id.
func (p *Process) Pid() int { return p.pid }

// Signal sends sig to the process's group (the child and whatever it
// started). It fails with ESRCH when the group has exited.
func (p *Process) Signal(sig syscall.Signal) error {
	return syscall.Kill(-p.pid, sig)
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Err returns how the process exited (the error of exec.Cmd.Wait): nil
// while it runs and when it exited with status 0.
func (p *Process) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Wait waits until the process has exited and returns Err.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// WaitTimeout waits at most d for the process to exit and reports whether
// it did.
func (p *Process) WaitTimeout(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// Stop stops the process gracefully: SIGTERM to its group, then, if it has
// not exited within grace, SIGKILL (Kill). It reports whether the process
// exited within grace.
func (p *Process) Stop(grace time.Duration) bool {
	p.Signal(syscall.SIGTERM)
	if p.WaitTimeout(grace) {
		return true
	}
	p.Kill()
	return false
}

// Kill kills the process's group with SIGKILL and waits until the process
// has exited.
func (p *Process) Kill() {
	p.Signal(syscall.SIGKILL)
	p.Wait()
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// Another process may take it before the child binds it: callers detect
// that and retry with another port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port, nil
}
