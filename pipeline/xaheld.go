package pipeline

import (
	"github.com/sluicecdc/sluice/checkpoint"
	"github.com/sluicecdc/sluice/event"
)

// While an XA transaction is prepared (items carry Held), the checkpoint's
// Position stays at the last boundary before the prepare, so a restart
// reads the prepared rows again. The transactions that commit meanwhile
// are still delivered and checkpointed: each of their boundaries is that
// boundary again with Emitted set to how far they go. A sink that commits
// the checkpoint with the events it covers (Kafka) can so commit them,
// rather than wait for the XA's commit; a restart reads them again and
// does not emit them (emittedBefore).

// heldState is the encoder's state for boundaries set while an XA
// transaction is prepared.
type heldState struct {
	// inForce is the last boundary set outside an XA hold, on its server
	// (nil: not known).
	inForce *checkpoint.Checkpoint
	// emitted is the furthest boundary set while held.
	emitted event.Position
	// skipTo, from the saved checkpoint's Emitted, is how far a restart
	// reads transactions it emitted before; skipServer its server.
	skipTo     event.Position
	skipServer uint32
}

// initHeld starts from the saved checkpoint: the boundary in force, and
// its Emitted.
func (e *encoder) initHeld() {
	cp := e.p.saved
	if cp == nil || cp.ServerID != e.serverID || cp.Position.IsZero() {
		return
	}
	c := *cp
	e.xa.inForce = &c
	if cp.Emitted == "" {
		return
	}
	pos, err := event.ParsePosition(cp.Emitted)
	if err != nil {
		e.p.log.Warn("checkpoint's emitted position not understood: what was delivered after it is delivered again", "emitted", cp.Emitted, "err", err.Error())
		c.Emitted = ""
		return
	}
	e.xa.skipTo, e.xa.skipServer, e.xa.emitted = pos, cp.ServerID, pos
}

// setBoundary makes cp the checkpoint the current batch ends at. While an
// XA transaction waits for its commit, that is the boundary in force
// before its prepare, with Emitted at cp's position.
func (e *encoder) setBoundary(cp checkpoint.Checkpoint) {
	if !e.held {
		e.boundary = &cp
		e.xa.inForce, e.xa.emitted = e.boundary, event.Position{}
		return
	}
	in := e.xa.inForce
	if in == nil || in.ServerID != e.serverID {
		return // not known here: the previous boundary stays
	}
	if cp.Position.Compare(e.xa.emitted) > 0 {
		e.xa.emitted = cp.Position
	}
	b := *in
	b.Emitted = e.xa.emitted.String()
	e.boundary = &b
}

// emittedBefore reports whether the transaction committing at pos was
// emitted before a restart (the saved checkpoint's Emitted covers it).
func (e *encoder) emittedBefore(pos event.Position) bool {
	if e.xa.skipTo.IsZero() {
		return false
	}
	if e.serverID == e.xa.skipServer && pos.Compare(e.xa.skipTo) <= 0 {
		return true
	}
	e.xa.skipTo = event.Position{}
	return false
}
