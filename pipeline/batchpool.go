package pipeline

import "github.com/sluicecdc/sluice/emit"

// batchPool hands out batches whose buffers are sized to what they will
// hold, in size classes (4 KiB, then ×4, up to the largest batch), and
// keeps released ones for reuse, a few per class. A small transaction so
// gets a small batch: a sink that holds batches until its destination
// accepts them (Kinesis) holds little more than the events.
type batchPool struct {
	sizes []int
	free  []chan *emit.Batch
}

// smallestBatch is the capacity of the smallest size class.
const smallestBatch = 4 << 10

// newBatchPool returns a pool whose largest class is top bytes.
func newBatchPool(top int) *batchPool {
	p := &batchPool{}
	for n := smallestBatch; n < top; n *= 4 {
		p.sizes = append(p.sizes, n)
	}
	p.sizes = append(p.sizes, max(top, smallestBatch))
	p.free = make([]chan *emit.Batch, len(p.sizes))
	for i := range p.free {
		p.free[i] = make(chan *emit.Batch, 4)
	}
	return p
}

// class is the smallest class holding need bytes (the largest when none
// does).
func (p *batchPool) class(need int) int {
	for i, n := range p.sizes {
		if need <= n {
			return i
		}
	}
	return len(p.sizes) - 1
}

// get returns an empty batch with room for need bytes of events (up to
// the largest class; past it, Data grows as it is appended to) and for
// the Refs of events events (their share of it, past the largest class).
func (p *batchPool) get(need, events int) *emit.Batch {
	i := p.class(need)
	var b *emit.Batch
	select {
	case old := <-p.free[i]:
		b = &emit.Batch{Data: old.Data[:0], Events: old.Events[:0]}
	default:
		b = &emit.Batch{Data: make([]byte, 0, p.sizes[i])}
	}
	if need > p.sizes[i] {
		// Past the largest class the transaction goes out in several
		// batches: room for one batch's share of its events.
		events = int(int64(events)*int64(p.sizes[i])/int64(need)) + 1
	}
	if cap(b.Events) < events {
		b.Events = make([]emit.Ref, 0, events)
	}
	return b
}

// put keeps a released batch's buffers in the largest class its Data
// can serve, or drops them when that class has enough. Safe for
// concurrent use (sinks release batches from their own goroutines).
func (p *batchPool) put(b *emit.Batch) {
	c := cap(b.Data)
	if c < p.sizes[0] {
		return
	}
	i := len(p.sizes) - 1
	for p.sizes[i] > c {
		i--
	}
	select {
	case p.free[i] <- b:
	default:
	}
}
