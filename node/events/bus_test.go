package events_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/node/events"
)

// testClock is a fixed clock, so envelopes compare exactly.
var testClock = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// toggled is a test event.
type toggled struct{ Active bool }

func (toggled) Kind() string { return "toggle" }

func TestBusDeliversInOrder(t *testing.T) {
	t.Parallel()
	bus := events.NewBus(func() time.Time { return testClock })
	sub := bus.Subscribe(4)
	defer sub.Close()
	bus.Publish(toggled{Active: false})
	bus.Publish(toggled{Active: true})
	var got []events.Envelope
	for range 2 {
		got = append(got, <-sub.C())
	}
	want := []events.Envelope{
		{Seq: 1, Time: testClock, Event: toggled{Active: false}},
		{Seq: 2, Time: testClock, Event: toggled{Active: true}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events mismatch (-want +got):\n%s", diff)
	}
}

// TestBusDropsSlowSubscriber publishes more events than a subscriber that
// never reads can buffer: Publish must not block, the slow subscriber's
// channel closes after its buffered events, and a reading subscriber
// keeps getting everything.
func TestBusDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	bus := events.NewBus(time.Now)
	slow := bus.Subscribe(2)
	fast := bus.Subscribe(100)
	defer fast.Close()

	published := make(chan struct{})
	go func() {
		defer close(published)
		for range 10 {
			bus.Publish(toggled{Active: true})
		}
	}()
	timer := time.NewTimer(5 * time.Second)
	defer timer.Stop()
	select {
	case <-published:
	case <-timer.C:
		t.Fatal("Publish blocked on a subscriber that does not read")
	}

	var buffered int
	for range slow.C() {
		buffered++
	}
	if buffered != 2 {
		t.Errorf("slow subscriber got %d events before its channel closed, want its buffer of 2", buffered)
	}
	if got := len(fast.C()); got != 10 {
		t.Errorf("fast subscriber has %d events, want 10", got)
	}
	slow.Close() // closing a dropped subscription again is harmless
	bus.Publish(toggled{})
	if got := len(fast.C()); got != 11 {
		t.Errorf("fast subscriber has %d events after another publish, want 11", got)
	}
}

func TestSubscriptionCloseIsIdempotent(t *testing.T) {
	t.Parallel()
	bus := events.NewBus(time.Now)
	sub := bus.Subscribe(0) // at least 1
	sub.Close()
	sub.Close()
	if _, ok := <-sub.C(); ok {
		t.Error("closed subscription delivered an event")
	}
	bus.Publish(toggled{}) // no panic on a closed subscriber
}

// seqs are the sequence numbers of envs, in order.
func seqs(envs []events.Envelope) []uint64 {
	out := make([]uint64, 0, len(envs))
	for _, e := range envs {
		out = append(out, e.Seq)
	}
	return out
}

// seqRange is from..to inclusive.
func seqRange(from, to uint64) []uint64 {
	out := []uint64{}
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// TestBusHistory publishes various numbers of events and checks that the
// bus keeps the newest HistorySize, oldest first, and that SubscribeAfter
// returns the kept ones after its sequence number and then delivers the
// next event live, with no gap and no repeat.
func TestBusHistory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		published int
		after     uint64
		want      []uint64
		wantAfter []uint64
	}{
		{name: "none", published: 0, after: 0, want: []uint64{}, wantAfter: []uint64{}},
		{name: "some", published: 3, after: 1, want: seqRange(1, 3), wantAfter: seqRange(2, 3)},
		{name: "exactly full", published: events.HistorySize, after: 0, want: seqRange(1, 100), wantAfter: seqRange(1, 100)},
		{name: "wrapped", published: 250, after: 200, want: seqRange(151, 250), wantAfter: seqRange(201, 250)},
		{name: "after older than kept", published: 250, after: 10, want: seqRange(151, 250), wantAfter: seqRange(151, 250)},
		{name: "after newest", published: 5, after: 5, want: seqRange(1, 5), wantAfter: []uint64{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bus := events.NewBus(func() time.Time { return testClock })
			for range tc.published {
				bus.Publish(toggled{Active: true})
			}
			if diff := cmp.Diff(tc.want, seqs(bus.History())); diff != "" {
				t.Errorf("History (-want +got):\n%s", diff)
			}
			hist, sub := bus.SubscribeAfter(4, tc.after)
			defer sub.Close()
			if diff := cmp.Diff(tc.wantAfter, seqs(hist)); diff != "" {
				t.Errorf("SubscribeAfter(%d) history (-want +got):\n%s", tc.after, diff)
			}
			bus.Publish(toggled{Active: false})
			if got, want := (<-sub.C()).Seq, uint64(tc.published+1); got != want {
				t.Errorf("first live event has seq %d, want %d", got, want)
			}
		})
	}
}
