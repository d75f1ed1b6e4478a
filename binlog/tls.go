package binlog

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-mysql-org/go-mysql/mysql"
)

// TLSMode says whether and how connections to the source are encrypted,
// with the meanings of MySQL's --ssl-mode.
type TLSMode string

// TLS modes, weakest first.
const (
	// TLSDisabled connects in plaintext.
	TLSDisabled TLSMode = "disabled"
	// TLSPreferred encrypts when the server offers TLS, else connects in
	// plaintext; the certificate is not checked.
	TLSPreferred TLSMode = "preferred"
	// TLSRequired always encrypts and never falls back to plaintext; the
	// certificate is not checked.
	TLSRequired TLSMode = "required"
	// TLSVerifyCA also checks that the server's certificate chains to
	// CAFile (system roots when empty).
	TLSVerifyCA TLSMode = "verify_ca"
	// TLSVerifyIdentity also checks that the certificate names the host
	// (or ServerName).
	TLSVerifyIdentity TLSMode = "verify_identity"
)

// TLSConfig is the source.tls configuration.
type TLSConfig struct {
	Mode TLSMode
	// CAFile holds the PEM certificates that sign the server's certificate
	// (e.g. the RDS global bundle); empty means the system roots.
	CAFile string
	// CertFile and KeyFile are a client certificate and its key (PEM),
	// for users created with REQUIRE X509 or REQUIRE SUBJECT.
	CertFile, KeyFile string
	// ServerName is the name verify_identity expects in the certificate
	// when the host is an IP address or an alias; empty means the host.
	ServerName string
}

// Secure reports whether the mode never falls back to plaintext.
func (t *TLSConfig) Secure() bool {
	switch t.Mode {
	case TLSRequired, TLSVerifyCA, TLSVerifyIdentity:
		return true
	}
	return false
}

// Validate checks the mode and that the files come in the right
// combinations; whether the files can be read is checked by Load.
func (t *TLSConfig) Validate() error {
	switch t.Mode {
	case TLSDisabled, TLSPreferred, TLSRequired, TLSVerifyCA, TLSVerifyIdentity:
	default:
		return fmt.Errorf("source.tls.mode %q: want disabled, preferred, required, verify_ca or verify_identity", t.Mode)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("source.tls: cert_file and key_file go together: set both (a client certificate and its key) or neither")
	}
	if t.Mode == TLSDisabled && (t.CAFile != "" || t.CertFile != "" || t.ServerName != "") {
		return errors.New("source.tls.mode is disabled but ca_file, cert_file or server_name is set: set mode to verify_identity (or required), or remove the files")
	}
	if t.ServerName != "" && t.Mode != TLSVerifyIdentity {
		return fmt.Errorf("source.tls.server_name is only checked by mode verify_identity, not %s: set mode: verify_identity or remove server_name", t.Mode)
	}
	return nil
}

// Load reads the certificate files and returns the one tls.Config every
// connection to the source starts from (nil for disabled). An unreadable
// or invalid file is a *PreflightError naming the mode and the file.
func (t *TLSConfig) Load() (*tls.Config, error) {
	if t.Mode == TLSDisabled || t.Mode == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, t.fileError("ca_file", t.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, t.fileError("ca_file", t.CAFile, errors.New("no PEM certificate in it"))
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, t.fileError("cert_file/key_file", t.CertFile+", "+t.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	switch t.Mode {
	case TLSPreferred, TLSRequired:
		// Encrypted, the certificate not checked: MySQL's meaning of the modes.
		c.InsecureSkipVerify = true
	case TLSVerifyCA:
		// The chain is checked here; the name is not.
		c.InsecureSkipVerify = true
		roots := c.RootCAs
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, ic := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(ic)
			}
			if _, err := cs.PeerCertificates[0].Verify(opts); err != nil {
				return &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
			}
			return nil
		}
	}
	return c, nil
}

func (t *TLSConfig) fileError(key, file string, err error) error {
	return &PreflightError{Check: "tls", Msg: fmt.Sprintf("source.tls.mode %s: source.tls.%s %s: %v", t.Mode, key, file, err)}
}

// forHost returns the TLS config for one connection to host: base with
// the name verify_identity checks.
func (t *TLSConfig) forHost(base *tls.Config, host string) *tls.Config {
	if base == nil {
		return nil
	}
	c := base.Clone()
	if t.Mode == TLSVerifyIdentity {
		c.ServerName = host
		if t.ServerName != "" {
			c.ServerName = t.ServerName
		}
	}
	return c
}

// errServerWithoutTLS is go-mysql's message when the client wants TLS and
// the server does not offer it.
const errServerWithoutTLS = "does not support TLS"

// classifyConnectError turns the connection errors a person must fix in
// the TLS configuration into a *PreflightError naming the mode and the
// file or setting; others are returned as they are.
func (t *TLSConfig) classifyConnectError(addr string, encrypted bool, err error) error {
	var verr *tls.CertificateVerificationError
	var herr x509.HostnameError
	var uerr x509.UnknownAuthorityError
	var cerr x509.CertificateInvalidError
	var me *mysql.MyError
	ca := t.CAFile
	if ca == "" {
		ca = "(empty: the system roots)"
	}
	switch {
	case errors.As(err, &herr):
		name := "the host " + addr
		if t.ServerName != "" {
			name = "source.tls.server_name " + t.ServerName
		}
		return &PreflightError{Check: "tls", Msg: fmt.Sprintf("source.tls.mode %s: the certificate of %s does not name %s (%v): set source.tls.server_name to a name the certificate holds, or connect by that name", t.Mode, addr, name, herr)}
	case errors.As(err, &uerr), errors.As(err, &cerr), errors.As(err, &verr):
		return &PreflightError{Check: "tls", Msg: fmt.Sprintf("source.tls.mode %s: the certificate of %s does not verify against source.tls.ca_file %s (%v): point ca_file at the CA bundle that signed the server's certificate (for RDS the global bundle)", t.Mode, addr, ca, err)}
	case errors.As(err, &me) && insecureTransportRefused(me):
		return &PreflightError{Check: "tls", Msg: fmt.Sprintf("source.tls.mode %s: the server %s refuses plaintext connections (require_secure_transport=ON): set source.tls.mode: verify_identity (or required)", t.Mode, addr)}
	case strings.Contains(err.Error(), errServerWithoutTLS) && t.Secure():
		return &PreflightError{Check: "tls", Msg: fmt.Sprintf("source.tls.mode %s: the server %s does not offer TLS, and this mode never falls back to plaintext: configure the server's ssl_cert/ssl_key, or set source.tls.mode: preferred", t.Mode, addr)}
	case errors.As(err, &me) && me.Code == mysql.ER_ACCESS_DENIED_ERROR && !encrypted:
		return fmt.Errorf("%w (over a plaintext connection, source.tls.mode %s: either the credentials are wrong or the server requires secure transport, require_secure_transport=ON; then set source.tls.mode: verify_identity, or required)", err, t.Mode)
	case errors.As(err, &me) && me.Code == mysql.ER_ACCESS_DENIED_ERROR && t.CertFile == "":
		return fmt.Errorf("%w (if the user was created with REQUIRE X509 or REQUIRE SUBJECT, set source.tls.cert_file and key_file)", err)
	}
	var rerr tls.RecordHeaderError
	if errors.As(err, &rerr) || strings.Contains(err.Error(), "tls: ") {
		return &PreflightError{Check: "tls", Msg: fmt.Sprintf("source.tls.mode %s: TLS handshake with %s: %v", t.Mode, addr, err)}
	}
	return err
}

// insecureTransportRefused reports the server's refusal of a plaintext
// connection under require_secure_transport (MySQL 3159; MariaDB sends
// access denied with the reason in the message).
func insecureTransportRefused(me *mysql.MyError) bool {
	return me.Code == 3159 || strings.Contains(strings.ToLower(me.Message), "insecure transport") ||
		strings.Contains(strings.ToLower(me.Message), "secure_transport")
}
