package observe

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicecdc/sluice/ha"
	"github.com/sluicecdc/sluice/internal/testing/testport"
)

// serve starts a server on a loopback port, stopped at cleanup.
func serve(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s, "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestServerEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	var mu sync.Mutex
	st := ha.Status{State: "Follower", LeaderID: "n2", LastContact: time.Now(), Term: 4, CommitIndex: 9, AppliedIndex: 9, LastIndex: 9,
		Servers: []ha.Server{{ID: "n1", Suffrage: "Voter"}, {ID: "n2", Suffrage: "Voter"}, {ID: "n3", Suffrage: "Nonvoter"}}}
	cfg := DefaultConfig()
	cfg.Registry = reg
	cfg.Replica = fakeReplica{func() ha.Status { mu.Lock(); defer mu.Unlock(); s := st; s.LastContact = time.Now(); return s }}
	cfg.Stall = &Stall{Timeout: time.Minute}
	s, base := serve(t, cfg)
	s.Handle("GET /extra", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "mounted") }))
	s.SetEpoch(42)

	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz %d", code)
	}
	if code, body := get(t, base+"/extra"); code != http.StatusOK || body != "mounted" {
		t.Fatalf("/extra %d %q", code, body)
	}
	code, body := get(t, base+"/readyz")
	var r Readiness
	if err := json.Unmarshal([]byte(body), &r); err != nil || code != http.StatusOK || !r.Ready || r.Role != "follower" || r.LeaderID != "n2" {
		t.Fatalf("/readyz %d %s (%v)", code, body, err)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		"sluice_ha_epoch 42",
		"sluice_ha_leader 0",
		`sluice_ha_raft_state{state="Follower"} 1`,
		`sluice_ha_raft_state{state="Leader"} 0`,
		"sluice_ha_raft_term 4",
		"sluice_ha_raft_commit_index 9",
		"sluice_ha_voters 2",
		"sluice_ready 1",
		"sluice_ha_raft_last_contact_seconds",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	mu.Lock()
	st.State, st.LeaderID = "Candidate", ""
	mu.Unlock()
	code, body = get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "election in progress") {
		t.Fatalf("/readyz as candidate: %d %s", code, body)
	}
	if _, metrics := get(t, base+"/metrics"); !strings.Contains(metrics, "sluice_ready 0") {
		t.Error("sluice_ready should be 0 while not ready")
	}

	// A second server on the same registry is refused, not silently merged.
	if _, err := New(cfg); err == nil {
		t.Fatal("registering twice on one registry succeeded")
	}
}

// /readyz over a real three-node cluster: leader streaming, followers in
// sync, a stalled stream, and a leader that lost its quorum.
func TestReadyzWithCluster(t *testing.T) {
	var peers []ha.Peer
	for i, addr := range testport.Loopback(t, 3) {
		peers = append(peers, ha.Peer{ID: fmt.Sprintf("n%d", i+1), Addr: addr})
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	type member struct {
		node    *ha.Node
		url     string
		feeding atomic.Bool // lead feeds the stall detector while set
	}
	var members []*member
	for _, p := range peers {
		cfg := ha.DefaultConfig()
		cfg.NodeID, cfg.BindAddr, cfg.DataDir, cfg.Peers = p.ID, p.Addr, filepath.Join(dir, p.ID), peers
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = 400*time.Millisecond, 400*time.Millisecond, 200*time.Millisecond
		cfg.Logger = log
		node, err := ha.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := &member{node: node}
		m.feeding.Store(true)
		stall := &Stall{Timeout: 300 * time.Millisecond}
		ocfg := DefaultConfig()
		ocfg.Replica, ocfg.Stall, ocfg.MaxLeaderContact, ocfg.Logger = node, stall, time.Second, log
		var obs *Server
		obs, m.url = serve(t, ocfg)
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() {
			defer close(ran)
			_ = node.Run(ctx, func(ctx context.Context) error {
				obs.SetStreaming(true) // as if preflight and the sink checks passed
				defer obs.SetStreaming(false)
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return nil
					case now := <-tick.C:
						if m.feeding.Load() {
							stall.Seen(now)
						}
					}
				}
			})
		}()
		t.Cleanup(func() {
			_ = node.Shutdown(context.Background())
			cancel()
			<-ran
		})
		members = append(members, m)
	}
	ready := func(m *member) (bool, Readiness) {
		code, body := get(t, m.url+"/readyz")
		var r Readiness
		if err := json.Unmarshal([]byte(body), &r); err != nil {
			t.Fatalf("/readyz body %q: %v", body, err)
		}
		if r.Ready != (code == http.StatusOK) {
			t.Fatalf("/readyz %d with %+v", code, r)
		}
		return r.Ready, r
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	var leader *member
	wait("all three ready with one leader", func() bool {
		leader = nil
		for _, m := range members {
			ok, r := ready(m)
			if !ok {
				return false
			}
			if r.Role == "leader" {
				leader = m
			}
		}
		return leader != nil
	})

	leader.feeding.Store(false)
	wait("the leader to report a stall", func() bool {
		ok, r := ready(leader)
		return !ok && strings.Contains(r.Reason, "stalled")
	})
	for _, m := range members {
		if m != leader {
			if ok, r := ready(m); !ok {
				t.Fatalf("follower not ready while the leader stalls: %+v", r)
			}
		}
	}
	leader.feeding.Store(true)
	wait("the leader to recover", func() bool { ok, _ := ready(leader); return ok })

	for _, m := range members {
		if m != leader {
			if err := m.node.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	wait("the leader without quorum to be unready", func() bool {
		ok, r := ready(leader)
		return !ok && r.Role != "leader"
	})
}

// TestServerTimeouts: a client that leaves a kept-alive connection idle,
// or stalls in the middle of a request, is disconnected after the timeout.
func TestServerTimeouts(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IdleTimeout, cfg.ReadTimeout = 300*time.Millisecond, 300*time.Millisecond
	_, base := serve(t, cfg)
	addr := strings.TrimPrefix(base, "http://")
	for name, req := range map[string]string{
		"idle after an answer": "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
		"stalled mid-request":  "GET /healthz HTTP/1.1\r\nHost: x\r\n",
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		start := time.Now()
		_, err = io.Copy(io.Discard, conn) // until the server closes
		_ = conn.Close()
		if err != nil || time.Since(start) > 3*time.Second {
			t.Errorf("%s: connection held for %v (%v), want it closed after the 300ms timeout", name, time.Since(start), err)
		}
	}
}
