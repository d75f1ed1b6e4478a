package ha

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Membership changes sent to a follower's admin API reach the leader.
func TestAdminForwardsToLeader(t *testing.T) {
	// Admin listeners first: each node publishes its URL when it leads.
	lns := map[string]net.Listener{}
	for _, id := range []string{"n1", "n2", "n3", "n4"} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id] = ln
	}
	url := func(id string) string { return "http://" + lns[id].Addr().String() }
	c := newTestCluster(t, clusterOpts{n: 3, adminURL: url})
	for _, id := range c.order {
		serveAdmin(t, lns[id], c.nodes[id].node)
	}
	leader := c.leader(10 * time.Second)
	follower := c.followers(leader)[0]
	waitFor(t, 5*time.Second, "the follower to learn the leader's admin URL", func() bool {
		return c.nodes[follower].node.Status().LeaderAdminURL == url(leader)
	})

	// A fourth node, empty, not bootstrapping: it waits to be added.
	cfg := c.nodes[leader].cfg
	cfg.NodeID = "n4"
	cfg.BindAddr = freePorts(t, 1)[0]
	cfg.DataDir = filepath.Join(t.TempDir(), "n4")
	cfg.Peers, cfg.Bootstrap = nil, false
	cfg.AdminURL = url("n4")
	c.nodes["n4"] = &testNode{id: "n4", cfg: cfg}
	c.order = append(c.order, "n4")
	c.start("n4", c.rec.lead("n4"))
	serveAdmin(t, lns["n4"], c.nodes["n4"].node)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := NewAdminClient(url(follower), testToken, nil)
	if err := client.AddVoter(ctx, "n4", cfg.BindAddr); err != nil {
		t.Fatalf("add-voter via follower %s: %v", follower, err)
	}
	waitFor(t, 10*time.Second, "n4 to join", func() bool {
		s := c.nodes["n4"].node.Status()
		return s.LeaderID == leader && len(s.Servers) == 4 && s.LeaderAdminURL == url(leader)
	})
	st, err := NewAdminClient(url("n4"), testToken, nil).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.ID != "n4" || st.State != "Follower" || st.LeaderAdminURL != url(leader) || len(st.Servers) != 4 {
		t.Fatalf("n4 status over HTTP = %+v", st)
	}

	// Unauthenticated, the leader refuses to remove it: 401, nothing changes.
	resp, err := http.Post(url(leader)+PathRemove, "application/json", strings.NewReader(`{"id":"n4"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated POST %s: %s, want 401", PathRemove, resp.Status)
	}
	time.Sleep(2 * testHeartbeat)
	if s := c.nodes[leader].node.Status(); len(s.Servers) != 4 {
		t.Fatalf("servers after an unauthenticated remove: %+v", s.Servers)
	}

	// Remove it again, asking n4 itself (a follower) to forward.
	if err := NewAdminClient(url("n4"), testToken, nil).RemoveServer(ctx, "n4"); err != nil {
		t.Fatalf("remove-server via n4: %v", err)
	}
	// n4 no longer hears from the leader (and may never learn it was removed).
	waitFor(t, 5*time.Second, "the leader to stop contacting n4", func() bool {
		return time.Since(c.nodes["n4"].node.Status().LastContact) > 2*testHeartbeat
	})
	if s := c.nodes[leader].node.Status(); len(s.Servers) != 3 {
		t.Fatalf("servers after removal: %+v", s.Servers)
	}

	// Removing the leader: it steps down, its Raft stops, Run says why, and
	// the other two carry on.
	if err := client.RemoveServer(ctx, leader); err != nil {
		t.Fatalf("remove the leader: %v", err)
	}
	select {
	case err := <-c.nodes[leader].runErr:
		if !errors.Is(err, ErrRemoved) {
			t.Fatalf("removed leader's Run = %v, want ErrRemoved", err)
		}
		c.nodes[leader].runErr <- err // for the cleanup's stop
	case <-time.After(10 * time.Second):
		t.Fatal("the removed leader's Run did not return")
	}
	next := c.leader(10*time.Second, leader)
	if s := c.nodes[next].node.Status(); len(s.Servers) != 2 {
		t.Fatalf("servers after removing the leader: %+v", s.Servers)
	}
	waitFor(t, 5*time.Second, "the follower to learn the new leader's admin URL", func() bool {
		for _, id := range c.followers(next) {
			if id != leader && id != "n4" && c.nodes[id].node.Status().LeaderAdminURL == url(next) {
				client = NewAdminClient(url(id), testToken, nil)
				return true
			}
		}
		return false
	})

	// Errors come back as such.
	err = client.RemoveServer(ctx, "nobody")
	if err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("remove unknown = %v, want 404", err)
	}
	err = client.AddVoter(ctx, "n5", "no-port")
	if err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("add bad addr = %v, want 400", err)
	}
}

func serveAdmin(t *testing.T, ln net.Listener, n *Node) {
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: NewAdminHandler(n, testToken)}}
	srv.Start()
	t.Cleanup(srv.Close)
}

// fakeAdmin answers like a node in a given state.
type fakeAdmin struct {
	status Status
	err    error
}

func (f *fakeAdmin) Status() Status                                    { return f.status }
func (f *fakeAdmin) AddVoter(context.Context, string, string) error    { return f.err }
func (f *fakeAdmin) RemoveServer(ctx context.Context, id string) error { return f.err }

func TestAdminHandlerAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		body     string
		code     int
		location string
	}{
		{"ok", nil, `{"id":"n4","addr":"127.0.0.1:1"}`, http.StatusNoContent, ""},
		{"redirect", &NotLeaderError{LeaderID: "n2", AdminURL: "http://n2:9100/"}, `{"id":"n4","addr":"127.0.0.1:1"}`, http.StatusTemporaryRedirect, "http://n2:9100/cluster/voters"},
		{"no leader", &NotLeaderError{}, `{"id":"n4","addr":"127.0.0.1:1"}`, http.StatusServiceUnavailable, ""},
		{"leader without url", &NotLeaderError{LeaderID: "n2"}, `{"id":"n4","addr":"127.0.0.1:1"}`, http.StatusServiceUnavailable, ""},
		{"bad json", nil, `{"id":`, http.StatusBadRequest, ""},
		{"unknown field", nil, `{"id":"n4","address":"x"}`, http.StatusBadRequest, ""},
		{"invalid", ErrInvalidServer, `{"id":"","addr":""}`, http.StatusBadRequest, ""},
		{"raft error", errors.New("boom"), `{"id":"n4","addr":"127.0.0.1:1"}`, http.StatusInternalServerError, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newAdminHandler(&fakeAdmin{err: tc.err}, testToken)
			w := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, PathVoters, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+testToken)
			req.Header.Set("Content-Type", "application/json")
			h.ServeHTTP(w, req)
			if w.Code != tc.code {
				t.Fatalf("code %d, want %d; body %s", w.Code, tc.code, w.Body)
			}
			if got := w.Header().Get("Location"); got != tc.location {
				t.Fatalf("Location %q, want %q", got, tc.location)
			}
		})
	}
	w := httptest.NewRecorder()
	newAdminHandler(&fakeAdmin{}, testToken).ServeHTTP(w, httptest.NewRequest(http.MethodGet, PathVoters, nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET voters: %d", w.Code)
	}
}

const testToken = "s3cret-admin-token"

// countingAdmin counts membership changes.
type countingAdmin struct {
	fakeAdmin
	changes int
}

func (c *countingAdmin) AddVoter(context.Context, string, string) error { c.changes++; return nil }
func (c *countingAdmin) RemoveServer(context.Context, string) error     { c.changes++; return nil }

// TestAdminWritesNeedTheToken: a POST to /cluster/remove without the bearer
// token (or with another, or without a JSON content type, or to a node
// with no token) is refused before the body is read, and nothing changes;
// status stays open.
func TestAdminWritesNeedTheToken(t *testing.T) {
	for _, tc := range []struct {
		name, token, auth, ctype string
		code                     int
	}{
		{"no token", testToken, "", "application/json", http.StatusUnauthorized},
		{"wrong token", testToken, "Bearer nope", "application/json", http.StatusUnauthorized},
		{"basic auth", testToken, "Basic czNjcmV0", "application/json", http.StatusUnauthorized},
		{"form body", testToken, "Bearer " + testToken, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{"node without a token", "", "Bearer ", "application/json", http.StatusForbidden},
		{"authorized", testToken, "Bearer " + testToken, "application/json; charset=utf-8", http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &countingAdmin{}
			h := newAdminHandler(a, tc.token)
			req := httptest.NewRequest(http.MethodPost, PathRemove, strings.NewReader(`{"id":"n2"}`))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			req.Header.Set("Content-Type", tc.ctype)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != tc.code {
				t.Fatalf("code %d, want %d; body %s", w.Code, tc.code, w.Body)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.code == http.StatusNoContent]; a.changes != want {
				t.Fatalf("%d membership changes, want %d", a.changes, want)
			}
			if tc.code == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	w := httptest.NewRecorder()
	newAdminHandler(&countingAdmin{}, testToken).ServeHTTP(w, httptest.NewRequest(http.MethodGet, PathStatus, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET status without a token: %d", w.Code)
	}
}
