package ha

import (
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Raft resolves a future on success, on loss of leadership and on shutdown,
// with one gap: a VerifyLeader or LeadershipTransfer request still sitting
// in raft's buffered channel when raft shuts down is dropped, and its
// future never resolves. So the node never waits on a future without a
// bound: watch hands the result over a channel from a goroutine the node
// tracks, and Shutdown waits for those goroutines only for orphanGrace.
const orphanGrace = time.Second

// watch returns a channel that receives f's result.
func (n *Node) watch(f raft.Future) <-chan error {
	ch := make(chan error, 1)
	if !n.goFunc(func() { ch <- f.Error() }) {
		ch <- ErrShutdown
	}
	return ch
}

// await waits at most d for f.
func (n *Node) await(f raft.Future, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case err := <-n.watch(f):
		return err
	case <-t.C:
		return fmt.Errorf("no answer from raft within %s", d)
	}
}

// waitTimeout waits for wg for at most d and reports whether it finished.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	}
}
