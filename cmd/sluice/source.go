package main

import (
	"context"
	"sync"

	"github.com/sluicecdc/sluice/binlog"
)

// sourceTLSConfig is source.tls (see docs/rds.md).
type sourceTLSConfig struct {
	Mode       string `koanf:"mode"`
	CAFile     string `koanf:"ca_file"`
	CertFile   string `koanf:"cert_file"`
	KeyFile    string `koanf:"key_file"`
	ServerName string `koanf:"server_name"`
}

// sourceBinlogConfig copies the source section into a binlog.Config.
// With auth: iam, the token maker loads the AWS configuration (aws.region,
// the default credential chain) at the first connection.
func (c *fileConfig) sourceBinlogConfig(dst *binlog.Config) {
	s := &c.Source
	dst.Host, dst.Port, dst.User = s.Host, s.Port, s.User
	dst.Password, dst.PasswordFile = s.Password, s.PasswordFile
	dst.Auth = binlog.Auth(s.Auth)
	dst.Hosts = s.Hosts
	dst.Resume = binlog.Resume(s.Resume)
	dst.TLS = binlog.TLSConfig{
		Mode: binlog.TLSMode(s.TLS.Mode), CAFile: s.TLS.CAFile, CertFile: s.TLS.CertFile,
		KeyFile: s.TLS.KeyFile, ServerName: s.TLS.ServerName,
	}
	dst.ServerID = s.ServerID
	dst.HeartbeatPeriod = s.Heartbeat
	dst.ReadTimeout = s.ReadTimeout
	if dst.Auth == binlog.AuthIAM {
		dst.Passwords = c.iamPasswords()
	}
}

// iamPasswords makes IAM tokens with the process's AWS credentials; the
// AWS configuration is loaded once, at the first connection.
func (c *fileConfig) iamPasswords() binlog.PasswordFunc {
	var (
		mu sync.Mutex
		mk binlog.PasswordFunc
	)
	user := c.Source.User
	return func(ctx context.Context, addr string) (string, error) {
		mu.Lock()
		if mk == nil {
			clients, err := c.awsClients(ctx)
			if err != nil {
				mu.Unlock()
				return "", err
			}
			mk = binlog.IAMPasswords(clients.cfg.Region, user, clients.cfg.Credentials)
		}
		f := mk
		mu.Unlock()
		return f(ctx, addr)
	}
}
