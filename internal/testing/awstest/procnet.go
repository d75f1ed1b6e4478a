package awstest

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// listenAddr is a listening TCP socket of a process.
type listenAddr struct {
	IP   net.IP
	Port int
}

func (a listenAddr) String() string { return net.JoinHostPort(a.IP.String(), strconv.Itoa(a.Port)) }

// listeningSockets returns the TCP sockets pid listens on, from
// /proc/PID/net/tcp{,6} matched against the socket inodes among its open
// files. It tells our emulator from a stranger that took its port, and shows
// where it listens.
func listeningSockets(pid int) ([]listenAddr, error) {
	inodes := map[string]bool{}
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(fdDir)
	if err != nil {
		return nil, err
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	var out []listenAddr
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" /* TCP_LISTEN */ || !inodes[fields[9]] {
				continue
			}
			if a, ok := parseProcAddr(fields[1]); ok {
				out = append(out, a)
			}
		}
		f.Close()
	}
	return out, nil
}

// parseProcAddr parses /proc/net/tcp's "0100007F:1F90": the address as
// 32-bit words in host (little-endian) order, the port in hex.
func parseProcAddr(s string) (listenAddr, bool) {
	host, port, ok := strings.Cut(s, ":")
	if !ok {
		return listenAddr{}, false
	}
	raw, err := hex.DecodeString(host)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return listenAddr{}, false
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		ip[i], ip[i+1], ip[i+2], ip[i+3] = raw[i+3], raw[i+2], raw[i+1], raw[i]
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return listenAddr{}, false
	}
	return listenAddr{IP: ip, Port: int(p)}, true
}
