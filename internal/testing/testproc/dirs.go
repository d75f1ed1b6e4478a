package testproc

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// OwnerFile is the file, in each directory made by NewDir, that records its
// owner as "<test pid> <its start time> <child pid>\n" (child pid 0 before
// a child runs). The start time tells the test process from a later one
// that got the same pid.
const OwnerFile = "sluice-owner"

// DataParent returns the directory under which scratch directories go:
//
//   - $envVar when it is set;
//   - else /dev/shm when it is a writable tmpfs with at least minShmFree
//     bytes free (creating files there is tens of times faster than on a
//     virtual disk, and fsync is free; containers often have a 64 MiB one);
//   - else os.TempDir(), or /tmp when maxTempLen > 0 and os.TempDir() is
//     longer than maxTempLen bytes: a caller that puts a unix socket in its
//     directory needs a short path (a socket path must fit in 107 bytes).
func DataParent(envVar string, minShmFree uint64, maxTempLen int) string {
	if d := os.Getenv(envVar); d != "" {
		return d
	}
	var st syscall.Statfs_t
	const tmpfsMagic = 0x01021994
	if syscall.Statfs("/dev/shm", &st) == nil && st.Type == tmpfsMagic &&
		st.Bavail*uint64(st.Bsize) >= minShmFree && syscall.Access("/dev/shm", 2 /* W_OK */) == nil {
		return "/dev/shm"
	}
	if d := os.TempDir(); maxTempLen <= 0 || len(d) <= maxTempLen {
		return d
	}
	return "/tmp"
}

// NewDir creates <parent>/<prefix><pid>-<label>-<random>, or
// <parent>/<prefix><pid>-<random> when label is "", where pid is this
// process's, and records this process as its owner (WriteOwner with child
// pid 0), for CleanupOrphans.
func NewDir(parent, prefix, label string) (string, error) {
	pattern := fmt.Sprintf("%s%d-", prefix, os.Getpid())
	if label != "" {
		pattern += label + "-"
	}
	dir, err := os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", err
	}
	if err := WriteOwner(dir, 0); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// WriteOwner records in dir's OwnerFile this process (pid and start time)
// and childPid, the child that runs on dir, so that CleanupOrphans kills the
// child should it outlive this process. Call it after each Spawn.
func WriteOwner(dir string, childPid int) error {
	me := os.Getpid()
	content := fmt.Sprintf("%d %s %d\n", me, procStartTime(me), childPid)
	return os.WriteFile(filepath.Join(dir, OwnerFile), []byte(content), 0o644)
}

// procStartTime returns the start time of a process in clock ticks since
// boot ("" when the process does not exist).
func procStartTime(pid int) string {
	// fields[0] is field 3 (state); starttime is field 22.
	if fields := procStat(pid); len(fields) >= 20 {
		return fields[19]
	}
	return ""
}

// Running reports whether a process with this pid exists and is not a
// zombie (one that has exited but not been waited for).
func Running(pid int) bool {
	fields := procStat(pid)
	return len(fields) > 0 && fields[0] != "Z"
}

// procStat returns the fields of /proc/<pid>/stat from the third (state)
// on, nil when the process does not exist.
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	// The command name (field 2) may contain spaces; it ends at the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// CleanupOrphans removes the directories <prefix><pid>-* directly under
// each of parents (each looked at once) whose owning test process is gone,
// and kills their recorded child if it still runs. Best effort: errors are
// ignored.
//
// The owner is the pid in the directory's name. It is alive when a process
// with that pid runs and, if the OwnerFile records a start time, started
// then (otherwise the pid was reused). A directory of this process, or
// whose owner is alive, is left alone; a directory without a complete
// OwnerFile (being created) is judged by its pid alone. The child recorded
// in the OwnerFile is killed with SIGKILL only if its command line names
// the directory or a path inside it, so that a reused pid is spared.
func CleanupOrphans(prefix string, parents ...string) {
	seen := map[string]bool{}
	for _, parent := range parents {
		if !seen[parent] {
			seen[parent] = true
			cleanupOrphansIn(prefix, parent)
		}
	}
}

func cleanupOrphansIn(prefix, parent string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, prefix) {
			continue
		}
		pidStr, _, ok := strings.Cut(strings.TrimPrefix(name, prefix), "-")
		if !ok {
			continue
		}
		owner, err := strconv.Atoi(pidStr)
		if err != nil || owner == os.Getpid() {
			continue
		}
		dir := filepath.Join(parent, name)
		var ownerStart string
		var child int
		if b, err := os.ReadFile(filepath.Join(dir, OwnerFile)); err == nil {
			if f := strings.Fields(string(b)); len(f) >= 3 {
				ownerStart = f[1]
				child, _ = strconv.Atoi(f[2])
			}
		}
		if st := procStartTime(owner); st != "" && (ownerStart == "" || st == ownerStart) {
			continue // owner still alive
		}
		if child > 0 {
			killIfRunsOn(child, dir)
		}
		os.RemoveAll(dir)
	}
}

// killIfRunsOn kills pid with SIGKILL if its command line names dir or a
// path inside it.
func killIfRunsOn(pid int, dir string) {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return
	}
	// Arguments end with NUL; the directory ends an argument or is followed
	// by a path inside it (not by more characters of a longer name).
	if bytes.Contains(cmdline, []byte(dir+"\x00")) || bytes.Contains(cmdline, []byte(dir+"/")) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}
