package emit

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicecdc/sluice/internal/awsconfig"
)

// NewS3Client builds an S3 client from the environment's AWS credentials
// and cfg's Region, Endpoint and PathStyle (AWS_ENDPOINT_URL_S3 works too),
// the way sluice builds it (internal/awsconfig): a few quick attempts per
// request, each waiting at most cfg.RequestTimeout for an answer; the
// sink's own loop rides out longer outages.
func NewS3Client(ctx context.Context, cfg S3Config) (*s3.Client, error) {
	awsCfg, err := awsconfig.Load(ctx, cfg.Region, cfg.RequestTimeout)
	if err != nil {
		// The S3 client needs a region even for an S3-compatible endpoint.
		return nil, fmt.Errorf("s3 sink: set the sink's region (or AWS_REGION): %w", err)
	}
	return awsconfig.NewS3(awsCfg, cfg.Endpoint, cfg.PathStyle), nil
}
