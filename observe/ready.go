package observe

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sluicecdc/sluice/ha"
)

// Replica is the HA node as readiness and the raft gauges see it.
// *ha.Node satisfies it.
type Replica interface {
	Status() ha.Status
}

var _ Replica = (*ha.Node)(nil)

// Readiness is /readyz's verdict and its JSON body.
type Readiness struct {
	Ready bool `json:"ready"`
	// Role is leader, follower, candidate, shutdown, or standalone (no HA).
	Role string `json:"role"`
	// Reason says what was checked, or why the node is not ready.
	Reason   string `json:"reason"`
	LeaderID string `json:"leader_id,omitempty"`
}

// Readiness rules:
//   - standalone (no Replica): ready once streaming (SetStreaming: the
//     source passed preflight and the sinks their checks), unless stalled;
//   - leader: ready while lead runs, has passed preflight and the sinks'
//     checks in this term (SetStreaming), and the stream is not stalled;
//   - follower: ready when it knows a leader, heard from it within
//     MaxLeaderContact, and has applied to within MaxApplyLag of its commit
//     index (a follower cannot see the leader's commit index; its own is at
//     most a heartbeat behind);
//   - candidate, shutdown: not ready.
func (s *Server) Readiness() Readiness {
	now := s.cfg.now()
	streaming, since := s.Streaming()
	if s.cfg.Replica == nil {
		switch {
		case !streaming:
			return Readiness{Role: "standalone", Reason: notStreaming}
		case s.stalled(now, since):
			return Readiness{Role: "standalone", Reason: s.stallReason(now, since)}
		}
		return Readiness{Ready: true, Role: "standalone", Reason: "streaming"}
	}
	st := s.cfg.Replica.Status()
	r := Readiness{LeaderID: st.LeaderID}
	switch st.State {
	case "Leader":
		r.Role = "leader"
		switch {
		case !st.Leading || !streaming:
			r.Reason = "leader, " + notStreaming
		case s.stalled(now, later(st.LeadingSince, since)):
			r.Reason = s.stallReason(now, later(st.LeadingSince, since))
		default:
			r.Ready, r.Reason = true, "leader, streaming"
		}
	case "Follower":
		r.Role = "follower"
		switch lag := st.CommitIndex - min(st.AppliedIndex, st.CommitIndex); {
		case st.LeaderID == "":
			r.Reason = "no known leader"
		case st.LastContact.IsZero():
			r.Reason = fmt.Sprintf("no contact with leader %s yet", st.LeaderID)
		case now.Sub(st.LastContact) > s.cfg.MaxLeaderContact:
			r.Reason = fmt.Sprintf("no contact with leader %s for %s (limit %s)", st.LeaderID, now.Sub(st.LastContact).Round(time.Millisecond), s.cfg.MaxLeaderContact)
		case lag > s.cfg.MaxApplyLag:
			r.Reason = fmt.Sprintf("applied index %d is %d behind commit index %d (limit %d)", st.AppliedIndex, lag, st.CommitIndex, s.cfg.MaxApplyLag)
		default:
			r.Ready, r.Reason = true, "follower in sync with leader "+st.LeaderID
		}
	case "Candidate":
		r.Role, r.Reason = "candidate", "election in progress"
	default:
		r.Role, r.Reason = "shutdown", "raft is not running"
	}
	return r
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

const notStreaming = "not streaming yet: the source's preflight and the sinks' checks have not passed in this term"

// SetStreaming tells readiness whether the pipeline streams: true once the
// source passed preflight and the sinks their checks, false when the
// pipeline (or the leadership term) ends.
func (s *Server) SetStreaming(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streaming = on
	s.streamingSince = s.cfg.now()
}

// Streaming reports what SetStreaming said last, and when.
func (s *Server) Streaming() (bool, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streaming, s.streamingSince
}

func (s *Server) stalled(now, since time.Time) bool {
	return s.cfg.Stall != nil && s.cfg.Stall.Stalled(now, since)
}

func (s *Server) stallReason(now, since time.Time) string {
	return fmt.Sprintf("stalled: no event or heartbeat for %s (limit %s)", s.cfg.Stall.Idle(now, since).Round(time.Millisecond), s.cfg.Stall.Timeout)
}

func (s *Server) serveReady(w http.ResponseWriter, _ *http.Request) {
	r := s.Readiness()
	code := http.StatusOK
	if !r.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, r)
}
