// Package testport reserves loopback TCP ports for tests that must know a
// server's address before it starts (a Raft cluster's peers, a node that
// restarts on its old port).
//
// Ports come from below the kernel's ephemeral range, so no outgoing
// connection and no ":0" listener of another test takes one between the
// reservation and the bind, nor while a node is down for a restart.
package testport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"testing"
)

const (
	lowest  = 20000
	highest = 32767 // below Linux's default ephemeral range (32768-60999)
)

// Loopback returns n distinct free 127.0.0.1:port addresses.
func Loopback(t testing.TB, n int) []string {
	t.Helper()
	hi := highest
	if low, ok := ephemeralLow(); ok && low-1 < hi {
		hi = low - 1
	}
	if hi <= lowest {
		t.Fatalf("testport: no ports below the ephemeral range (starts at %d)", hi+1)
	}
	seen := map[int]bool{}
	var out []string
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			t.Fatalf("testport: found only %d free ports of %d", len(out), n)
		}
		p := lowest + rand.IntN(hi-lowest+1)
		if seen[p] {
			continue
		}
		seen[p] = true
		addr := fmt.Sprintf("127.0.0.1:%d", p)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue
		}
		_ = ln.Close()
		out = append(out, addr)
	}
	return out
}

func ephemeralLow() (int, bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, false
	}
	var low, high int
	if _, err := fmt.Sscan(string(b), &low, &high); err != nil {
		return 0, false
	}
	return low, true
}
