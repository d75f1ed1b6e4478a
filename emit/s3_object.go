package emit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3Object is one object that is read and replaced whole: the schema
// registry kept in the lake (<prefix>/_schemas/), so that every node of a
// cluster reads the table versions the last leader wrote.
type S3Object struct {
	client      s3API
	bucket, key string
}

// NewS3Object returns the object at bucket/key.
func NewS3Object(client s3API, bucket, key string) *S3Object {
	return &S3Object{client: client, bucket: bucket, key: key}
}

// Read returns the object's bytes, or nil when it does not exist.
func (o *S3Object) Read(ctx context.Context) ([]byte, error) {
	out, err := o.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key)})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer func() { _ = out.Body.Close() }()
	return io.ReadAll(out.Body)
}

// Write replaces the object (a single PUT is atomic in S3).
func (o *S3Object) Write(ctx context.Context, b []byte) error {
	_, err := o.client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(o.bucket), Key: aws.String(o.key), Body: bytes.NewReader(b),
		ContentType: aws.String("application/json"),
	})
	return err
}

func (o *S3Object) String() string { return fmt.Sprintf("s3://%s/%s", o.bucket, o.key) }
