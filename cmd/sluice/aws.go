package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicecdc/sluice/internal/awsconfig"
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
	// CallTimeout bounds each call to AWS: the wait for an answer to each
	// HTTP request, and each DynamoDB checkpoint and registry call with the
	// SDK's retries (defaults: 30s per request, 10s per checkpoint call).
	CallTimeout time.Duration `koanf:"call_timeout"`
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
	cfg, err := awsconfig.Load(ctx, c.Region, c.CallTimeout)
	if err != nil {
		return nil, fmt.Errorf("%w (aws.region)", err)
	}
	return &awsClients{cfg: cfg, conf: c}, nil
}

func (a *awsClients) s3() *s3.Client {
	pathStyle := a.conf.Endpoints.S3 != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != "" || os.Getenv("AWS_ENDPOINT_URL") != ""
	if a.conf.S3PathStyle != nil {
		pathStyle = *a.conf.S3PathStyle
	}
	return awsconfig.NewS3(a.cfg, a.conf.Endpoints.S3, pathStyle)
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
