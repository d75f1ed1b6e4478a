package observe

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicecdc/sluice/ha"
)

// fakeReplica reports a fixed status.
type fakeReplica struct{ fn func() ha.Status }

func (f fakeReplica) Status() ha.Status { return f.fn() }

func TestStall(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &Stall{Timeout: 10 * time.Second}
	if !s.Last().IsZero() || s.Idle(t0, time.Time{}) != 0 || s.Stalled(t0, time.Time{}) {
		t.Fatal("a fresh stall detector should be idle 0, not stalled")
	}
	// Streaming since t0 counts as movement.
	if s.Stalled(t0.Add(10*time.Second), t0) || !s.Stalled(t0.Add(11*time.Second), t0) {
		t.Fatal("stall relative to the start of streaming")
	}
	s.Seen(t0.Add(5 * time.Second))
	s.Seen(t0.Add(3 * time.Second)) // older: ignored
	if got := s.Last(); !got.Equal(t0.Add(5 * time.Second)) {
		t.Fatalf("Last = %s", got)
	}
	if d := s.Idle(t0.Add(12*time.Second), t0); d != 7*time.Second {
		t.Fatalf("Idle = %s", d)
	}
	if s.Stalled(t0.Add(15*time.Second), t0) || !s.Stalled(t0.Add(16*time.Second), t0) {
		t.Fatal("stall relative to the last Seen")
	}
	// A later start of streaming resets the clock.
	if s.Stalled(t0.Add(16*time.Second), t0.Add(14*time.Second)) {
		t.Fatal("streaming restarted at 14s, not stalled at 16s")
	}
	if (&Stall{}).Stalled(t0.Add(time.Hour), t0) {
		t.Fatal("Timeout 0 never stalls")
	}
}

func TestReadiness(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	fresh := &Stall{Timeout: 30 * time.Second}
	fresh.Seen(now.Add(-time.Second))
	old := &Stall{Timeout: 30 * time.Second}
	old.Seen(now.Add(-time.Minute))
	leader := ha.Status{State: "Leader", LeaderID: "n1", Leading: true, LeadingSince: now.Add(-time.Hour)}
	follower := ha.Status{State: "Follower", LeaderID: "n1", LastContact: now.Add(-100 * time.Millisecond), CommitIndex: 100, AppliedIndex: 90}
	with := func(s ha.Status, f func(*ha.Status)) ha.Status { f(&s); return s }

	for _, tc := range []struct {
		name         string
		status       *ha.Status // nil: standalone
		stall        *Stall
		ready        bool
		role         string
		reason       string
		notStreaming bool // SetStreaming(true) not called: preflight or sink checks not passed yet
	}{
		{"standalone before preflight", nil, nil, false, "standalone", "not streaming yet: the source's preflight and the sinks' checks", true},
		{"leader before preflight", &leader, fresh, false, "leader", "not streaming yet", true},
		{"standalone", nil, nil, true, "standalone", "streaming", false},
		{"standalone moving", nil, fresh, true, "standalone", "streaming", false},
		{"standalone stalled", nil, old, false, "standalone", "stalled", false},
		{"leader streaming", &leader, fresh, true, "leader", "streaming", false},
		{"leader no stall detector", &leader, nil, true, "leader", "streaming", false},
		{"leader stalled", &leader, old, false, "leader", "stalled: no event or heartbeat for 1m0s", false},
		{"leader just started", ptr(with(leader, func(s *ha.Status) { s.LeadingSince = now.Add(-time.Second) })), old, true, "leader", "streaming", false},
		{"leader not streaming", ptr(with(leader, func(s *ha.Status) { s.Leading = false })), fresh, false, "leader", "not streaming yet", false},
		{"follower in sync", &follower, old, true, "follower", "in sync with leader n1", false},
		{"follower without leader", ptr(with(follower, func(s *ha.Status) { s.LeaderID = "" })), nil, false, "follower", "no known leader", false},
		{"follower never contacted", ptr(with(follower, func(s *ha.Status) { s.LastContact = time.Time{} })), nil, false, "follower", "no contact with leader n1 yet", false},
		{"follower out of contact", ptr(with(follower, func(s *ha.Status) { s.LastContact = now.Add(-6 * time.Second) })), nil, false, "follower", "for 6s", false},
		{"follower behind", ptr(with(follower, func(s *ha.Status) { s.AppliedIndex = 10 })), nil, false, "follower", "90 behind commit index 100", false},
		{"candidate", &ha.Status{State: "Candidate"}, nil, false, "candidate", "election", false},
		{"shutdown", &ha.Status{State: "Shutdown"}, nil, false, "shutdown", "not running", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Stall = tc.stall
			cfg.now = func() time.Time { return now }
			if tc.status != nil {
				st := *tc.status
				cfg.Replica = fakeReplica{func() ha.Status { return st }}
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.notStreaming {
				s.SetStreaming(true)
				s.streamingSince = now.Add(-time.Hour)
			}
			r := s.Readiness()
			if r.Ready != tc.ready || r.Role != tc.role || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("readiness = %+v, want ready=%v role=%s reason containing %q", r, tc.ready, tc.role, tc.reason)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
