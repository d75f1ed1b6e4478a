package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/internal/testing/awstest"
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

// clock returns a fixed clock reading t.
func clock(t time.Time) func() time.Time { return func() time.Time { return t } }

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
		GTIDSet:   "0-1-42,1-9-7",
		ServerID:  7,
		Timestamp: 1700000000,
		UpdatedAt: time.Date(2026, 5, 1, 12, 0, 0, 123456789, time.UTC),
		History:   []Change{{At: time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC), What: "set", From: "none", To: "gtid 0-1-40"}},
	}
	if err := s.Save(ctx, cp); !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "Acquire") {
		t.Fatalf("Save before Acquire: %v, want ErrFenced naming Acquire", err)
	}
	// The first epoch is the clock in Unix milliseconds.
	acquiredAt := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	s.now = clock(acquiredAt)
	epoch, err := s.Acquire(ctx, "host-a:1")
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(acquiredAt.UnixMilli()); epoch != want || s.Epoch() != want {
		t.Fatalf("first epoch = %d (Epoch() %d), want %d", epoch, s.Epoch(), want)
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
	if !reflect.DeepEqual(got, cp) {
		t.Fatalf("Load = %+v\nwant   %+v", got, cp)
	}

	// Without GTID and commit time, and with no UpdatedAt (the store's
	// clock fills it in).
	s.now = clock(time.Date(2026, 5, 2, 0, 0, 0, 0, time.FixedZone("x", 3600)))
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
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("Load = %+v\nwant   %+v", got, want)
	}

	// The item as people see it in the console.
	out, err := client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("sluice-checkpoints"),
		Key: map[string]types.AttributeValue{"pipeline": &types.AttributeValueMemberS{Value: "p"}}})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"file": "mysql-bin.000004", "file_seq": "4", "offset": "4", "server_id": "7", "epoch": fmt.Sprint(epoch), "owner": "host-a:1"} {
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

	// Snapshot progress rides along with the position, and goes when it is nil.
	cp3 := &Checkpoint{Pipeline: "p", Position: pos("mysql-bin.000005:4"), ServerID: 7, UpdatedAt: want.UpdatedAt,
		Snapshot: &Snapshot{Queue: []string{"db.a", "db.b"}, After: []string{"42", "_utf8mb4 X'61'"}, Rows: 4000,
			Done: []SnapshotDone{{Table: "db.z", Rows: 3, Finished: want.UpdatedAt, Error: "gone"}}},
		Filter: `{"include":["shop.*"]}`}
	if err := s.Save(ctx, cp3); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Load(ctx); err != nil || !reflect.DeepEqual(got, cp3) {
		t.Fatalf("Load = %+v, %v\nwant   %+v", got, err, cp3)
	}
	cp3.Snapshot, cp3.Filter = nil, ""
	if err := s.Save(ctx, cp3); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Load(ctx); err != nil || got.Snapshot != nil || got.Filter != "" {
		t.Fatalf("Load after a save without snapshot progress = %+v, %v", got, err)
	}

	// After a failover the positions are another server's: not ordered
	// with the stored ones. Within that server they are again.
	moved := &Checkpoint{Pipeline: "p", Position: pos("mysql-bin.000001:900"), ServerID: 8, GTIDSet: "0-7-99", UpdatedAt: want.UpdatedAt}
	if err := s.Save(ctx, moved); err != nil {
		t.Fatalf("Save on another server at a lower position: %v", err)
	}
	back := *moved
	back.Position = pos("mysql-bin.000001:400")
	if err := s.Save(ctx, &back); !errors.Is(err, ErrPositionBackwards) {
		t.Fatalf("Save backwards on the same server: %v, want ErrPositionBackwards", err)
	}

	// The generation is kept, and goes when it is 0 again. A later
	// generation on the same server is not ordered with the stored
	// position either (checkpoint set --pos back onto a server left
	// before); within the generation positions are ordered again.
	gen := *moved
	gen.Generation = 3
	if err := s.Save(ctx, &gen); err != nil {
		t.Fatal(err)
	}
	if got, err = s.Load(ctx); err != nil || !reflect.DeepEqual(got, &gen) {
		t.Fatalf("Load = %+v, %v\nwant   %+v", got, err, &gen)
	}
	next := gen
	next.Generation, next.Position = 4, pos("mysql-bin.000001:100")
	if err := s.Save(ctx, &next); err != nil {
		t.Fatalf("Save of a later generation at a lower position on the same server: %v", err)
	}
	next.Position = pos("mysql-bin.000001:50")
	if err := s.Save(ctx, &next); !errors.Is(err, ErrPositionBackwards) {
		t.Fatalf("Save backwards within a generation: %v, want ErrPositionBackwards", err)
	}
	// An earlier generation is refused wherever its position is, on
	// this server or another.
	for _, srv := range []uint32{next.ServerID, next.ServerID + 7} {
		old := next
		old.Generation, old.ServerID, old.Position = 3, srv, pos("mysql-bin.000009:900")
		if err := s.Save(ctx, &old); !errors.Is(err, ErrPositionBackwards) {
			t.Fatalf("Save of an earlier generation (server %d) at a higher position: %v, want ErrPositionBackwards", srv, err)
		}
	}
	if got, err = s.Load(ctx); err != nil || got.Generation != 4 || got.Position != pos("mysql-bin.000001:100") {
		t.Fatalf("Load = %+v, %v: want generation 4 at mysql-bin.000001:100", got, err)
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
	if !Permanent(err) {
		t.Fatalf("Permanent(%v) = false, want true", err)
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
	ea, err := a.Acquire(ctx, "a")
	if err != nil {
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
	if eb <= ea {
		t.Fatalf("second epoch %d is not above the first, %d", eb, ea)
	}

	// a lost the pipeline: it cannot move the checkpoint, forwards or not.
	for _, p := range []string{"mysql-bin.000001:200", "mysql-bin.000009:4", "mysql-bin.000001:100"} {
		err := a.Save(ctx, &Checkpoint{Position: pos(p), ServerID: 1})
		if !errors.Is(err, ErrFenced) || !Permanent(err) {
			t.Fatalf("stale Save at %s: %v, want ErrFenced", p, err)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("b holds epoch %d", eb)) {
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

	// A store serves one term: a second Acquire on a is refused, so it
	// cannot un-fence goroutines still saving through it.
	if e, err := a.Acquire(ctx, "a"); err == nil || !strings.Contains(err.Error(), "already holds epoch") {
		t.Fatalf("second Acquire on one store: %d, %v; want an error", e, err)
	}
	if a.Epoch() != ea {
		t.Fatalf("refused Acquire changed the epoch from %d to %d", ea, a.Epoch())
	}
	// a's process takes the pipeline back with a new store, for a new
	// term: that fences b, and a's old store stays fenced.
	a2 := otherStore(t, client)
	ea2, err := a2.Acquire(ctx, "a")
	if err != nil || ea2 <= eb {
		t.Fatalf("new term: %d, %v; want an epoch above %d", ea2, err, eb)
	}
	for name, st := range map[string]*DynamoStore{"b": b, "a's old store": a} {
		if err := st.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:400"), ServerID: 1}); !errors.Is(err, ErrFenced) {
			t.Fatalf("%s after the new term: %v, want ErrFenced", name, err)
		}
	}
	if err := a2.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:400"), ServerID: 1}); err != nil {
		t.Fatal(err)
	}
}

// TestDynamoItemDeleted: a Save after the item was deleted is fenced, and
// an Acquire on the recreated item gets an epoch above every earlier one
// (from the clock), so the old writer stays fenced.
func TestDynamoItemDeleted(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	_, client, a := newDynamo(t)
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	a.now = clock(t0)
	ea, err := a.Acquire(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:100"), ServerID: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("sluice-checkpoints"),
		Key: map[string]types.AttributeValue{"pipeline": str("p")}}); err != nil {
		t.Fatal(err)
	}
	err = a.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:200"), ServerID: 1})
	if !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "item is gone") {
		t.Fatalf("Save after the item was deleted: %v, want ErrFenced saying the item is gone", err)
	}
	if _, err := a.Load(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load after the item was deleted: %v, want ErrNotFound", err)
	}

	b := otherStore(t, client)
	b.now = clock(t0.Add(5 * time.Millisecond))
	eb, err := b.Acquire(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if eb != ea+5 {
		t.Fatalf("epoch on the recreated item = %d, want %d (the clock), above the old %d", eb, ea+5, ea)
	}
	err = a.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:300"), ServerID: 1})
	if !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), fmt.Sprintf("b holds epoch %d", eb)) {
		t.Fatalf("old writer after the item was recreated: %v, want ErrFenced", err)
	}
	if err := b.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:300"), ServerID: 1}); err != nil {
		t.Fatal(err)
	}

	// A clock behind the stored epoch does not matter: stored+1 wins.
	c := otherStore(t, client)
	c.now = clock(t0.Add(-time.Hour))
	if ec, err := c.Acquire(ctx, "c"); err != nil || ec != eb+1 {
		t.Fatalf("Acquire with a slow clock: %d, %v; want %d", ec, err, eb+1)
	}
}

// TestDynamoCorruptItem: an item whose file_seq disagrees with its file
// name, or is not a number, is reported as ErrCorrupt by Load and by a
// refused Save, and Load says how to start over without losing the epoch.
func TestDynamoCorruptItem(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	_, client, s := newDynamo(t)
	if _, err := s.Acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000001:100"), ServerID: 1}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []types.AttributeValue{num(99), str("1")} {
		if _, err := client.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("sluice-checkpoints"),
			Key:                       map[string]types.AttributeValue{"pipeline": str("p")},
			UpdateExpression:          aws.String("SET file_seq = :bad"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":bad": bad},
		}); err != nil {
			t.Fatal(err)
		}
		_, err := s.Load(ctx)
		if !errors.Is(err, ErrCorrupt) || !Permanent(err) || !strings.Contains(err.Error(), "file_seq") || !strings.Contains(err.Error(), "keep epoch") {
			t.Fatalf("Load with file_seq %v: %v, want ErrCorrupt naming file_seq and telling to keep epoch", bad, err)
		}
		// The condition refuses the write (99 is ahead of 2; a string
		// does not compare with a number); the refusal must not be
		// mistaken for a transient error.
		err = s.Save(ctx, &Checkpoint{Position: pos("mysql-bin.000002:4"), ServerID: 1})
		if !errors.Is(err, ErrCorrupt) || errors.Is(err, ErrPositionBackwards) || errors.Is(err, ErrFenced) {
			t.Fatalf("Save with file_seq %v: %v, want ErrCorrupt", bad, err)
		}
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

// TestDynamoConcurrentAcquire makes every owner read the stored epoch
// before any of them writes, so all but one lose the first conditional
// write and must read again and go above the winner.
func TestDynamoConcurrentAcquire(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	_, client, _ := newDynamo(t)
	const owners = 4
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	var want uint64 // the next epoch: all owners propose the same one first
	for round := range 3 {
		var (
			read     sync.WaitGroup // every owner has read the stored epoch
			mu       sync.Mutex
			refusals int
		)
		read.Add(owners)
		stores := make([]*DynamoStore, owners)
		epochs := make([]uint64, owners)
		errs := make([]error, owners)
		for i := range stores {
			var first sync.Once
			f := &fakeDynamo{dynamoAPI: client, updateItem: func(ctx context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
				first.Do(func() { read.Done(); read.Wait() })
				out, err := client.UpdateItem(ctx, in)
				var ccf *types.ConditionalCheckFailedException
				if errors.As(err, &ccf) {
					mu.Lock()
					refusals++
					mu.Unlock()
				}
				return out, err
			}}
			s, err := NewDynamoStore(ctx, f, DynamoConfig{Table: "sluice-checkpoints", Pipeline: "p"})
			if err != nil {
				t.Fatal(err)
			}
			s.now = clock(t0)
			stores[i] = s
		}
		var wg sync.WaitGroup
		for i := range stores {
			wg.Go(func() {
				epochs[i], errs[i] = stores[i].Acquire(ctx, fmt.Sprintf("owner-%d", i))
			})
		}
		wg.Wait()
		if round == 0 {
			want = uint64(t0.UnixMilli())
		}
		seen := map[uint64]bool{}
		top := 0
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: owner %d: %v", round, i, err)
			}
			seen[epochs[i]] = true
			if epochs[i] > epochs[top] {
				top = i
			}
		}
		for e := want; e < want+owners; e++ {
			if !seen[e] {
				t.Fatalf("round %d: epochs %v, want %d..%d once each", round, epochs, want, want+owners-1)
			}
		}
		want += owners
		if refusals < owners-1 {
			t.Fatalf("round %d: %d refused epoch claims, want at least %d: the owners did not race", round, refusals, owners-1)
		}
		// Only the last to acquire, with the highest epoch, may save.
		for i, s := range stores {
			err := s.Save(ctx, &Checkpoint{Position: event.Position{File: "mysql-bin.000001", Offset: uint64(100*round + i)}, ServerID: 1})
			switch {
			case i == top && err != nil:
				t.Fatalf("round %d: owner %d with the highest epoch %d: %v", round, i, epochs[i], err)
			case i != top && !errors.Is(err, ErrFenced):
				t.Fatalf("round %d: owner %d (epoch %d, highest %d): %v, want ErrFenced", round, i, epochs[i], epochs[top], err)
			}
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
	epoch, err := s.Acquire(ctx, "a")
	if err != nil {
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
		if err == nil || Permanent(err) {
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
	if s.Epoch() != epoch {
		t.Fatalf("epoch changed from %d to %d", epoch, s.Epoch())
	}
}

// fakeDynamo sends UpdateItem to updateItem and every other call to the
// embedded dynamoAPI (a nil one panics).
type fakeDynamo struct {
	dynamoAPI
	updateItem func(context.Context, *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error)
}

func (f *fakeDynamo) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return f.updateItem(ctx, in)
}

// fakeGet sends GetItem to getItem and every other call to the embedded
// dynamoAPI (a nil one panics).
type fakeGet struct {
	dynamoAPI
	getItem func(context.Context, *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error)
}

func (f *fakeGet) GetItem(ctx context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	return f.getItem(ctx, in)
}

// refusedWith returns an UpdateItem that fails its condition and returns
// item, as DynamoDB does (dynalite returns no item).
func refusedWith(t *testing.T, item map[string]types.AttributeValue) func(context.Context, *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
	return func(_ context.Context, in *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
		if in.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
			t.Errorf("ReturnValuesOnConditionCheckFailure = %q", in.ReturnValuesOnConditionCheckFailure)
		}
		return nil, &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed"), Item: item}
	}
}

// fakeStore returns a store over api that holds epoch as owner "me", as
// if Acquire had claimed it.
func fakeStore(t *testing.T, api dynamoAPI, epoch uint64) *DynamoStore {
	t.Helper()
	s, err := NewDynamoStore(t.Context(), api, DynamoConfig{Table: "t", Pipeline: "p"})
	if err != nil {
		t.Fatal(err)
	}
	s.claiming, s.epoch, s.owner = true, epoch, "me"
	return s
}

// TestDynamoRefusalUsesReturnedItem: DynamoDB returns the item with a failed
// condition (dynalite does not), which saves the read; the embedded nil
// dynamoAPI panics if GetItem is called.
func TestDynamoRefusalUsesReturnedItem(t *testing.T) {
	item := map[string]types.AttributeValue{
		"pipeline": str("p"), "epoch": num(9), "owner": str("elsewhere"),
		"file": str("mysql-bin.000002"), "file_seq": num(2), "offset": num(4), "server_id": num(1),
	}
	f := &fakeDynamo{updateItem: refusedWith(t, item)}
	err := fakeStore(t, f, 8).Save(t.Context(), &Checkpoint{Position: pos("mysql-bin.000003:4")})
	if !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "elsewhere holds epoch 9") {
		t.Fatalf("Save: %v, want ErrFenced naming the new owner", err)
	}
	err = fakeStore(t, f, 9).Save(t.Context(), &Checkpoint{Position: pos("mysql-bin.000001:4")})
	if !errors.Is(err, ErrPositionBackwards) || !strings.Contains(err.Error(), "mysql-bin.000002:4") {
		t.Fatalf("Save: %v, want ErrPositionBackwards naming the stored position", err)
	}
}

// TestDynamoUnexplainedRefusal: a refusal that neither the epoch nor the
// position explains, or an item that cannot be decoded, halts with
// ErrCorrupt rather than looking like a transient error.
func TestDynamoUnexplainedRefusal(t *testing.T) {
	item := func(kv ...any) map[string]types.AttributeValue {
		m := map[string]types.AttributeValue{"pipeline": str("p"), "epoch": num(9), "owner": str("me")}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(types.AttributeValue)
		}
		return m
	}
	for _, tc := range []struct {
		name string
		item map[string]types.AttributeValue
		want string
	}{
		{"position not ahead", item("file", str("mysql-bin.000002"), "file_seq", num(2), "offset", num(4), "server_id", num(1)),
			"stored position mysql-bin.000002:4 is not ahead"},
		{"no position", item(), "no position is stored"},
		{"file_seq disagrees", item("file", str("mysql-bin.000002"), "file_seq", num(7), "offset", num(4), "server_id", num(1)),
			"file_seq is 7 but file mysql-bin.000002 has sequence number 2"},
		{"file_seq missing", item("file", str("mysql-bin.000002"), "offset", num(4), "server_id", num(1)),
			"file_seq is missing"},
		{"file missing", item("file_seq", num(2), "offset", num(4), "server_id", num(1)),
			"file is not a non-empty string"},
		{"epoch not a number", map[string]types.AttributeValue{"pipeline": str("p"), "epoch": str("9")},
			"epoch is missing or not a number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeDynamo{updateItem: refusedWith(t, tc.item)}
			err := fakeStore(t, f, 9).Save(t.Context(), &Checkpoint{Position: pos("mysql-bin.000003:4")})
			if !errors.Is(err, ErrCorrupt) || !Permanent(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Save: %v\nwant ErrCorrupt saying %q", err, tc.want)
			}
		})
	}
}

// TestDynamoLoadChecksFileSeq: Load refuses an item whose file_seq
// disagrees with its file name.
func TestDynamoLoadChecksFileSeq(t *testing.T) {
	f := &fakeGet{getItem: func(context.Context, *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
		return &dynamodb.GetItemOutput{Item: map[string]types.AttributeValue{
			"pipeline": str("p"), "epoch": num(9), "owner": str("me"),
			"file": str("mysql-bin.1000000"), "file_seq": num(100000), "offset": num(4), "server_id": num(1),
		}}, nil
	}}
	_, err := fakeStore(t, f, 9).Load(t.Context())
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "file_seq is 100000") {
		t.Fatalf("Load: %v, want ErrCorrupt naming file_seq", err)
	}
}

// TestDynamoAcquireOnce: Acquire on a store that is acquiring or has
// acquired fails; after a failed Acquire the store may try again.
func TestDynamoAcquireOnce(t *testing.T) {
	gets := 0
	inGet, release := make(chan struct{}), make(chan struct{})
	f := &fakeGet{getItem: func(ctx context.Context, _ *dynamodb.GetItemInput) (*dynamodb.GetItemOutput, error) {
		gets++
		switch gets {
		case 1:
			return nil, errors.New("connection refused")
		case 2:
			close(inGet)
			<-release
		}
		return &dynamodb.GetItemOutput{}, nil
	}}
	s, err := NewDynamoStore(t.Context(), &fakeDynamo{dynamoAPI: f, updateItem: func(context.Context, *dynamodb.UpdateItemInput) (*dynamodb.UpdateItemOutput, error) {
		return &dynamodb.UpdateItemOutput{}, nil
	}}, DynamoConfig{Table: "t", Pipeline: "p"})
	if err != nil {
		t.Fatal(err)
	}
	s.now = clock(time.UnixMilli(1000))
	if _, err := s.Acquire(t.Context(), "me"); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("first Acquire: %v, want the read error", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.Acquire(t.Context(), "me")
		done <- err
	}()
	<-inGet
	if _, err := s.Acquire(t.Context(), "me"); err == nil || !strings.Contains(err.Error(), "under way") {
		t.Fatalf("Acquire during another: %v, want an error", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Acquire after a failed one: %v", err)
	}
	if s.Epoch() != 1000 {
		t.Fatalf("epoch = %d, want 1000", s.Epoch())
	}
	if _, err := s.Acquire(t.Context(), "me"); err == nil || !strings.Contains(err.Error(), "already holds epoch 1000") {
		t.Fatalf("second Acquire: %v, want an error", err)
	}
}

func TestPermanent(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("save: %w", ErrFenced), true},
		{fmt.Errorf("save: %w", ErrPositionBackwards), true},
		{fmt.Errorf("save: %w", ErrCorrupt), true},
		{fmt.Errorf("read: %w", &types.ResourceNotFoundException{Message: aws.String("no table")}), true},
		{&smithy.OperationError{ServiceID: "DynamoDB", OperationName: "UpdateItem", Err: &smithy.GenericAPIError{Code: "ValidationException"}}, true},
		{&smithy.GenericAPIError{Code: "AccessDeniedException"}, true},
		{&smithy.GenericAPIError{Code: "UnrecognizedClientException"}, true},
		{&smithy.GenericAPIError{Code: "ThrottlingException"}, false},
		{&types.ProvisionedThroughputExceededException{}, false},
		{&types.RequestLimitExceeded{}, false},
		{&types.InternalServerError{}, false},
		{&smithy.GenericAPIError{Code: "ServiceUnavailable", Fault: smithy.FaultServer}, false},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, false},
		{context.DeadlineExceeded, false},
		{ErrNotFound, false},
		{nil, false},
	} {
		if got := Permanent(tc.err); got != tc.want {
			t.Errorf("Permanent(%T %v) = %v, want %v", tc.err, tc.err, got, tc.want)
		}
	}
}

// TestDynamoTermFence: in a cluster each store serves one Raft term; a claim
// from an older term than the last claim's is refused, whenever it
// arrives — a deposed leader whose Acquire lands late cannot take the
// pipeline back — while the same or a newer term may claim.
func TestDynamoTermFence(t *testing.T) {
	ctx := testCtx(t)
	_, client, first := newDynamo(t)
	first.SetTerm(5)
	if _, err := first.Acquire(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if err := first.Save(ctx, &Checkpoint{Pipeline: "p", Position: pos("mysql-bin.000001:100")}); err != nil {
		t.Fatal(err)
	}
	successor := otherStore(t, client)
	successor.SetTerm(6)
	if _, err := successor.Acquire(ctx, "n2"); err != nil {
		t.Fatal(err)
	}
	late := otherStore(t, client) // the deposed leader, in its term, late
	late.SetTerm(5)
	if _, err := late.Acquire(ctx, "n1"); !errors.Is(err, ErrFenced) {
		t.Fatalf("a claim from term 5 after term 6 claimed: %v, want ErrFenced", err)
	}
	if err := first.Save(ctx, &Checkpoint{Pipeline: "p", Position: pos("mysql-bin.000001:200")}); !errors.Is(err, ErrFenced) {
		t.Fatalf("the deposed leader's save: %v, want ErrFenced", err)
	}
	if err := successor.Save(ctx, &Checkpoint{Pipeline: "p", Position: pos("mysql-bin.000001:300")}); err != nil {
		t.Fatalf("the successor's save: %v", err)
	}
	again := otherStore(t, client) // the successor retrying in its own term
	again.SetTerm(6)
	if _, err := again.Acquire(ctx, "n2"); err != nil {
		t.Fatalf("a second claim in the same term: %v", err)
	}
	cp, err := again.Load(ctx)
	if err != nil || cp.Position != pos("mysql-bin.000001:300") {
		t.Fatalf("checkpoint %+v, %v", cp, err)
	}
}
