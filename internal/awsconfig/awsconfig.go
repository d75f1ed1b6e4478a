// Package awsconfig builds the AWS SDK configuration and S3 client that
// sluice's sinks, checkpoint store and compactor share: one retry policy,
// one set of HTTP timeouts, one way to address S3-compatible stores.
package awsconfig

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// DefaultCallTimeout is how long a request waits for the answer's headers
// once sent, when Load's callTimeout is zero.
const DefaultCallTimeout = 30 * time.Second

// ErrNoRegion: neither the configuration nor the environment names a region.
var ErrNoRegion = errors.New("no AWS region")

// Load reads the environment's AWS configuration (credentials chain,
// AWS_REGION, AWS_ENDPOINT_URL_*), with region when set. Its retryer makes
// a few quick attempts per request with no client-side retry quota: the
// callers ride out longer outages themselves. Its HTTP client bounds each
// step of a request: connecting, the TLS handshake, and the wait for the
// answer once the request is sent (callTimeout), so a store that accepts a
// connection and never answers fails the attempt instead of hanging it.
func Load(ctx context.Context, region string, callTimeout time.Duration) (aws.Config, error) {
	if callTimeout <= 0 {
		callTimeout = DefaultCallTimeout
	}
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 4
				o.MaxBackoff = 2 * time.Second
				o.RateLimiter = ratelimit.None
			})
		}),
		config.WithHTTPClient(httpClient(callTimeout)),
		// S3-compatible stores often reject the SDK's default checksum
		// trailers: send and check checksums only where required.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("%w: set the region in the config or AWS_REGION: %w", ErrNoRegion, &aws.MissingRegionError{})
	}
	return cfg, nil
}

func httpClient(callTimeout time.Duration) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = min(callTimeout, 10*time.Second) }).
		WithTransportOptions(func(t *http.Transport) {
			t.TLSHandshakeTimeout = min(callTimeout, 10*time.Second)
			t.ResponseHeaderTimeout = callTimeout
			t.IdleConnTimeout = 90 * time.Second
		})
}

// NewS3 returns an S3 client on cfg; endpoint, when set, replaces AWS's
// (an S3-compatible store), and pathStyle addresses buckets by path
// (http://host/bucket/key), as such stores need.
func NewS3(cfg aws.Config, endpoint string, pathStyle bool) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		o.UsePathStyle = pathStyle
	})
}
