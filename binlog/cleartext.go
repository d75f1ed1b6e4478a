package binlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
)

// errCleartextOverPlaintext is returned when a server asks for the
// password in cleartext on a connection without TLS.
var errCleartextOverPlaintext = errors.New("the server asked for the password in cleartext (mysql_clear_password) over a plaintext connection; sluice refuses: set source.tls.mode: verify_identity (or required)")

// clearSwitch is the start of an auth switch request to the cleartext
// plugin: 0xFE, then the plugin's name and its NUL.
var clearSwitch = []byte("\xfemysql_clear_password\x00")

// guardedDialer dials like d and watches what the server sends until
// authenticated is called: go-mysql answers a switch to the cleartext
// plugin with the password, TLS or not. Under TLS the watched bytes are
// encrypted and never match, so the plugin works there (IAM tokens).
// Call authenticated once the connections it made are logged in, so row
// data read later is never mistaken for a switch.
func guardedDialer(d *net.Dialer) (dial func(ctx context.Context, network, addr string) (net.Conn, error), authenticated func()) {
	done := new(atomic.Bool)
	dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &cleartextGuard{Conn: c, done: done}, nil
	}
	return dial, func() { done.Store(true) }
}

// cleartextGuard fails the read that brings a cleartext auth switch. It
// looks at the first guardBytes bytes at most, until done.
type cleartextGuard struct {
	net.Conn
	done *atomic.Bool
	seen int
	tail []byte // the last bytes of the previous read, for a match across reads
}

const guardBytes = 16 << 10

func (g *cleartextGuard) Read(p []byte) (int, error) {
	n, err := g.Conn.Read(p)
	if g.seen < guardBytes && n > 0 && !g.done.Load() {
		g.seen += n
		buf := append(g.tail, p[:n]...)
		if bytes.Contains(buf, clearSwitch) {
			_ = g.Conn.Close()
			return 0, fmt.Errorf("connect to %s: %w", g.RemoteAddr(), errCleartextOverPlaintext)
		}
		keep := min(len(buf), len(clearSwitch)-1)
		g.tail = append(g.tail[:0], buf[len(buf)-keep:]...)
	}
	return n, err
}
