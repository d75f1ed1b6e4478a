package status

import (
	"fmt"
	"io"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/ha"
	"github.com/sluicecdc/sluice/observe"
	"github.com/sluicecdc/sluice/pipeline"
)

// TestPage: after samples, each of the four charts has a line through
// every sample (events/s and sink errors: one fewer, they are
// differences); the tables seen are listed busiest first; /api/status
// carries the rate over the last minute.
func TestPage(t *testing.T) {
	now := at
	st := pipeline.Status{Pipeline: "orders", Running: true, Position: "mysql-bin.000001:4", Tables: map[string]uint64{"shop.items": 3, "shop.orders": 40},
		Sinks: []pipeline.SinkStatus{{Name: "FileSink", State: pipeline.SinkOK}}}
	s := New(Config{
		Pipeline: func() pipeline.Status { return st },
		Readiness: func() observe.Readiness {
			return observe.Readiness{Ready: true, Role: "standalone", Reason: "streaming"}
		},
		Step: time.Second,
		now:  func() time.Time { return now },
	})
	for i := range 30 {
		st.Events, st.LagSeconds, st.CheckpointAgeSeconds = uint64(i*10), float64(i%5), float64(i%3)
		s.sample()
		now = now.Add(time.Second)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	body, _ := io.ReadAll(rec.Body)
	page := string(body)
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("GET / = %d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	want := map[string]int{"lag": 30, "events": 29, "checkpoint-age": 30, "sink-errors": 29}
	for id, n := range want {
		m := regexp.MustCompile(`id="chart-` + id + `" data-points="(\d+)"[^>]*>(?s:.*?)<path class="line" d="([^"]+)"`).FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("chart %s has no line:\n%s", id, page)
		}
		if m[1] != fmt.Sprint(n) || strings.Count(m[2], "L") != n-1 {
			t.Errorf("chart %s: %s points, path %q; want %d", id, m[1], m[2], n)
		}
	}
	if i, j := strings.Index(page, "shop.orders"), strings.Index(page, "shop.items"); i < 0 || j < i {
		t.Errorf("tables seen not listed busiest first")
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "http://") && !strings.Contains(page, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("the page has scripts or external references")
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/api/status", nil))
	if !strings.Contains(rec.Body.String(), `"events_per_second": 9.666`) {
		t.Errorf("/api/status:\n%s", rec.Body.String())
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/nothing", nil))
	if rec.Code != 404 {
		t.Errorf("GET /nothing = %d", rec.Code)
	}
}

type replica ha.Status

func (r replica) Status() ha.Status { return ha.Status(r) }

// TestClusterMembers: the page lists every member, this node with its own
// Raft state, the leader it knows as Leader; the document names the node.
func TestClusterMembers(t *testing.T) {
	hs := ha.Status{ID: "n2", State: "Follower", LeaderID: "n1", Term: 4, Servers: []ha.Server{
		{ID: "n1", Addr: "10.0.0.1:7946", Suffrage: "Voter"},
		{ID: "n2", Addr: "10.0.0.2:7946", Suffrage: "Voter"},
		{ID: "n3", Addr: "10.0.0.3:7946", Suffrage: "Nonvoter"},
	}}
	s := New(Config{
		Pipeline:  func() pipeline.Status { return pipeline.Status{Pipeline: "orders"} },
		Readiness: func() observe.Readiness { return observe.Readiness{Ready: true, Role: "follower", LeaderID: "n1"} },
		Replica:   replica(hs),
	})
	d := s.Doc()
	want := []Member{{"n1", "10.0.0.1:7946", "Voter", "Leader"}, {"n2", "10.0.0.2:7946", "Voter", "Follower"}, {"n3", "10.0.0.3:7946", "Nonvoter", "member"}}
	if d.Node != "n2" || d.Role != "follower" || !slices.Equal(d.Members, want) {
		t.Fatalf("doc %+v", d)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	// The claim's epoch and the Raft term (the epoch records carry) are
	// told apart.
	s.SetEpoch(9)
	if d := s.Doc(); d.Term != 4 || d.Epoch != 9 {
		t.Fatalf("doc term %d, epoch %d: want term 4 (Raft), epoch 9 (claim)", d.Term, d.Epoch)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if !strings.Contains(rec.Body.String(), "claim epoch 9 · term 4 (the epoch in records)") {
		t.Errorf("the page does not tell the claim epoch from the term")
	}
	for _, m := range want {
		if !strings.Contains(rec.Body.String(), "<td>"+m.ID+"</td><td>"+m.Addr+"</td><td>"+m.Suffrage+"</td><td>"+m.State+"</td>") {
			t.Errorf("the page has no row for %+v", m)
		}
	}
}
