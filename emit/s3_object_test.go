package emit

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicecdc/sluice/internal/testport"
)

// TestS3ObjectTimeout: the registry object's reads and writes against a
// store that accepts connections and never answers fail after the
// object's timeout, naming it, under a context without a deadline.
func TestS3ObjectTimeout(t *testing.T) {
	// The SDK's default HTTP client has no response timeout: the object's
	// own deadline is what must end the calls.
	client := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(testport.BlackHole(t)), UsePathStyle: true, Credentials: aws.AnonymousCredentials{}})
	o := NewS3Object(client, "lake", "cdc/_schemas/main.json").WithTimeout(300 * time.Millisecond)
	for _, c := range []struct {
		name string
		op   func(context.Context) error
	}{
		{"read", func(ctx context.Context) error { _, err := o.Read(ctx); return err }},
		{"write", func(ctx context.Context) error { return o.Write(ctx, []byte("{}")) }},
	} {
		done := make(chan error, 1)
		go func() { done <- c.op(context.Background()) }()
		select {
		case err := <-done:
			if !errors.Is(err, errNoAnswer) || !strings.Contains(err.Error(), "300ms") || !strings.Contains(err.Error(), "s3://lake/cdc/_schemas/main.json") {
				t.Errorf("%s on a silent store: %v, want an error naming the object and the 300ms timeout", c.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s on a silent store still waiting after 10s", c.name)
		}
	}
}
