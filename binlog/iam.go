package binlog

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/rds/auth"
)

// IAMPasswords returns a PasswordFunc that makes an RDS IAM
// authentication token for user at every connection: a token is valid for
// 15 minutes, a connection for as long as it lasts. The token is signed
// for the address connected to, so each of Config.Hosts gets its own.
func IAMPasswords(region, user string, creds aws.CredentialsProvider) PasswordFunc {
	return func(ctx context.Context, addr string) (string, error) {
		return auth.BuildAuthToken(ctx, addr, region, user, creds)
	}
}
