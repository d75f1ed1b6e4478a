package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// DefaultCallTimeout bounds one DynamoDB call (the SDK's retries included)
// when DynamoConfig.CallTimeout is zero.
const DefaultCallTimeout = 10 * time.Second

// errNoAnswer is the cause of a call's own deadline.
var errNoAnswer = errors.New("no answer")

// deadlineAPI gives every call its own deadline, so an endpoint that
// accepts the connection and never answers cannot freeze checkpointing:
// the call fails, and the pipeline retries it.
type deadlineAPI struct {
	api     dynamoAPI
	timeout time.Duration
}

func call[In, Out any](ctx context.Context, d time.Duration, f func(context.Context, In, ...func(*dynamodb.Options)) (Out, error), in In, opts []func(*dynamodb.Options)) (Out, error) {
	cctx, cancel := context.WithTimeoutCause(ctx, d, errNoAnswer)
	defer cancel()
	out, err := f(cctx, in, opts...)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(cctx), errNoAnswer) {
		err = fmt.Errorf("%w within %v (the call timeout): %w", errNoAnswer, d, err)
	}
	return out, err
}

func (a deadlineAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return call(ctx, a.timeout, a.api.GetItem, in, opts)
}

func (a deadlineAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return call(ctx, a.timeout, a.api.UpdateItem, in, opts)
}

func (a deadlineAPI) CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	return call(ctx, a.timeout, a.api.CreateTable, in, opts)
}

func (a deadlineAPI) DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return call(ctx, a.timeout, a.api.DescribeTable, in, opts)
}
