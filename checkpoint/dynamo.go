package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sluicecdc/sluice/event"
	"github.com/sluicecdc/sluice/event/position"
)

// dynamoAPI is the part of the DynamoDB client DynamoStore uses.
// *dynamodb.Client implements it.
type dynamoAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	CreateTable(context.Context, *dynamodb.CreateTableInput, ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
	DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// DynamoConfig configures a DynamoStore.
type DynamoConfig struct {
	// Table is the DynamoDB table; its partition key is "pipeline" (S).
	Table string
	// Pipeline names the pipeline: the item's key.
	Pipeline string
	// CreateTable creates the table (on-demand billing) when it does not
	// exist, and waits until it is active.
	CreateTable bool
	// CreateTimeout bounds the wait for a created table (default 5m).
	CreateTimeout time.Duration
	// CallTimeout bounds each call to DynamoDB, the SDK's retries
	// included (default DefaultCallTimeout).
	CallTimeout time.Duration
}

// Validate checks the configuration.
func (c *DynamoConfig) Validate() error {
	var errs []error
	if c.Table == "" {
		errs = append(errs, errors.New("dynamodb checkpoint: table is empty"))
	}
	if c.Pipeline == "" {
		errs = append(errs, errors.New("dynamodb checkpoint: pipeline is empty"))
	}
	if c.CreateTimeout < 0 {
		errs = append(errs, fmt.Errorf("dynamodb checkpoint: create timeout %v is negative", c.CreateTimeout))
	}
	if c.CallTimeout < 0 {
		errs = append(errs, fmt.Errorf("dynamodb checkpoint: call timeout %v is negative", c.CallTimeout))
	}
	return errors.Join(errs...)
}

// Item attribute names. Positions are stored twice: as file and offset for
// people, and as file_seq (position.FileSeq of the file) so that a condition
// expression can order them the way event.Position.Compare does.
const (
	attrPipeline  = "pipeline"
	attrFile      = "file"
	attrFileSeq   = "file_seq"
	attrOffset    = "offset"
	attrGTID      = "gtid"
	attrServerID  = "server_id"
	attrTS        = "ts"
	attrUpdatedAt = "updated_at"
	attrEpoch     = "epoch"
	attrOwner     = "owner"
	attrTerm      = "term"     // Raft term of the last claim, in a cluster
	attrSavedBy   = "saved_by" // owner of the store that last saved
	attrSnapshot  = "snapshot" // JSON of Checkpoint.Snapshot
	attrGTIDSet   = "gtid_set"
	attrHistory   = "history" // JSON of Checkpoint.History
	attrFilter    = "filter"  // Checkpoint.Filter
	attrEmitted   = "emitted" // Checkpoint.Emitted
	attrGen       = "generation"
)

// DynamoStore keeps a pipeline's checkpoint in one DynamoDB item, with
// fencing: see FencingStore. Each write is a single conditional UpdateItem
// (no transactions), so it is atomic. Load reads consistently.
//
// A DynamoStore serves one leadership term: Acquire succeeds at most once
// on it, and every Save carries the epoch that Acquire returned. The
// pipeline creates a new store for each term, so a goroutine left over from
// a lost term keeps its old epoch and stays fenced.
//
// Epochs are max(stored epoch + 1, the acquiring host's clock in Unix
// milliseconds), so they keep growing even when the item is deleted and
// created again, as long as the hosts' clocks are not further apart than
// the time since the older Acquire.
//
// Errors for which Permanent is false (throttling, network, an unreachable
// endpoint) leave the stored checkpoint as it was, or as this Save wrote
// it; the call may be retried.
type DynamoStore struct {
	api dynamoAPI
	cfg DynamoConfig
	now func() time.Time

	mu       sync.Mutex
	claiming bool   // an Acquire is under way or has succeeded
	epoch    uint64 // the fencing token: 0 until Acquire succeeds, then fixed
	owner    string
	// term, when set, is the Raft term of the leadership this store serves:
	// Acquire refuses to claim the pipeline when a newer term has, so a
	// deposed leader whose claim arrives late cannot take it back.
	term uint64
}

// SetTerm ties the store to a leadership term; call it before Acquire.
func (s *DynamoStore) SetTerm(term uint64) {
	s.mu.Lock()
	s.term = term
	s.mu.Unlock()
}

var _ FencingStore = (*DynamoStore)(nil)

// NewDynamoStore returns a store for cfg.Pipeline in cfg.Table, creating
// the table first when cfg.CreateTable is set. client is usually a
// *dynamodb.Client.
func NewDynamoStore(ctx context.Context, client dynamoAPI, cfg DynamoConfig) (*DynamoStore, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.CreateTimeout == 0 {
		cfg.CreateTimeout = 5 * time.Minute
	}
	if cfg.CallTimeout == 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	s := &DynamoStore{api: deadlineAPI{api: client, timeout: cfg.CallTimeout}, cfg: cfg, now: time.Now}
	if cfg.CreateTable {
		if err := s.createTable(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Epoch returns the epoch Acquire claimed (0 before it succeeded).
func (s *DynamoStore) Epoch() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.epoch
}

func (s *DynamoStore) key() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{attrPipeline: str(s.cfg.Pipeline)}
}

// createTable creates the table unless it exists and waits until it is
// active.
func (s *DynamoStore) createTable(ctx context.Context) error {
	table := aws.String(s.cfg.Table)
	_, err := s.api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: table})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		_, err = s.api.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            table,
			AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(attrPipeline), AttributeType: types.ScalarAttributeTypeS}},
			KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(attrPipeline), KeyType: types.KeyTypeHash}},
			BillingMode:          types.BillingModePayPerRequest,
		})
		var inUse *types.ResourceInUseException
		if err != nil && !errors.As(err, &inUse) { // in use: another process created it
			return fmt.Errorf("create dynamodb table %s: %w", s.cfg.Table, err)
		}
	case err != nil:
		return fmt.Errorf("describe dynamodb table %s: %w", s.cfg.Table, err)
	}
	w := dynamodb.NewTableExistsWaiter(s.api, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 5 * time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: table}, s.cfg.CreateTimeout); err != nil {
		return fmt.Errorf("wait for dynamodb table %s to become active: %w", s.cfg.Table, err)
	}
	return nil
}

// Load implements Store. It returns ErrNotFound when the pipeline has no
// item, or an item that Acquire created but no Save has filled yet, and
// ErrCorrupt when the stored position cannot be read.
func (s *DynamoStore) Load(ctx context.Context) (*Checkpoint, error) {
	item, err := s.get(ctx)
	if err != nil {
		return nil, err
	}
	if !hasPosition(item) {
		return nil, ErrNotFound
	}
	cp, err := s.decode(item)
	if err != nil {
		return nil, fmt.Errorf("dynamodb checkpoint of pipeline %s in table %s: %w: %v; "+
			"fix the item, or to start over remove its attributes %s, %s, %s, %s, %s, %s and %s but keep %s "+
			"(deleting the item would let epochs start again below the ones already given out)",
			s.cfg.Pipeline, s.cfg.Table, ErrCorrupt, err,
			attrFile, attrFileSeq, attrOffset, attrServerID, attrGTID, attrTS, attrUpdatedAt, attrEpoch)
	}
	return cp, nil
}

// hasPosition reports whether item holds any of the position attributes
// Save writes and its condition reads.
func hasPosition(item map[string]types.AttributeValue) bool {
	return item[attrFile] != nil || item[attrFileSeq] != nil || item[attrOffset] != nil
}

// get reads the item consistently; nil when there is none.
func (s *DynamoStore) get(ctx context.Context) (map[string]types.AttributeValue, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.cfg.Table),
		Key:            s.key(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, s.wrap("read checkpoint", err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return out.Item, nil
}

// wrap names the operation, pipeline and table, and explains a missing
// table.
func (s *DynamoStore) wrap(op string, err error) error {
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return fmt.Errorf("%s of pipeline %s: dynamodb table %s not found (create it with partition key %q of type S, or enable table creation): %w",
			op, s.cfg.Pipeline, s.cfg.Table, attrPipeline, err)
	}
	return fmt.Errorf("%s of pipeline %s in dynamodb table %s: %w", op, s.cfg.Pipeline, s.cfg.Table, err)
}

// maxAcquireAttempts bounds Acquire's read-claim loop; each lost race means
// another process acquired meanwhile.
const maxAcquireAttempts = 10

// Acquire implements FencingStore: it reads the stored epoch and claims
// max(stored+1, now in Unix milliseconds) with a write conditional on the
// epoch still being below that, re-reading and trying again when another
// process got there first. The item is created when missing.
//
// Acquire succeeds at most once per store: a second call fails, whether the
// first has returned or not. A failed Acquire may be retried.
func (s *DynamoStore) Acquire(ctx context.Context, owner string) (uint64, error) {
	if owner == "" {
		return 0, errors.New("acquire checkpoint: empty owner")
	}
	s.mu.Lock()
	if s.claiming {
		held := s.epoch
		s.mu.Unlock()
		if held != 0 {
			return 0, fmt.Errorf("acquire checkpoint of pipeline %s as %s: this store already holds epoch %d; use a new store for each term", s.cfg.Pipeline, owner, held)
		}
		return 0, fmt.Errorf("acquire checkpoint of pipeline %s as %s: another Acquire on this store is under way", s.cfg.Pipeline, owner)
	}
	s.claiming = true
	s.mu.Unlock()

	epoch, err := s.acquire(ctx, owner)

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.claiming = false
		return 0, err
	}
	s.epoch, s.owner = epoch, owner
	return epoch, nil
}

// acquire claims a new epoch in the table.
func (s *DynamoStore) acquire(ctx context.Context, owner string) (uint64, error) {
	for attempt := 0; attempt < maxAcquireAttempts; attempt++ {
		item, err := s.get(ctx)
		if err != nil {
			return 0, err
		}
		stored, _, err := epochOf(item)
		if err != nil {
			return 0, fmt.Errorf("acquire checkpoint of pipeline %s in table %s: stored %v: %w", s.cfg.Pipeline, s.cfg.Table, err, ErrCorrupt)
		}
		// Above the stored epoch, and above any epoch given out before
		// the item was (perhaps) deleted.
		next := stored + 1
		if ms := s.now().UnixMilli(); ms > 0 && uint64(ms) > next {
			next = uint64(ms)
		}
		s.mu.Lock()
		term := s.term
		s.mu.Unlock()
		update := "SET #epoch = :next, #owner = :owner"
		cond := "(attribute_not_exists(#epoch) OR #epoch < :next)"
		names := map[string]string{"#epoch": attrEpoch, "#owner": attrOwner}
		values := map[string]types.AttributeValue{":next": num(next), ":owner": str(owner)}
		if term > 0 {
			if storedTerm, ok := termOf(item); ok && storedTerm > term {
				return 0, fmt.Errorf("acquire checkpoint of pipeline %s in term %d: a newer leader (term %d) holds it: %w", s.cfg.Pipeline, term, storedTerm, ErrFenced)
			}
			update += ", #term = :term"
			cond += " AND (attribute_not_exists(#term) OR #term <= :term)"
			names["#term"] = attrTerm
			values[":term"] = num(term)
		}
		_, err = s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 aws.String(s.cfg.Table),
			Key:                       s.key(),
			UpdateExpression:          aws.String(update),
			ConditionExpression:       aws.String(cond),
			ExpressionAttributeNames:  names,
			ExpressionAttributeValues: values,
		})
		var ccf *types.ConditionalCheckFailedException
		if errors.As(err, &ccf) {
			continue // someone acquired meanwhile: read again, go above them (or find a newer term)
		}
		if err != nil {
			return 0, s.wrap(fmt.Sprintf("acquire epoch %d", next), err)
		}
		return next, nil
	}
	return 0, fmt.Errorf("acquire checkpoint of pipeline %s: lost the race for a new epoch %d times in a row", s.cfg.Pipeline, maxAcquireAttempts)
}

// Save implements Store. The write is conditional on the stored epoch being
// the one this store's Acquire claimed and the stored position not being
// after cp.Position; otherwise it fails with ErrFenced,
// ErrPositionBackwards or, when the item explains neither, ErrCorrupt.
// Saving the stored position again succeeds.
func (s *DynamoStore) Save(ctx context.Context, cp *Checkpoint) error {
	s.mu.Lock()
	epoch, owner := s.epoch, s.owner
	s.mu.Unlock()
	if epoch == 0 {
		return fmt.Errorf("save checkpoint of pipeline %s at %s: Acquire was not called: %w", s.cfg.Pipeline, cp.Position, ErrFenced)
	}
	if cp.Position.File == "" {
		return fmt.Errorf("save checkpoint of pipeline %s: empty binlog file name", s.cfg.Pipeline)
	}
	updated := cp.UpdatedAt
	if updated.IsZero() {
		updated = s.now()
	}
	set := []string{
		"#file = :file", "#file_seq = :file_seq", "#offset = :offset",
		"#server_id = :server_id", "#updated_at = :updated_at", "#saved_by = :saved_by",
	}
	names := map[string]string{
		"#epoch": attrEpoch, "#file": attrFile, "#file_seq": attrFileSeq, "#offset": attrOffset,
		"#server_id": attrServerID, "#updated_at": attrUpdatedAt, "#gtid": attrGTID, "#ts": attrTS,
		"#saved_by": attrSavedBy, "#snapshot": attrSnapshot, "#gtid_set": attrGTIDSet, "#history": attrHistory, "#filter": attrFilter,
		"#emitted": attrEmitted, "#generation": attrGen,
	}
	values := map[string]types.AttributeValue{
		":saved_by":   str(owner),
		":epoch":      num(epoch),
		":file":       str(cp.Position.File),
		":file_seq":   num(position.FileSeq(cp.Position.File)),
		":offset":     num(cp.Position.Offset),
		":server_id":  num(uint64(cp.ServerID)),
		":updated_at": str(updated.UTC().Format(time.RFC3339Nano)),
	}
	// Empty strings and zero timestamps are left out rather than stored.
	var remove []string
	if cp.GTID != "" {
		set = append(set, "#gtid = :gtid")
		values[":gtid"] = str(cp.GTID)
	} else {
		remove = append(remove, "#gtid")
	}
	if cp.GTIDSet != "" {
		set = append(set, "#gtid_set = :gtid_set")
		values[":gtid_set"] = str(cp.GTIDSet)
	} else {
		remove = append(remove, "#gtid_set")
	}
	values[":generation"] = num(uint64(cp.Generation)) // the condition's too
	if cp.Generation != 0 {
		set = append(set, "#generation = :generation")
	} else {
		remove = append(remove, "#generation")
	}
	if len(cp.History) > 0 {
		b, err := json.Marshal(cp.History)
		if err != nil {
			return fmt.Errorf("save checkpoint at %s: history: %w", cp.Position, err)
		}
		set = append(set, "#history = :history")
		values[":history"] = str(string(b))
	} else {
		remove = append(remove, "#history")
	}
	if cp.Timestamp != 0 {
		set = append(set, "#ts = :ts")
		values[":ts"] = num(uint64(cp.Timestamp))
	} else {
		remove = append(remove, "#ts")
	}
	if cp.Snapshot != nil {
		b, err := json.Marshal(cp.Snapshot)
		if err != nil {
			return fmt.Errorf("save checkpoint at %s: snapshot progress: %w", cp.Position, err)
		}
		set = append(set, "#snapshot = :snapshot")
		values[":snapshot"] = str(string(b))
	} else {
		remove = append(remove, "#snapshot")
	}
	if cp.Filter != "" {
		set = append(set, "#filter = :filter")
		values[":filter"] = str(cp.Filter)
	} else {
		remove = append(remove, "#filter")
	}
	if cp.Emitted != "" {
		set = append(set, "#emitted = :emitted")
		values[":emitted"] = str(cp.Emitted)
	} else {
		remove = append(remove, "#emitted")
	}
	update := "SET " + strings.Join(set, ", ")
	if len(remove) > 0 {
		update += " REMOVE " + strings.Join(remove, ", ")
	}
	// The stored position must not be after the new one, ordered as
	// event.Position.Compare orders them: file sequence number, then file
	// name, then offset. Positions of another server (after a failover,
	// resumed by GTID) are not ordered with them, nor are those of a
	// later generation; one of an earlier generation is refused, as
	// Compare orders checkpoints.
	other := ""
	if cp.ServerID != 0 {
		other = "#server_id <> :server_id OR "
	}
	if cp.Generation != 0 {
		other += "attribute_not_exists(#generation) OR #generation < :generation OR "
	}
	cond := "#epoch = :epoch AND (attribute_not_exists(#generation) OR #generation <= :generation) AND (attribute_not_exists(#file_seq) OR " + other + "#file_seq < :file_seq OR " +
		"(#file_seq = :file_seq AND (#file < :file OR (#file = :file AND #offset <= :offset))))"
	_, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.cfg.Table),
		Key:                                 s.key(),
		UpdateExpression:                    aws.String(update),
		ConditionExpression:                 aws.String(cond),
		ExpressionAttributeNames:            names,
		ExpressionAttributeValues:           values,
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	if errors.As(err, &ccf) {
		return s.refused(ctx, cp, epoch, owner, ccf.Item)
	}
	if err != nil {
		return s.wrap(fmt.Sprintf("save checkpoint at %s", cp.Position), err)
	}
	return nil
}

// refused explains a Save whose condition failed, from the item as it was
// (returned with the failure by DynamoDB; read again when the server did
// not return it).
func (s *DynamoStore) refused(ctx context.Context, cp *Checkpoint, epoch uint64, owner string, item map[string]types.AttributeValue) error {
	pos, serverID := cp.Position, cp.ServerID
	if item == nil {
		var err error
		if item, err = s.get(ctx); err != nil {
			return fmt.Errorf("save checkpoint at %s was refused; then: %w", pos, err)
		}
	}
	prefix := fmt.Sprintf("save checkpoint of pipeline %s at %s as %s (epoch %d) in dynamodb table %s", s.cfg.Pipeline, pos, owner, epoch, s.cfg.Table)
	if item == nil {
		return fmt.Errorf("%s: the checkpoint item is gone: %w", prefix, ErrFenced)
	}
	stored, storedOwner, err := epochOf(item)
	if err != nil {
		return fmt.Errorf("%s: stored %v: %w", prefix, err, ErrCorrupt)
	}
	if stored != epoch {
		return fmt.Errorf("%s: %w: %s holds epoch %d", prefix, ErrFenced, storedOwner, stored)
	}
	if hasPosition(item) {
		cur, err := s.decode(item)
		if err != nil {
			return fmt.Errorf("%s: stored position: %v: %w", prefix, err, ErrCorrupt)
		}
		if cur.Generation > cp.Generation || (serverID == 0 || cur.ServerID == serverID) && cur.Generation == cp.Generation && pos.Compare(cur.Position) < 0 {
			return fmt.Errorf("%s: %w: stored position is %s", prefix, ErrPositionBackwards, cur.Position)
		}
		return fmt.Errorf("%s: refused by the table's condition, though the stored epoch is ours and the stored position %s is not ahead: %w", prefix, cur.Position, ErrCorrupt)
	}
	return fmt.Errorf("%s: refused by the table's condition, though the stored epoch is ours and no position is stored: %w", prefix, ErrCorrupt)
}

// epochOf returns the item's epoch (0 when absent) and owner.
func epochOf(item map[string]types.AttributeValue) (uint64, string, error) {
	if item == nil || item[attrEpoch] == nil {
		return 0, "", nil
	}
	epoch, err := getNum(item, attrEpoch)
	if err != nil {
		return 0, "", err
	}
	owner, _ := item[attrOwner].(*types.AttributeValueMemberS)
	if owner == nil {
		return epoch, "", nil
	}
	return epoch, owner.Value, nil
}

func (s *DynamoStore) decode(item map[string]types.AttributeValue) (*Checkpoint, error) {
	file, ok := item[attrFile].(*types.AttributeValueMemberS)
	if !ok || file.Value == "" {
		return nil, fmt.Errorf("attribute %s is not a non-empty string", attrFile)
	}
	cp := &Checkpoint{Pipeline: s.cfg.Pipeline, Position: event.Position{File: file.Value}}
	// Save's condition orders by file_seq: one that disagrees with the file
	// name would let positions move backwards or refuse every Save.
	seq, err := getNum(item, attrFileSeq)
	if err != nil {
		return nil, err
	}
	if want := position.FileSeq(file.Value); seq != want {
		return nil, fmt.Errorf("attribute %s is %d but file %s has sequence number %d", attrFileSeq, seq, file.Value, want)
	}
	if cp.Position.Offset, err = getNum(item, attrOffset); err != nil {
		return nil, err
	}
	sid, err := getNum(item, attrServerID)
	if err != nil {
		return nil, err
	}
	if sid > uint64(^uint32(0)) {
		return nil, fmt.Errorf("attribute %s: %d is out of range", attrServerID, sid)
	}
	cp.ServerID = uint32(sid)
	if item[attrTS] != nil {
		ts, err := getNum(item, attrTS)
		if err != nil {
			return nil, err
		}
		if ts > uint64(^uint32(0)) {
			return nil, fmt.Errorf("attribute %s: %d is out of range", attrTS, ts)
		}
		cp.Timestamp = uint32(ts)
	}
	if g, ok := item[attrGTID].(*types.AttributeValueMemberS); ok {
		cp.GTID = g.Value
	}
	if g, ok := item[attrGTIDSet].(*types.AttributeValueMemberS); ok {
		cp.GTIDSet = g.Value
	}
	if item[attrGen] != nil {
		g, err := getNum(item, attrGen)
		if err != nil {
			return nil, err
		}
		if g > uint64(^uint32(0)) {
			return nil, fmt.Errorf("attribute %s: %d is out of range", attrGen, g)
		}
		cp.Generation = uint32(g)
	}
	if h, ok := item[attrHistory].(*types.AttributeValueMemberS); ok {
		if err := json.Unmarshal([]byte(h.Value), &cp.History); err != nil {
			return nil, fmt.Errorf("attribute %s: %w", attrHistory, err)
		}
	}
	if u, ok := item[attrUpdatedAt].(*types.AttributeValueMemberS); ok {
		if cp.UpdatedAt, err = time.Parse(time.RFC3339Nano, u.Value); err != nil {
			return nil, fmt.Errorf("attribute %s: %w", attrUpdatedAt, err)
		}
	}
	if f, ok := item[attrFilter].(*types.AttributeValueMemberS); ok {
		cp.Filter = f.Value
	}
	if e, ok := item[attrEmitted].(*types.AttributeValueMemberS); ok {
		cp.Emitted = e.Value
	}
	if sn, ok := item[attrSnapshot].(*types.AttributeValueMemberS); ok {
		if err := json.Unmarshal([]byte(sn.Value), &cp.Snapshot); err != nil {
			return nil, fmt.Errorf("attribute %s: %w", attrSnapshot, err)
		}
	}
	return cp, nil
}

func getNum(item map[string]types.AttributeValue, name string) (uint64, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, fmt.Errorf("attribute %s is missing or not a number", name)
	}
	n, err := strconv.ParseUint(v.Value, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("attribute %s: %w", name, err)
	}
	return n, nil
}

func str(s string) types.AttributeValue { return &types.AttributeValueMemberS{Value: s} }

func num(n uint64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatUint(n, 10)}
}

// termOf reads the Raft term of the item's last claim, if any.
func termOf(item map[string]types.AttributeValue) (uint64, bool) {
	v, ok := item[attrTerm].(*types.AttributeValueMemberN)
	if !ok {
		return 0, false
	}
	t, err := strconv.ParseUint(v.Value, 10, 64)
	return t, err == nil
}
