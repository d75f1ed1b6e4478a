package binlog

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	drv "github.com/go-sql-driver/mysql"
)

// Auth says how sluice proves who it is to the source.
type Auth string

// Auth values.
const (
	// AuthPassword uses Password or the content of PasswordFile.
	AuthPassword Auth = "password"
	// AuthIAM uses an RDS IAM authentication token made fresh for each
	// connection by Config.Passwords (see IAMPasswords); it needs TLS.
	AuthIAM Auth = "iam"
)

// PasswordFunc returns the password (or token) for one new connection to
// addr ("host:port"). It is called for every connection, so a rotated
// password or a short-lived token is always current.
type PasswordFunc func(ctx context.Context, addr string) (string, error)

// Addrs returns the source servers to try, in order: Hosts (each
// "host" or "host:port"; Port when it has none), or Host:Port.
func (c *Config) Addrs() []string {
	if len(c.Hosts) == 0 {
		return []string{c.Addr()}
	}
	out := make([]string, 0, len(c.Hosts))
	for _, h := range c.Hosts {
		if _, _, err := net.SplitHostPort(h); err == nil {
			out = append(out, h)
		} else {
			out = append(out, net.JoinHostPort(h, strconv.Itoa(int(c.Port))))
		}
	}
	return out
}

// validateCredentials checks the credential and TLS settings together.
func (c *Config) validateCredentials() error {
	if err := c.TLS.Validate(); err != nil {
		return err
	}
	for _, h := range c.Hosts {
		if h == "" || strings.ContainsAny(h, " /") {
			return fmt.Errorf("source.hosts entry %q: want host or host:port", h)
		}
	}
	switch c.Auth {
	case "", AuthPassword:
		if c.Password != "" && c.PasswordFile != "" {
			return errors.New("source.password and source.password_file are both set: keep one (password_file is re-read at every connection, so rotation works)")
		}
	case AuthIAM:
		if !c.TLS.Secure() {
			return fmt.Errorf("source.auth: iam sends its token in cleartext, so it needs TLS: set source.tls.mode: verify_identity (or required), not %q", c.TLS.Mode)
		}
		if c.Password != "" || c.PasswordFile != "" {
			return errors.New("source.auth: iam makes a token for every connection: remove source.password and source.password_file")
		}
	default:
		return fmt.Errorf("source.auth %q: want password or iam", c.Auth)
	}
	return nil
}

// password returns the secret for one new connection to addr. Errors
// name the file or the provider, never the secret.
func (c *Config) password(ctx context.Context, addr string) (string, error) {
	switch {
	case c.Passwords != nil:
		pw, err := c.Passwords(ctx, addr)
		if err != nil {
			return "", fmt.Errorf("credentials for %s (source.auth %s): %w", addr, c.Auth, err)
		}
		return pw, nil
	case c.PasswordFile != "":
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("source.password_file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return c.Password, nil
}

// LoadTLS reads the TLS files once; every later connection uses the
// config read. Connect calls it; call it first when the Config is copied
// (a Streamer takes a copy).
func (c *Config) LoadTLS() error {
	if c.tlsBase != nil || c.TLS.Mode == TLSDisabled || c.TLS.Mode == "" {
		return nil
	}
	base, err := c.TLS.Load()
	if err != nil {
		return err
	}
	c.tlsBase = base
	return nil
}

// tlsFor returns the TLS config for a connection to addr, nil for plaintext.
func (c *Config) tlsFor(addr string) (*tls.Config, error) {
	if err := c.LoadTLS(); err != nil {
		return nil, err
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return c.TLS.forHost(c.tlsBase, host), nil
}

// Connect opens a plain SQL connection (utf8mb4) to the first source
// server of Addrs that accepts one.
func Connect(ctx context.Context, cfg *Config) (*client.Conn, error) {
	conn, _, _, err := cfg.connectAny(ctx)
	return conn, err
}

// connectAny tries Addrs in order and returns the first connection made
// and its address. A *PreflightError (bad TLS setup, refused credentials
// file) stops the search: another host would fail the same way. It also
// returns the TLS config the connection uses (nil: plaintext).
func (c *Config) connectAny(ctx context.Context) (*client.Conn, string, *tls.Config, error) {
	var errs []error
	for _, addr := range c.Addrs() {
		conn, tc, err := c.connectAddr(ctx, addr)
		if err == nil {
			return conn, addr, tc, nil
		}
		var pe *PreflightError
		if errors.As(err, &pe) || ctx.Err() != nil {
			return nil, "", nil, err
		}
		errs = append(errs, err)
	}
	return nil, "", nil, errors.Join(errs...)
}

// connectAddr opens one connection to addr with a fresh password, over
// TLS as configured; mode preferred falls back to plaintext only when the
// server does not offer TLS.
func (c *Config) connectAddr(ctx context.Context, addr string) (*client.Conn, *tls.Config, error) {
	tlsConf, err := c.tlsFor(addr)
	if err != nil {
		return nil, nil, err
	}
	pw, err := c.password(ctx, addr)
	if err != nil {
		return nil, nil, err
	}
	dial := func(tc *tls.Config) (*client.Conn, error) {
		dialer, authenticated := guardedDialer(&net.Dialer{Timeout: c.DialTimeout})
		conn, err := client.ConnectWithDialer(ctx, "", addr, c.User, pw, "", dialer, func(conn *client.Conn) error {
			if tc != nil {
				conn.SetTLSConfig(tc)
			}
			return conn.SetCharset("utf8mb4")
		})
		authenticated()
		return conn, err
	}
	conn, err := dial(tlsConf)
	if err != nil && c.TLS.Mode == TLSPreferred && strings.Contains(err.Error(), errServerWithoutTLS) {
		tlsConf = nil
		conn, err = dial(nil)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("connect to source %s as %s: %w", addr, c.User, c.TLS.classifyConnectError(addr, tlsConf != nil, err))
	}
	return conn, tlsConf, nil
}

// DriverConfig returns a go-sql-driver config for the source (the first
// of Addrs that answers now) with the same TLS config and per-connection
// credentials as every other connection: the password (file, IAM token)
// is fetched again before each connection the pool opens.
func (c *Config) DriverConfig(ctx context.Context) (*drv.Config, error) {
	conn, addr, _, err := c.connectAny(ctx)
	if err != nil {
		return nil, err
	}
	_ = conn.Close()
	tlsConf, err := c.tlsFor(addr)
	if err != nil {
		return nil, err
	}
	dc := drv.NewConfig()
	dc.User, dc.Net, dc.Addr = c.User, "tcp", addr
	dc.Timeout = c.DialTimeout
	if tlsConf != nil {
		dc.TLS = tlsConf
		dc.AllowFallbackToPlaintext = c.TLS.Mode == TLSPreferred
	}
	// The IAM token goes in cleartext, and only ever over TLS (Validate).
	dc.AllowCleartextPasswords = c.Auth == AuthIAM && tlsConf != nil
	err = dc.Apply(drv.BeforeConnect(func(ctx context.Context, dc *drv.Config) error {
		pw, err := c.password(ctx, addr)
		dc.Passwd = pw
		return err
	}))
	if err != nil {
		return nil, fmt.Errorf("source driver config: %w", err)
	}
	return dc, nil
}

// Resume says how a stream (re)starts on a server.
type Resume string

// Resume values.
const (
	// ResumeAuto resumes by position on the server the checkpoint was
	// taken on, and by GTID set on any other (after a failover).
	ResumeAuto Resume = "auto"
	// ResumePosition always resumes by file and offset; another server
	// (a different server_id) is refused.
	ResumePosition Resume = "position"
	// ResumeGTID always resumes after the executed GTID set.
	ResumeGTID Resume = "gtid"
)

func (r Resume) validate() error {
	switch r {
	case ResumeAuto, ResumePosition, ResumeGTID:
		return nil
	}
	return fmt.Errorf("source.resume %q: want auto, position or gtid", r)
}
