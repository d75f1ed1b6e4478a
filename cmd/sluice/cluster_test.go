package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sluicecdc/sluice/internal/testing/awstest"
	"github.com/sluicecdc/sluice/internal/testing/testport"
)

// clusterNode is one sluice process of a three-node cluster.
type clusterNode struct {
	id, cfg, http string
	d             *daemon
}

// newCluster writes configs for three nodes on 127.0.0.1-3 sharing the
// rig's source, lake and checkpoint table, each with its own directory.
func newCluster(r *deliveryRig) []*clusterNode {
	r.t.Helper()
	ports := testport.Loopback(r.t, 6)
	var nodes []*clusterNode
	var peers []string
	for i := range 3 {
		_, raftPort, _ := strings.Cut(ports[i], ":")
		peers = append(peers, fmt.Sprintf("{id: n%d, addr: \"127.0.0.%d:%s\"}", i+1, i+1, raftPort))
	}
	base, err := os.ReadFile(r.cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	for i := range 3 {
		_, raftPort, _ := strings.Cut(ports[i], ":")
		_, httpPort, _ := strings.Cut(ports[3+i], ":")
		n := &clusterNode{id: fmt.Sprintf("n%d", i+1), http: fmt.Sprintf("127.0.0.%d:%s", i+1, httpPort)}
		dir := filepath.Join(r.dir, n.id)
		cfg := strings.Replace(string(base), filepath.Join(r.dir, "state"), dir, 1) + fmt.Sprintf(`ha:
  node_id: %s
  bind: "127.0.0.%d:%s"
  data_dir: %s
  bootstrap: true
  peers: [%s]
  heartbeat_timeout: 500ms
  election_timeout: 500ms
  leader_lease_timeout: 250ms
  max_write_time: 1s
http:
  listen: "%s"
  stall_timeout: 10s
`, n.id, i+1, raftPort, filepath.Join(dir, "raft"), strings.Join(peers, ", "), n.http)
		n.cfg = filepath.Join(r.dir, n.id+".yaml")
		if err := os.WriteFile(n.cfg, []byte(cfg), 0o644); err != nil {
			r.t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// readiness asks a node's /readyz.
func (n *clusterNode) readiness() (role string, ready bool) {
	c := http.Client{Timeout: 300 * time.Millisecond}
	resp, err := c.Get("http://" + n.http + "/readyz")
	if err != nil {
		return "down", false
	}
	defer func() { _ = resp.Body.Close() }()
	var rd struct {
		Ready bool   `json:"ready"`
		Role  string `json:"role"`
	}
	if json.NewDecoder(resp.Body).Decode(&rd) != nil {
		return "unknown", false
	}
	return rd.Role, rd.Ready
}

// leader waits until exactly one node other than except is a ready leader.
func leaderOf(t *testing.T, nodes []*clusterNode, except *clusterNode, within time.Duration) (*clusterNode, time.Duration) {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		var leaders []*clusterNode
		for _, n := range nodes {
			if n == except {
				continue
			}
			if role, ready := n.readiness(); role == "leader" && ready {
				leaders = append(leaders, n)
			}
		}
		if len(leaders) == 1 {
			return leaders[0], time.Since(start)
		}
		time.Sleep(25 * time.Millisecond)
	}
	return nil, time.Since(start)
}

// checkpointItem reads the pipeline's checkpoint item: position, epoch and owner.
type checkpointItem struct {
	pos          string
	epoch, owner string
	savedBy      string // the node whose Save last landed
}

func readItem(t *testing.T, r *deliveryRig) checkpointItem {
	t.Helper()
	out, err := r.aws.DynamoDBClient().GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String("sluice_checkpoints"), ConsistentRead: aws.Bool(true),
		Key: map[string]dtypes.AttributeValue{"pipeline": &dtypes.AttributeValueMemberS{Value: "delivery"}},
	})
	if err != nil || out.Item == nil {
		return checkpointItem{}
	}
	s := func(k string) string {
		switch v := out.Item[k].(type) {
		case *dtypes.AttributeValueMemberS:
			return v.Value
		case *dtypes.AttributeValueMemberN:
			return v.Value
		}
		return ""
	}
	item := checkpointItem{epoch: s("epoch"), owner: s("owner"), savedBy: s("saved_by")}
	if f := s("file"); f != "" {
		item.pos = f + ":" + s("offset")
	}
	return item
}

// TestClusterFailover runs three sluice processes as a Raft cluster with a
// workload committing: the leader is killed with SIGKILL again and again
// (ten times; three with -short) and a new leader is ready within 5 s each
// time; a leader frozen with SIGSTOP is replaced and, thawed after the new
// leader has written, cannot write the checkpoint; the checkpoint never moves
// backwards; and the lake holds every committed transaction.
func TestClusterFailover(t *testing.T) {
	r := newDeliveryRig(t, awstest.S3, awstest.DynamoDB)
	nodes := newCluster(r)
	for _, n := range nodes {
		n.d = r.startWith(n.cfg)
	}
	leader, took := leaderOf(t, nodes, nil, 30*time.Second)
	if leader == nil {
		t.Fatalf("no leader after %s:\n%s", took, r.log())
	}
	// sluice cluster status, asked of a follower, shows the three voters.
	follower := nodes[0]
	if follower == leader {
		follower = nodes[1]
	}
	st := sluice(t, r.env, "cluster", "status", "--config", follower.cfg)
	if st.code != 0 || strings.Count(st.stdout, "Voter") != 3 || !strings.Contains(st.stdout, "leader:  "+leader.id) {
		t.Fatalf("cluster status: exit %d\n%s%s", st.code, st.stdout, st.stderr)
	}
	w := startTxWorkload(t, r.src)

	// The checkpoint never moves backwards, whoever writes it.
	var mu sync.Mutex
	var positions []string
	watching := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-watching:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if it := readItem(t, r); it.pos != "" {
				mu.Lock()
				positions = append(positions, it.pos)
				mu.Unlock()
			}
		}
	}()

	kills := 10
	if testing.Short() {
		kills = 3
	}
	var failovers []time.Duration
	for i := range kills {
		time.Sleep(700 * time.Millisecond)
		old, _ := leaderOf(t, nodes, nil, 10*time.Second)
		if old == nil {
			t.Fatalf("kill %d: no leader:\n%s", i, r.log())
		}
		if err := old.d.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-old.d.done
		next, took := leaderOf(t, nodes, old, 10*time.Second)
		if next == nil || took > 5*time.Second {
			t.Fatalf("kill %d of %s: no new leader streaming within 5 s (%s):\n%s", i, old.id, took, r.log())
		}
		failovers = append(failovers, took)
		old.d = r.startWith(old.cfg) // back to three nodes
	}

	// A leader frozen mid-stream is replaced; thawed, it cannot write.
	frozen, _ := leaderOf(t, nodes, nil, 10*time.Second)
	for deadline := time.Now().Add(10 * time.Second); readItem(t, r).savedBy != frozen.id; {
		if time.Now().After(deadline) {
			t.Fatalf("leader %s never saved the checkpoint (item %+v)", frozen.id, readItem(t, r))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := frozen.d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	next, took := leaderOf(t, nodes, frozen, 10*time.Second)
	if next == nil || took > 5*time.Second {
		t.Fatalf("no new leader within 5 s of freezing %s (%s):\n%s", frozen.id, took, r.log())
	}
	failovers = append(failovers, took)
	// Wait until the new leader has saved the checkpoint itself.
	for deadline := time.Now().Add(10 * time.Second); readItem(t, r).savedBy != next.id; {
		if time.Now().After(deadline) {
			t.Fatalf("new leader %s never wrote the checkpoint (item %+v)", next.id, readItem(t, r))
		}
		time.Sleep(50 * time.Millisecond)
	}
	written := readItem(t, r)
	if err := frozen.d.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// Thawed, the old leader still believes in its term for a moment and
	// its checkpoint loop runs; its epoch is stale, so no save of it may
	// land. (The cluster may elect again meanwhile; the frozen node, behind
	// in its log, cannot win, so it never legitimately saves here.)
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if it := readItem(t, r); it.savedBy == frozen.id {
			t.Fatalf("after the thaw the frozen leader %s saved the checkpoint: %+v (new leader wrote %+v)", frozen.id, it, written)
		}
	}

	n := w.finish(t)
	// Let the current leader deliver everything, then stop the cluster.
	for deadline := time.Now().Add(2 * time.Minute); readItem(t, r).pos != r.srcHead(); {
		if time.Now().After(deadline) {
			t.Fatalf("the cluster did not catch up (checkpoint %+v, head %s):\n%s", readItem(t, r), r.srcHead(), r.log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(watching)
	<-watchDone
	for _, nd := range nodes {
		_ = nd.d.cmd.Process.Signal(os.Interrupt)
	}
	for _, nd := range nodes {
		<-nd.d.done
	}
	mu.Lock()
	for i := 1; i < len(positions); i++ {
		if comparePositions(t, positions[i], positions[i-1]) < 0 {
			t.Fatalf("checkpoint moved backwards: %s after %s", positions[i], positions[i-1])
		}
	}
	mu.Unlock()
	checkAllCommitted(t, r.lakeEvents(), n)
	slices.Sort(failovers)
	t.Logf("failover to a ready new leader, %d times: median %s, max %s", len(failovers), failovers[len(failovers)/2], failovers[len(failovers)-1])
}
