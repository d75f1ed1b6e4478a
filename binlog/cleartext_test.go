package binlog

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
)

// TestCleartextGuard: a cleartext auth switch on a plaintext connection
// fails the read, also when it arrives split over two reads; other bytes
// pass unchanged.
func TestCleartextGuard(t *testing.T) {
	handshake := []byte("\x4a\x00\x00\x00\x0a5.5.5-10.11.19-MariaDB\x00some salt and capabilities")
	authSwitch := append([]byte("\x2c\x00\x00\x02"), clearSwitch...)
	for _, tc := range []struct {
		name   string
		writes [][]byte
		refuse bool
	}{
		{"handshake only", [][]byte{handshake}, false},
		{"switch in one read", [][]byte{handshake, authSwitch}, true},
		{"switch split across reads", [][]byte{handshake, authSwitch[:12], authSwitch[12:]}, true},
		{"other plugin", [][]byte{handshake, []byte("\x2c\x00\x00\x02\xfemysql_native_password\x00")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, client := net.Pipe()
			defer server.Close()
			g := &cleartextGuard{Conn: client, done: new(atomic.Bool)}
			go func() {
				for _, w := range tc.writes {
					if _, err := server.Write(w); err != nil {
						return
					}
				}
				server.Close()
			}()
			var got []byte
			buf := make([]byte, 64)
			var err error
			for {
				var n int
				n, err = g.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					break
				}
			}
			switch {
			case tc.refuse && !errors.Is(err, errCleartextOverPlaintext):
				t.Fatalf("read error %v, want the cleartext refusal", err)
			case !tc.refuse && err != io.EOF:
				t.Fatalf("read error %v, want EOF", err)
			case !tc.refuse:
				var want []byte
				for _, w := range tc.writes {
					want = append(want, w...)
				}
				if string(got) != string(want) {
					t.Fatalf("bytes changed: %q, want %q", got, want)
				}
			}
		})
	}
}
