package radio

import (
	"container/list"
	"fmt"
	"sync"

	"github.com/offgrid-net/offgrid/identity"
)

// DefaultReplaySenders is the sender bound NewReplayFilter uses when given a
// maxSenders below 1.
const DefaultReplaySenders = 1024

// ReplayFilter refuses frames that are not newer than the last frame it
// accepted from the same sender. Frames are ordered by (Epoch, Counter): a
// newer epoch (the sender restarted) accepts any counter; within an epoch
// the counter must increase strictly. Unlike a window, this refuses frames
// that arrive out of order, which is what a broadcast medium needs: a
// beacon or ping that was overtaken is stale anyway.
//
// It remembers at most maxSenders senders and forgets the one it accepted
// a frame from least recently; a forgotten sender's old frames would be
// accepted again, so maxSenders should exceed the number of nodes in
// radio range. It is safe for concurrent use.
type ReplayFilter struct {
	maxSenders int

	// mu guards the fields below.
	mu      sync.Mutex
	senders map[identity.NodeID]*list.Element // of *replayState
	lru     *list.List                        // most recently accepted first
}

// replayState is what a ReplayFilter remembers about one sender.
type replayState struct {
	id      identity.NodeID
	epoch   uint32
	counter uint32
}

// NewReplayFilter returns a filter that remembers at most maxSenders
// senders (DefaultReplaySenders if maxSenders < 1).
func NewReplayFilter(maxSenders int) *ReplayFilter {
	if maxSenders < 1 {
		maxSenders = DefaultReplaySenders
	}
	return &ReplayFilter{
		maxSenders: maxSenders,
		senders:    make(map[identity.NodeID]*list.Element),
		lru:        list.New(),
	}
}

// Check accepts f, and records its (Epoch, Counter) as its sender's newest,
// if that is newer than the sender's newest so far; otherwise it returns an
// error wrapping ErrReplay. Call it only with verified frames (DecodeFrame),
// or anyone could move a sender's counter.
func (r *ReplayFilter) Check(f Frame) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.senders[f.Sender]
	if !ok {
		r.senders[f.Sender] = r.lru.PushFront(&replayState{id: f.Sender, epoch: f.Epoch, counter: f.Counter})
		for r.lru.Len() > r.maxSenders {
			old := r.lru.Remove(r.lru.Back()).(*replayState)
			delete(r.senders, old.id)
		}
		return nil
	}
	st := e.Value.(*replayState)
	if f.Epoch < st.epoch || (f.Epoch == st.epoch && f.Counter <= st.counter) {
		return fmt.Errorf("%w: (epoch %d, counter %d) not after (%d, %d)", ErrReplay, f.Epoch, f.Counter, st.epoch, st.counter)
	}
	st.epoch, st.counter = f.Epoch, f.Counter
	r.lru.MoveToFront(e)
	return nil
}

// Len returns the number of senders the filter remembers.
func (r *ReplayFilter) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lru.Len()
}
