package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// awsConfig is the "aws" section, shared by the S3 and Kinesis sinks and
// the DynamoDB checkpoint store. Credentials come from the normal AWS chain
// (environment, shared files, instance/task roles). Endpoints may also be
// set with AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_KINESIS and
// AWS_ENDPOINT_URL_DYNAMODB.
type awsConfig struct {
	Region    string          `koanf:"region"`
	Endpoints endpointsConfig `koanf:"endpoints"`
	// S3PathStyle addresses buckets by path (http://host/bucket/key), as
	// S3-compatible stores need; on by default when an S3 endpoint is set.
	S3PathStyle *bool `koanf:"s3_path_style"`
}

type endpointsConfig struct {
	S3       string `koanf:"s3"`
	Kinesis  string `koanf:"kinesis"`
	DynamoDB string `koanf:"dynamodb"`
}

// awsClients builds SDK clients once per process.
type awsClients struct {
	cfg  aws.Config
	conf awsConfig
}

func newAWSClients(ctx context.Context, c awsConfig) (*awsClients, error) {
	opts := []func(*config.LoadOptions) error{
		// A few quick attempts per request, no client-side retry quota:
		// sinks and the checkpoint loop ride out longer outages themselves.
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 4
				o.MaxBackoff = 2 * time.Second
				o.RateLimiter = ratelimit.None
			})
		}),
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if c.Region != "" {
		opts = append(opts, config.WithRegion(c.Region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return nil, fmt.Errorf("no AWS region: set aws.region in the config or AWS_REGION")
	}
	return &awsClients{cfg: cfg, conf: c}, nil
}

func (a *awsClients) s3() *s3.Client {
	return s3.NewFromConfig(a.cfg, func(o *s3.Options) {
		if a.conf.Endpoints.S3 != "" {
			o.BaseEndpoint = aws.String(a.conf.Endpoints.S3)
		}
		custom := a.conf.Endpoints.S3 != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
		o.UsePathStyle = custom
		if a.conf.S3PathStyle != nil {
			o.UsePathStyle = *a.conf.S3PathStyle
		}
	})
}

func (a *awsClients) kinesis() *kinesis.Client {
	return kinesis.NewFromConfig(a.cfg, func(o *kinesis.Options) {
		if a.conf.Endpoints.Kinesis != "" {
			o.BaseEndpoint = aws.String(a.conf.Endpoints.Kinesis)
		}
	})
}

func (a *awsClients) dynamodb() *dynamodb.Client {
	return dynamodb.NewFromConfig(a.cfg, func(o *dynamodb.Options) {
		if a.conf.Endpoints.DynamoDB != "" {
			o.BaseEndpoint = aws.String(a.conf.Endpoints.DynamoDB)
		}
	})
}
