package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/internal/awstest"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// newDynamo starts dynalite and returns a store for pipeline "p" in a
// table it creates, and the client.
func newDynamo(t *testing.T) (*awstest.Env, *dynamodb.Client, *DynamoStore) {
	t.Helper()
	env := awstest.StartDynamo(t)
	client := env.DynamoDBClient()
	s, err := NewDynamoStore(testCtx(t), client, DynamoConfig{Table: "sluice-checkpoints", Pipeline: "p", CreateTable: true})
	if err != nil {
		t.Fatal(err)
	}
	return env, client, s
}

func otherStore(t *testing.T, client *dynamodb.Client) *DynamoStore {
	t.Helper()
	s, err := NewDynamoStore(testCtx(t), client, DynamoConfig{Table: "sluice-checkpoints", Pipeline: "p"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func pos(s string) event.Position {
	p, err := event.ParsePosition(s)
	if err != nil {
		panic(err)
	}
	return p
}

func TestDynamoRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	_, client, s := newDynamo(t)

	if _, err := s.Load(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load on an empty table: %v, want ErrNotFound", err)
	}
	cp := &Checkpoint{
		Pipeline:  "p",
		Position:  pos("mysql-bin.000003:4711"),
		GTID:      "0-1-42",
		ServerID:  7,
		Timestamp: 1700000000,
		UpdatedAt: time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC),
	}
	if err := s.Save(ctx, cp); err == nil || !strings.Contains(err.Error(), "Acquire") {
		t.Fatalf("Save before Acquire: %v, want an error naming Acquire", err)
	}
	epoch, err := s.Acquire(ctx, "host-a:1")
	if err != nil {
		t.Fatal(err)
	}
	if epoch != 1 || s.Epoch() != 1 {
		t.Fatalf("first epoch = %d (Epoch() %d), want 1", epoch, s.Epoch())
	}
	// Acquire made the item, but there is no checkpoint in it yet.
	if _, err := s.Load(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load after Acquire: %v, want ErrNotFound", err)
	}
	if err := s.Save(ctx, cp); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *cp {
		t.Fatalf("Load = %+v\nwant   %+v", got, cp)
	}

	// Without GTID and commit time, and with no UpdatedAt (the store's
	// clock fills it in).
	s.now = func() time.Time { return time.Date(2026, 5, 2, 0, 0, 0, 0, time.FixedZone("x", 3600)) }
	cp2 := &Checkpoint{Pipeline: "p", Position: pos("mysql-bin.000004:4"), ServerID: 7}
	if err := s.Save(ctx, cp2); err != nil {
		t.Fatal(err)
	}
	got, err = otherStore(t, client).Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := *cp2
	want.UpdatedAt = time.Date(2026, 5, 1, 23, 0, 0, 0, time.UTC)
	if *got != want {
		t.Fatalf("Load = %+v\nwant   %+v", got, want)
	}

	// The item as people see it in the console.
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("sluice-checkpoints"),
		Key: map[string]types.AttributeValue{"pipeline": &types.AttributeValueMemberS{Value: "p"}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"file": "mysql-bin.000004", "file_seq": "4", "offset": "4", "server_id": "7", "epoch": "1", "owner": "host-a:1"} {
		var v string
		switch a := out.Item[name].(type) {
		case *types.AttributeValueMemberS:
			v = a.Value
		case *types.AttributeValueMemberN:
			v = a.Value
		}
		if v != want {
			t.Errorf("item attribute %s = %q, want %q", name, v, want)
		}
	}
	for _, gone := range []string{"gtid", "ts"} {
		if _, ok := out.Item[gone]; ok {
			t.Errorf("item still has %s: %v", gone, out.Item)
		}
	}

	// Creating the table again is a no-op.
	if _, err := NewDynamoStore(ctx, client, DynamoConfig{Table: "sluice-checkpoints", Pipeline: "p", CreateTable: true}); err != nil {
		t.Fatal(err)
	}
}

func TestDynamoMissingTable(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	env := awstest.StartDynamo(t)
	s, err := NewDynamoStore(ctx, env.DynamoDBClient(), DynamoConfig{Table: "nope", Pipeline: "p"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(ctx)
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), "table nope not found") {
		t.Fatalf("Load from a missing table: %v", err)
	}
}

func TestDynamoConfigValidate(t *testing.T) {
	cfg := DynamoConfig{CreateTimeout: -1}
	err := cfg.Validate()
	for _, want := range []string{"table is empty", "pipeline is empty", "negative"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to say %q", err, want)
		}
	}
}

func TestDynamoStaleEpochIsFenced(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	_, client, a := newDynamo(t)
	if _, err := a.Acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := a.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:100"), ServerID: 1}); err != nil {
		t.Fatal(err)
	}
	b := otherStore(t, client)
	eb, err := b.Acquire(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if eb != 2 {
		t.Fatalf("second epoch = %d, want 2", eb)
	}

	// a lost the pipeline: it cannot move the checkpoint, forwards or not.
	for _, p := range []string{"mysql-bin.000001:200", "mysql-bin.000009:4", "mysql-bin.000001:100"} {
		err := a.Save(ctx, &Checkpoint{Position: pos(p), ServerID: 1})
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("stale Save at %s: %v, want ErrFenced", p, err)
		}
		if !strings.Contains(err.Error(), "b holds epoch 2") {
			t.Errorf("fenced error lacks the new owner: %v", err)
		}
	}
	got, err := b.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Position != pos("mysql-bin.000001:100") {
		t.Fatalf("stale writer moved the checkpoint to %s", got.Position)
	}
	// b continues from the stored checkpoint.
	if err := b.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:300"), ServerID: 1}); err != nil {
		t.Fatal(err)
	}
	// a acquiring again fences b in turn.
	if ea, err := a.Acquire(ctx, "a"); err != nil || ea != 3 {
		t.Fatalf("re-acquire: %d, %v; want epoch 3", ea, err)
	}
	if err := b.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:400"), ServerID: 1}); !errors.Is(err, ErrFenced) {
		t.Fatalf("b after a re-acquired: %v, want ErrFenced", err)
	}
	if err := a.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:400"), ServerID: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestDynamoPositionsNeverMoveBackwards(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	_, _, s := newDynamo(t)
	if _, err := s.Acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		pos       string
		backwards bool
	}{
		{"mysql-bin.000005:1000", false},
		{"mysql-bin.000005:1000", false}, // the same position again
		{"mysql-bin.000005:999", true},
		{"mysql-bin.000004:99999", true},
		{"mysql-bin.000005:2000", false},
		{"mysql-bin.000006:4", false},
		// Sequence numbers compare as numbers, not strings.
		{"mysql-bin.999999:500", false},
		{"mysql-bin.1000000:4", false},
		{"mysql-bin.999999:900", true},
		{"mysql-bin.1000000:3", true},
		{"mysql-bin.1000000:5", false},
		// Same sequence number, another base name: the names decide, as
		// in event.Position.Compare.
		{"zz-bin.1000000:1", false},
		{"mysql-bin.1000000:9", true},
		{"zz-bin.1000000:2", false},
	}
	stored := ""
	for _, st := range steps {
		if stored != "" && (pos(st.pos).Compare(pos(stored)) < 0) != st.backwards {
			t.Fatalf("test step %s after %s disagrees with event.Position.Compare", st.pos, stored)
		}
		err := s.Save(ctx, &Checkpoint{Position: pos(st.pos), ServerID: 1})
		switch {
		case st.backwards && !errors.Is(err, ErrPositionBackwards):
			t.Fatalf("Save %s after %s: %v, want ErrPositionBackwards", st.pos, stored, err)
		case st.backwards && !strings.Contains(err.Error(), "stored position is "+stored):
			t.Errorf("backwards error lacks the stored position %s: %v", stored, err)
		case !st.backwards && err != nil:
			t.Fatalf("Save %s after %s: %v", st.pos, stored, err)
		case !st.backwards:
			stored = st.pos
		}
		got, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got.Position.String() != stored {
			t.Fatalf("after Save %s: stored %s, want %s", st.pos, got.Position, stored)
		}
	}
}

func TestDynamoConcurrentAcquire(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	_, client, _ := newDynamo(t)
	const owners = 4
	for round := range 3 {
		stores := make([]*DynamoStore, owners)
		epochs := make([]uint64, owners)
		errs := make([]error, owners)
		for i := range stores {
			stores[i] = otherStore(t, client)
		}
		var wg sync.WaitGroup
		for i := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				epochs[i], errs[i] = stores[i].Acquire(ctx, fmt.Sprintf("owner-%d", i))
			}()
		}
		wg.Wait()
		seen := map[uint64]bool{}
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: owner %d: %v", round, i, err)
			}
			if seen[epochs[i]] {
				t.Fatalf("round %d: epochs %v are not distinct", round, epochs)
			}
			seen[epochs[i]] = true
		}
		saved := 0
		for i, s := range stores {
			err := s.Save(ctx, &Checkpoint{Position: event.Position{File: "mysql-bin.000001", Offset: uint64(100*round + i)}, ServerID: 1})
			switch {
			case err == nil:
				saved++
			case !errors.Is(err, ErrFenced):
				t.Fatalf("round %d: owner %d (epoch %d): %v, want nil or ErrFenced", round, i, epochs[i], err)
			}
		}
		if saved != 1 {
			t.Fatalf("round %d: %d of the owners with epochs %v could save, want exactly 1", round, saved, epochs)
		}
	}
}

// TestDynamoOutage: while dynalite is down Save fails with an error that is
// neither ErrFenced nor ErrPositionBackwards; after a restart on the same
// endpoint the same store saves again.
func TestDynamoOutage(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	env, _, s := newDynamo(t)
	if _, err := s.Acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:100"), ServerID: 1}); err != nil {
		t.Fatal(err)
	}
	if err := env.DynamoDB.Kill(); err != nil {
		t.Fatal(err)
	}
	downUntil := time.Now().Add(2 * time.Second)
	for i := 0; time.Now().Before(downUntil); i++ {
		sctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		err := s.Save(sctx, &Checkpoint{Position: event.Position{File: "mysql-bin.000001", Offset: uint64(200 + i)}, ServerID: 1})
		cancel()
		if err == nil || errors.Is(err, ErrFenced) || errors.Is(err, ErrPositionBackwards) {
			t.Fatalf("Save while dynalite is down: %v, want a transient error", err)
		}
		if i == 0 {
			t.Logf("Save while down: %v", err)
		}
	}
	if err := env.DynamoDB.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:300"), ServerID: 1}); err != nil {
		t.Fatalf("Save after restart: %v", err)
	}
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Position != pos("mysql-bin.000001:300") {
		t.Fatalf("after restart: stored %s", got.Position)
	}
	if s.Epoch() != 1 {
		t.Fatalf("epoch changed to %d", s.Epoch())
	}
}

// fakeDynamo fakes the calls Save makes on a refusal.
type fakeDynamo struct {
	dynamoAPI
	updateItem func(*dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error)
}

func (f *fakeDynamo) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return f.updateItem(in)
}

// TestDynamoRefusalUsesReturnedItem: DynamoDB returns the item with a failed
// condition (dynalite does not), which saves the read; the embedded nil
// dynamoAPI panics if GetItem is called.
func TestDynamoRefusalUsesReturnedItem(t *testing.T) {
	f := &fakeDynamo{updateItem: func(in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
		if in.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
			t.Errorf("ReturnValuesOnConditionCheckFailure = %q", in.ReturnValuesOnConditionCheckFailure)
		}
		return nil, &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed"), Item: map[string]types.AttributeValue{
			"pipeline": str("p"), "epoch": num(9), "owner": str("elsewhere"),
			"file": str("mysql-bin.000002"), "file_seq": num(2), "offset": num(4), "server_id": num(1),
		}}
	}}
	s, err := NewDynamoStore(t.Context(), f, DynamoConfig{Table: "t", Pipeline: "p"})
	if err != nil {
		t.Fatal(err)
	}
	s.epoch, s.owner = 8, "me"
	err = s.Save(t.Context(), &Checkpoint{Position: pos("mysql-bin.000003:4")})
	if !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "elsewhere holds epoch 9") {
		t.Fatalf("Save: %v, want ErrFenced naming the new owner", err)
	}
	s.epoch = 9
	err = s.Save(t.Context(), &Checkpoint{Position: pos("mysql-bin.000001:4")})
	if !errors.Is(err, ErrPositionBackwards) || !strings.Contains(err.Error(), "mysql-bin.000002:4") {
		t.Fatalf("Save: %v, want ErrPositionBackwards naming the stored position", err)
	}
}
