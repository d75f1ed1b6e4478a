package checkpoint

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/sluicecdc/sluice/internal/testing/testport"
)

// TestDynamoCallTimeout: against an endpoint that accepts connections and
// never answers, Acquire, Load and Save each fail after the call timeout
// with an error naming it, under a context without a deadline; the error
// is not permanent, so the pipeline retries.
func TestDynamoCallTimeout(t *testing.T) {
	// A client with the SDK's default HTTP client (no response timeout):
	// the store's own deadline is what must end the calls.
	client := dynamodb.New(dynamodb.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(testport.BlackHole(t)),
		Credentials:  aws.AnonymousCredentials{},
	})
	s, err := NewDynamoStore(context.Background(), client, DynamoConfig{Table: "t", Pipeline: "p", CallTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		op   func(context.Context) error
	}{
		{"acquire", func(ctx context.Context) error { _, err := s.Acquire(ctx, "me"); return err }},
		{"load", func(ctx context.Context) error { _, err := s.Load(ctx); return err }},
		{"save", func(ctx context.Context) error {
			s.mu.Lock()
			s.epoch, s.owner = 1, "me" // as if acquired: Save must reach the endpoint
			s.mu.Unlock()
			return s.Save(ctx, &Checkpoint{Pipeline: "p", Position: pos("b.000001:4")})
		}},
	} {
		name, op := c.name, c.op
		done := make(chan error, 1)
		go func() { done <- op(context.Background()) }()
		select {
		case err := <-done:
			if !errors.Is(err, errNoAnswer) || !strings.Contains(err.Error(), "300ms") || Permanent(err) {
				t.Errorf("%s on a silent endpoint: %v, want a retryable error naming the 300ms call timeout", name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s on a silent endpoint still waiting after 10s", name)
		}
	}
}
