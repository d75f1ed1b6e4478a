package dirlock

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestHeldAcrossProcesses: while a child process holds the directory,
// Acquire fails naming the child's pid; once it dies, Acquire succeeds.
func TestHeldAcrossProcesses(t *testing.T) {
	if os.Getenv("DIRLOCK_CHILD") != "" {
		if _, err := Acquire(os.Getenv("DIRLOCK_CHILD")); err != nil {
			fmt.Println("child:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		return
	}
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^TestHeldAcrossProcesses$")
	child.Env = append(os.Environ(), "DIRLOCK_CHILD="+dir)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	if n, _ := out.Read(buf); !strings.Contains(string(buf[:n]), "locked") {
		t.Fatalf("child: %q", buf[:n])
	}
	_, err = Acquire(dir)
	var he *HeldError
	if !errors.As(err, &he) || he.PID != child.Process.Pid || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", child.Process.Pid)) {
		t.Fatalf("acquire while held: %v, want the holder's pid %d", err, child.Process.Pid)
	}
	_ = child.Process.Kill()
	_ = child.Wait()
	l, err := Acquire(dir) // the kernel released the dead holder's lock
	if err != nil {
		t.Fatalf("acquire after the holder died: %v", err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
}
