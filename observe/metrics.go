package observe

import (
	"github.com/prometheus/client_golang/prometheus"
)

// raftStates are the values of the sluice_ha_raft_state label.
var raftStates = []string{"Leader", "Follower", "Candidate", "Shutdown"}

// collector reads the replica's status and the stall detector at scrape
// time, so the gauges never lag and no goroutine polls.
type collector struct {
	s *Server

	leader, leading, state, term, commit, applied, last, contact, voters, idle, ready *prometheus.Desc
}

func newCollector(s *Server) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &collector{
		s:       s,
		leader:  d("sluice_ha_leader", "1 if this node is the Raft leader."),
		leading: d("sluice_ha_leading", "1 while this node runs the leader's work (streams)."),
		state:   d("sluice_ha_raft_state", "1 for this node's current Raft state.", "state"),
		term:    d("sluice_ha_raft_term", "Current Raft term."),
		commit:  d("sluice_ha_raft_commit_index", "Raft commit index."),
		applied: d("sluice_ha_raft_applied_index", "Raft index last applied to the state machine."),
		last:    d("sluice_ha_raft_last_index", "Last Raft log index stored."),
		contact: d("sluice_ha_raft_last_contact_seconds", "Seconds since a follower last heard from the leader (absent on the leader and before first contact)."),
		voters:  d("sluice_ha_voters", "Voters in this node's latest Raft configuration."),
		idle:    d("sluice_stream_idle_seconds", "Seconds since the stream last saw an event or heartbeat (while streaming)."),
		ready:   d("sluice_ready", "1 when /readyz answers 200."),
	}
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.leader, c.leading, c.state, c.term, c.commit, c.applied, c.last, c.contact, c.voters, c.idle, c.ready} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	now := c.s.cfg.now()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, b2f(c.s.Readiness().Ready))
	if c.s.cfg.Replica == nil {
		if streaming, since := c.s.Streaming(); streaming && c.s.cfg.Stall != nil {
			gauge(c.idle, c.s.cfg.Stall.Idle(now, since).Seconds())
		}
		return
	}
	st := c.s.cfg.Replica.Status()
	gauge(c.leader, b2f(st.State == "Leader"))
	gauge(c.leading, b2f(st.Leading))
	for _, s := range raftStates {
		gauge(c.state, b2f(st.State == s), s)
	}
	gauge(c.term, float64(st.Term))
	gauge(c.commit, float64(st.CommitIndex))
	gauge(c.applied, float64(st.AppliedIndex))
	gauge(c.last, float64(st.LastIndex))
	if st.State != "Leader" && !st.LastContact.IsZero() {
		gauge(c.contact, now.Sub(st.LastContact).Seconds())
	}
	voters := 0
	for _, srv := range st.Servers {
		if srv.Suffrage == "Voter" {
			voters++
		}
	}
	gauge(c.voters, float64(voters))
	if st.Leading && c.s.cfg.Stall != nil {
		gauge(c.idle, c.s.cfg.Stall.Idle(now, st.LeadingSince).Seconds())
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
