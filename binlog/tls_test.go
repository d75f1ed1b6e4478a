package binlog_test

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/sluicecdc/sluice/binlog"
	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/internal/testing/mysqltest"
	"github.com/sluicecdc/sluice/schema"
)

func sourceConfig(s *mysqltest.Server, user string, tls binlog.TLSConfig) *binlog.Config {
	cfg := binlog.DefaultConfig()
	cfg.Host, cfg.Port, cfg.User = s.Host, uint16(s.Port), user
	cfg.TLS = tls
	cfg.DialTimeout = 5 * time.Second
	cfg.RetryTimeout = 5 * time.Second
	return &cfg
}

// preflightError runs Preflight and returns its *PreflightError, failing
// the test when there is none or its message lacks one of want.
func preflightError(t *testing.T, cfg *binlog.Config, want ...string) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	_, err := binlog.Preflight(context.Background(), cfg, event.Position{})
	var pe *binlog.PreflightError
	if !errors.As(err, &pe) || pe.Check != "tls" {
		t.Fatalf("Preflight = %v, want a tls *PreflightError", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Preflight error %q does not name %q", err, w)
		}
	}
}

// cipher returns the TLS cipher of a new connection ("" for plaintext).
func cipher(t *testing.T, cfg *binlog.Config) string {
	t.Helper()
	conn, err := binlog.Connect(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	r, err := conn.Execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
	if err != nil {
		t.Fatal(err)
	}
	c, _ := r.GetString(0, 1)
	return c
}

// TestTLSMatrix runs every TLS mode against a mariadbd that requires
// secure transport, with certificates made here.
func TestTLSMatrix(t *testing.T) {
	certs, err := mysqltest.GenerateCerts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s := mysqltest.StartT(t, mysqltest.Options{TLS: certs})
	s.RequireOwned(t)
	s.Exec(t,
		"CREATE USER x509user@'%' REQUIRE X509",
		"GRANT REPLICATION SLAVE, REPLICATION CLIENT, SELECT ON *.* TO x509user@'%'",
		"CREATE DATABASE tlsdb", "CREATE TABLE tlsdb.t (id INT PRIMARY KEY)")
	ctx := context.Background()

	t.Run("required connects encrypted", func(t *testing.T) {
		cfg := sourceConfig(s, "root", binlog.TLSConfig{Mode: binlog.TLSRequired})
		if _, err := binlog.Preflight(ctx, cfg, event.Position{}); err != nil {
			t.Fatal(err)
		}
		if c := cipher(t, cfg); c == "" {
			t.Fatal("mode required gave a plaintext connection")
		}
	})
	t.Run("preferred connects encrypted", func(t *testing.T) {
		if c := cipher(t, sourceConfig(s, "root", binlog.TLSConfig{Mode: binlog.TLSPreferred})); c == "" {
			t.Fatal("mode preferred against a server with TLS gave a plaintext connection")
		}
	})
	t.Run("disabled is refused by the server", func(t *testing.T) {
		// MariaDB refuses with "access denied", as for a wrong password:
		// the error names both causes and the fix.
		_, err := binlog.Preflight(ctx, sourceConfig(s, "root", binlog.TLSConfig{Mode: binlog.TLSDisabled}), event.Position{})
		for _, want := range []string{"Access denied", "plaintext", "source.tls.mode disabled", "require_secure_transport=ON", "set source.tls.mode: verify_identity"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("Preflight = %v, want an error naming %q", err, want)
			}
		}
	})
	t.Run("verify_identity with the CA", func(t *testing.T) {
		cfg := sourceConfig(s, "root", binlog.TLSConfig{Mode: binlog.TLSVerifyIdentity, CAFile: certs.CA})
		if _, err := binlog.Preflight(ctx, cfg, event.Position{}); err != nil {
			t.Fatal(err)
		}
		cfg = sourceConfig(s, "root", binlog.TLSConfig{Mode: binlog.TLSVerifyIdentity, CAFile: certs.CA, ServerName: "localhost"})
		if _, err := binlog.Preflight(ctx, cfg, event.Position{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("verify_identity with the wrong name", func(t *testing.T) {
		preflightError(t, sourceConfig(s, "root", binlog.TLSConfig{Mode: binlog.TLSVerifyIdentity, CAFile: certs.CA, ServerName: "db.example.com"}),
			"source.tls.mode verify_identity", "server_name db.example.com")
	})
	t.Run("verify_ca with another CA", func(t *testing.T) {
		preflightError(t, sourceConfig(s, "root", binlog.TLSConfig{Mode: binlog.TLSVerifyCA, CAFile: certs.OtherCA}),
			"source.tls.mode verify_ca", certs.OtherCA)
	})
	t.Run("verify_ca ignores the name", func(t *testing.T) {
		cfg := sourceConfig(s, "root", binlog.TLSConfig{Mode: binlog.TLSVerifyCA, CAFile: certs.CA})
		cfg.Host = "localhost"
		if _, err := binlog.Preflight(ctx, cfg, event.Position{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unreadable CA file", func(t *testing.T) {
		preflightError(t, sourceConfig(s, "root", binlog.TLSConfig{Mode: binlog.TLSVerifyIdentity, CAFile: certs.CA + ".missing"}),
			"source.tls.mode verify_identity", "source.tls.ca_file "+certs.CA+".missing")
	})
	t.Run("REQUIRE X509 needs a client certificate", func(t *testing.T) {
		cfg := sourceConfig(s, "x509user", binlog.TLSConfig{Mode: binlog.TLSVerifyIdentity, CAFile: certs.CA})
		_, err := binlog.Preflight(ctx, cfg, event.Position{})
		if err == nil || !strings.Contains(err.Error(), "cert_file") {
			t.Fatalf("without a client certificate: Preflight = %v, want access denied naming cert_file", err)
		}
		cfg = sourceConfig(s, "x509user", binlog.TLSConfig{Mode: binlog.TLSVerifyIdentity, CAFile: certs.CA,
			CertFile: certs.ClientCert, KeyFile: certs.ClientKey})
		if _, err := binlog.Preflight(ctx, cfg, event.Position{}); err != nil {
			t.Fatalf("with the client certificate: %v", err)
		}
	})
	t.Run("the binlog stream and the SQL driver go over TLS", func(t *testing.T) {
		cfg := sourceConfig(s, "x509user", binlog.TLSConfig{Mode: binlog.TLSVerifyIdentity, CAFile: certs.CA,
			CertFile: certs.ClientCert, KeyFile: certs.ClientKey})
		srv, err := binlog.Preflight(ctx, cfg, event.Position{})
		if err != nil {
			t.Fatal(err)
		}
		dc, err := cfg.DriverConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conn, err := mysql.NewConnector(dc)
		if err != nil {
			t.Fatal(err)
		}
		db := sql.OpenDB(conn)
		defer db.Close()
		var name, value string
		if err := db.QueryRow("SHOW SESSION STATUS LIKE 'Ssl_version'").Scan(&name, &value); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(value, "TLS") {
			t.Fatalf("driver connection: Ssl_version %q, want TLS", value)
		}
		streamCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		items := make(chan binlog.Item, 16)
		st := binlog.NewStreamer(*cfg, srv.Flavor, schema.NewRegistry())
		done := make(chan error, 1)
		go func() { done <- st.Run(streamCtx, srv.Head, items) }()
		s.Exec(t, "INSERT INTO tlsdb.t VALUES (1)")
		timeout := time.After(20 * time.Second)
		for rows := 0; ; {
			select {
			case it := <-items:
				if it.Kind == binlog.ItemRows {
					rows += len(it.Rows)
				}
				if it.Kind == binlog.ItemCommit && rows == 1 {
					cancel()
					if err := <-done; !errors.Is(err, context.Canceled) {
						t.Fatalf("stream: %v", err)
					}
					return
				}
			case err := <-done:
				t.Fatalf("stream stopped: %v", err)
			case <-timeout:
				t.Fatal("the inserted row did not arrive over the TLS binlog stream")
			}
		}
	})
}

// TestTLSAgainstPlainServer: preferred falls back to plaintext when the
// server offers no TLS; required and stronger never do.
func TestTLSAgainstPlainServer(t *testing.T) {
	s := mysqltest.StartT(t, mysqltest.Options{Args: []string{"--skip-ssl"}})
	s.RequireOwned(t)
	if c := cipher(t, sourceConfig(s, "root", binlog.TLSConfig{Mode: binlog.TLSPreferred})); c != "" {
		t.Fatalf("server without TLS gave cipher %q", c)
	}
	preflightError(t, sourceConfig(s, "root", binlog.TLSConfig{Mode: binlog.TLSRequired}),
		"source.tls.mode required", "does not offer TLS")
}

// TestTLSConfigValidate: combinations refused before any connection.
func TestTLSConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		tls  binlog.TLSConfig
		auth binlog.Auth
		want string
	}{
		{"unknown mode", binlog.TLSConfig{Mode: "on"}, "", `source.tls.mode "on"`},
		{"cert without key", binlog.TLSConfig{Mode: binlog.TLSRequired, CertFile: "c.pem"}, "", "cert_file and key_file"},
		{"files while disabled", binlog.TLSConfig{Mode: binlog.TLSDisabled, CAFile: "ca.pem"}, "", "mode is disabled"},
		{"server_name without verify_identity", binlog.TLSConfig{Mode: binlog.TLSVerifyCA, ServerName: "x"}, "", "server_name is only checked by mode verify_identity"},
		{"iam without TLS", binlog.TLSConfig{Mode: binlog.TLSPreferred}, binlog.AuthIAM, "source.auth: iam"},
		{"iam without TLS (disabled)", binlog.TLSConfig{Mode: binlog.TLSDisabled}, binlog.AuthIAM, "needs TLS"},
	} {
		cfg := binlog.DefaultConfig()
		cfg.TLS, cfg.Auth = tc.tls, tc.auth
		err := cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate = %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
	cfg := binlog.DefaultConfig()
	cfg.TLS, cfg.Auth = binlog.TLSConfig{Mode: binlog.TLSVerifyIdentity}, binlog.AuthIAM
	if err := cfg.Validate(); err != nil {
		t.Errorf("iam over verify_identity: %v", err)
	}
}
