package awsconfig

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicecdc/sluice/internal/testing/testport"
)

func testCredentials(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
}

// TestCallTimeoutOnASilentServer: a request to a server that accepts the
// connection and never answers fails after the call timeout (each of the
// retryer's attempts), even under a context without a deadline.
func TestCallTimeoutOnASilentServer(t *testing.T) {
	testCredentials(t)
	cfg, err := Load(context.Background(), "us-east-1", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	c := NewS3(cfg, testport.BlackHole(t), true)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := c.HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String("lake")})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "timeout") {
			t.Fatalf("head bucket on a silent server: %v, want a timeout", err)
		}
		t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
	case <-time.After(20 * time.Second):
		t.Fatal("head bucket on a silent server still waiting after 20s")
	}
}

func TestLoadNeedsRegion(t *testing.T) {
	testCredentials(t)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	if _, err := Load(context.Background(), "", 0); err == nil || !strings.Contains(err.Error(), "AWS_REGION") {
		t.Fatalf("load without a region: %v", err)
	}
}
