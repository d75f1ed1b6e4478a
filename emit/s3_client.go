package emit

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// NewS3Client builds an S3 client from the environment's AWS credentials
// and cfg's Region, Endpoint and PathStyle (AWS_ENDPOINT_URL_S3 works too).
// Its retryer makes a few quick attempts per request without a client-side
// retry quota; the sink's own loop rides out longer outages.
func NewS3Client(ctx context.Context, cfg S3Config) (*s3.Client, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 4
				o.MaxBackoff = 2 * time.Second
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3 sink: load AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		// The S3 client needs one even for an S3-compatible endpoint.
		return nil, fmt.Errorf("s3 sink: no AWS region: set the sink's region (or AWS_REGION): %w", &aws.MissingRegionError{})
	}
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
			// S3-compatible stores often reject the SDK's default
			// checksum trailers: send checksums only where required.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
		o.UsePathStyle = cfg.PathStyle
	}), nil
}
