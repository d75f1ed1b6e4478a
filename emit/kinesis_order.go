package emit

import "container/heap"

// Under strict ordering a request holds at most one record of a key: of
// each key, its oldest record not yet accepted, and only while no other
// request holds it. The records of a key form a line (kinesisUnit.next,
// with s.tails holding each line's last record); the head of every line
// that is waiting, not under way, is in s.ready, oldest first. A request
// takes from s.ready; a record accepted hands its place to the next of its
// line; a record refused goes back to s.ready, still the head of its line.
// Taking costs the records taken, however many records of hot keys wait
// behind their heads (relaxed ordering scans its queue instead).

// enqueueLocked queues a new record to put. Callers hold s.mu.
func (s *KinesisSink) enqueueLocked(u *kinesisUnit) {
	s.nextSeq++
	u.seq = s.nextSeq
	if !s.strict {
		s.queue = append(s.queue, u)
		return
	}
	if t := s.tails[u.key]; t != nil {
		t.next = u // behind the key's line
	} else {
		heap.Push(&s.ready, u)
	}
	s.tails[u.key] = u
}

// takeStrictLocked appends to units the next request under strict
// ordering: the oldest heads of lines, up to the request limits, and marks
// them flying. Callers hold s.mu.
func (s *KinesisSink) takeStrictLocked(units []*kinesisUnit) []*kinesisUnit {
	bytes := 0
	for len(s.ready) > 0 && len(units) < kinesisMaxRequestRecords {
		u := s.ready[0]
		size := len(u.entry.Data) + len(u.key)
		if len(units) > 0 && bytes+size > kinesisMaxRequestBytes {
			break
		}
		heap.Pop(&s.ready)
		u.state = unitFlying
		units = append(units, u)
		bytes += size
	}
	return units
}

// requeueLocked puts a record that was not accepted back to waiting: under
// strict ordering it is still the head of its line, and ready again.
// Callers hold s.mu.
func (s *KinesisSink) requeueLocked(u *kinesisUnit) {
	u.state = unitPending
	if s.strict {
		heap.Push(&s.ready, u)
	}
}

// advanceLocked hands an accepted record's place in its line to the next
// record of its key, under strict ordering. Callers hold s.mu.
func (s *KinesisSink) advanceLocked(u *kinesisUnit) {
	if !s.strict {
		return
	}
	if next := u.next; next != nil {
		u.next = nil
		heap.Push(&s.ready, next)
		return
	}
	delete(s.tails, u.key) // u was the last of its line
}

// unitHeap orders records oldest first.
type unitHeap []*kinesisUnit

func (h unitHeap) Len() int           { return len(h) }
func (h unitHeap) Less(i, j int) bool { return h[i].seq < h[j].seq }
func (h unitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *unitHeap) Push(x any)        { *h = append(*h, x.(*kinesisUnit)) }

func (h *unitHeap) Pop() any {
	old := *h
	u := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return u
}
