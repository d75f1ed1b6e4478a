package emit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Router sends each event to the sink its route names (a Kinesis stream,
// an S3 prefix), one sink per route, opened on first use. Each sink gets,
// for every batch, the part of it routed there, under the batch's Seq; a
// batch is durable once every sink that got a part of it has made that
// part durable.
type Router struct {
	route func(r *Ref) (string, error)
	open  func(ctx context.Context, name string) (Sink, error)

	mu        sync.Mutex
	sinks     map[string]*routedSink
	written   uint64    // Seq of the last batch every route got its part of
	watermark time.Time // the last one given, for sinks opened later
	closed    bool
}

type routedSink struct {
	sink    Sink
	written uint64 // Seq of the last batch it got a part of
}

var (
	_ Sink        = (*Router)(nil)
	_ Watermarker = (*Router)(nil)
)

// NewRouter returns a router: route names an event's sink, open opens the
// sink of a name (and checks it can take events).
func NewRouter(route func(r *Ref) (string, error), open func(ctx context.Context, name string) (Sink, error)) *Router {
	return &Router{route: route, open: open, sinks: map[string]*routedSink{}}
}

// sink returns the sink of a route, opening it on first use.
func (k *Router) sink(ctx context.Context, name string) (*routedSink, error) {
	k.mu.Lock()
	rs, ok := k.sinks[name]
	closed, wm := k.closed, k.watermark
	k.mu.Unlock()
	if ok {
		return rs, nil
	}
	if closed {
		return nil, errors.New("router: closed")
	}
	s, err := k.open(ctx, name)
	if err != nil {
		return nil, err
	}
	if w, ok := s.(Watermarker); ok && !wm.IsZero() {
		w.Watermark(wm) // nothing before it was routed here
	}
	rs = &routedSink{sink: s}
	k.mu.Lock()
	k.sinks[name] = rs
	k.mu.Unlock()
	return rs, nil
}

// Write implements Sink: it splits b by route and writes each part, a batch
// of the same Seq, to its route's sink. It copies what it keeps and
// releases b.
func (k *Router) Write(ctx context.Context, b *Batch) error {
	defer b.Release()
	parts := map[string]*Batch{}
	var order []string
	for i := range b.Events {
		r := b.Events[i]
		name, err := k.route(&r)
		if err != nil {
			return err
		}
		p, ok := parts[name]
		if !ok {
			p = &Batch{Seq: b.Seq}
			p.Hold(1, nil)
			parts[name] = p
			order = append(order, name)
		}
		off := len(p.Data)
		p.Data = append(p.Data, b.Data[r.Off:r.Off+r.Len+1]...) // with its '\n'
		r.Off = off
		p.Events = append(p.Events, r)
	}
	for _, name := range order {
		rs, err := k.sink(ctx, name)
		if err != nil {
			return err
		}
		if err := rs.sink.Write(ctx, parts[name]); err != nil {
			return fmt.Errorf("route %s: %w", name, err)
		}
		k.mu.Lock()
		rs.written = b.Seq
		k.mu.Unlock()
	}
	k.mu.Lock()
	k.written = b.Seq
	k.mu.Unlock()
	return nil
}

// Sync implements Sink: the last batch whose every part is durable.
func (k *Router) Sync(ctx context.Context, force bool) (uint64, error) {
	type state struct {
		name    string
		sink    Sink
		written uint64
	}
	k.mu.Lock()
	durable := k.written
	states := make([]state, 0, len(k.sinks))
	for name, rs := range k.sinks {
		states = append(states, state{name, rs.sink, rs.written})
	}
	k.mu.Unlock()
	for _, st := range states {
		d, err := st.sink.Sync(ctx, force)
		if err != nil {
			return 0, fmt.Errorf("route %s: %w", st.name, err)
		}
		if d < st.written {
			// Its parts after d are not durable yet (nor, conservatively,
			// any batch after d).
			durable = min(durable, d)
		}
	}
	return durable, nil
}

// Watermark implements Watermarker: every route's sink that keeps
// watermarks gets it, and so do sinks opened later.
func (k *Router) Watermark(t time.Time) {
	k.mu.Lock()
	if t.After(k.watermark) {
		k.watermark = t
	}
	sinks := make([]Sink, 0, len(k.sinks))
	for _, rs := range k.sinks {
		sinks = append(sinks, rs.sink)
	}
	k.mu.Unlock()
	for _, s := range sinks {
		if w, ok := s.(Watermarker); ok {
			w.Watermark(t)
		}
	}
}

// Close implements Sink: it closes every route's sink.
func (k *Router) Close() error {
	k.mu.Lock()
	k.closed = true
	sinks := k.sinks
	k.sinks = map[string]*routedSink{}
	k.mu.Unlock()
	var errs []error
	for _, rs := range sinks {
		errs = append(errs, rs.sink.Close())
	}
	return errors.Join(errs...)
}
