package emit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sluicecdc/sluice/schema"
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

var _ schema.ConditionalStore = (*S3Object)(nil)

// ReadVersion implements schema.ConditionalStore: the object and its ETag.
func (o *S3Object) ReadVersion(ctx context.Context) ([]byte, string, error) {
	out, err := o.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key)})
	var nsk *types.NoSuchKey
	if errors.As(err, &nsk) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	defer func() { _ = out.Body.Close() }()
	b, err := io.ReadAll(out.Body)
	return b, aws.ToString(out.ETag), err
}

// WriteIf implements schema.ConditionalStore with a conditional PUT:
// If-Match on the ETag read, or If-None-Match: * when there was no
// object. A 412 (or a 409 from a concurrent conditional write) is
// schema.ErrChanged.
func (o *S3Object) WriteIf(ctx context.Context, b []byte, etag string) (string, error) {
	in := &s3.PutObjectInput{
		Bucket: aws.String(o.bucket), Key: aws.String(o.key), Body: bytes.NewReader(b),
		ContentType: aws.String("application/json"),
	}
	if etag == "" {
		in.IfNoneMatch = aws.String("*")
	} else {
		in.IfMatch = aws.String(etag)
	}
	out, err := o.client.PutObject(ctx, in)
	if isPreconditionFailed(err) || httpStatus(err) == http.StatusConflict {
		return "", fmt.Errorf("%s: %w (%w)", o, schema.ErrChanged, err)
	}
	if err != nil {
		return "", err
	}
	return aws.ToString(out.ETag), nil
}

func (o *S3Object) String() string { return fmt.Sprintf("s3://%s/%s", o.bucket, o.key) }
