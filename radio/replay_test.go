package radio

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
)

func TestReplayFilterOrder(t *testing.T) {
	t.Parallel()
	a, b := testKeys(t, 1).ID(), testKeys(t, 2).ID()
	steps := []struct {
		sender         identity.NodeID
		epoch, counter uint32
		ok             bool
	}{
		{a, 5, 10, true},
		{a, 5, 10, false}, // repeat
		{a, 5, 9, false},  // older counter
		{a, 5, 11, true},
		{a, 5, 20, true}, // gaps are fine
		{b, 5, 1, true},  // senders are independent
		{a, 4, 100, false},
		{a, 6, 0, true}, // a newer epoch resets the counter
		{a, 6, 0, false},
		{a, 5, 21, false}, // the old epoch stays closed
		{b, 5, 1, false},
		{b, 0, ^uint32(0), false},
	}
	r := NewReplayFilter(10)
	for i, s := range steps {
		err := r.Check(Frame{Sender: s.sender, Epoch: s.epoch, Counter: s.counter})
		if s.ok && err != nil || !s.ok && !errors.Is(err, ErrReplay) {
			t.Errorf("step %d: Check(epoch %d, counter %d) = %v, want ok %v", i, s.epoch, s.counter, err, s.ok)
		}
	}
}

func TestReplayFilterEviction(t *testing.T) {
	t.Parallel()
	r := NewReplayFilter(2)
	ids := []identity.NodeID{"a", "b", "c"}
	for _, id := range ids {
		if err := r.Check(Frame{Sender: id, Epoch: 1, Counter: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Len(); got != 2 {
		t.Errorf("Len() = %d, want 2", got)
	}
	// "a" was evicted, so its old frame is accepted again; "c" is remembered.
	if err := r.Check(Frame{Sender: "a", Epoch: 1, Counter: 1}); err != nil {
		t.Errorf("Check(evicted sender) = %v, want nil", err)
	}
	if err := r.Check(Frame{Sender: "c", Epoch: 1, Counter: 1}); !errors.Is(err, ErrReplay) {
		t.Errorf("Check(remembered sender) = %v, want ErrReplay", err)
	}
	// Accepting "a" evicted "b", the least recently accepted.
	if err := r.Check(Frame{Sender: "b", Epoch: 1, Counter: 1}); err != nil {
		t.Errorf("Check(least recent sender) = %v, want nil (evicted)", err)
	}
	if NewReplayFilter(0).maxSenders != DefaultReplaySenders {
		t.Error("NewReplayFilter(0) does not use DefaultReplaySenders")
	}
}

func TestReplayFilterConcurrent(t *testing.T) {
	t.Parallel()
	r := NewReplayFilter(8)
	var wg sync.WaitGroup
	var mu sync.Mutex
	accepted := 0
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				// Every goroutine offers the same frames of 4 senders.
				f := Frame{Sender: identity.NodeID(fmt.Sprint(i % 4)), Epoch: 1, Counter: uint32(i)}
				if r.Check(f) == nil {
					mu.Lock()
					accepted++
					mu.Unlock()
				}
			}
			_ = g
		})
	}
	wg.Wait()
	// Each (sender, counter) is accepted at most once.
	if accepted > 200 {
		t.Errorf("accepted %d frames, want at most 200", accepted)
	}
}
