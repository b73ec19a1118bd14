package events

import (
	"sync"
	"time"
)

// Event is something that happened in the node. Each part of the engine
// defines the events it publishes.
type Event interface {
	// Kind names the event for feeds and logs, e.g. "toggle".
	Kind() string
}

// Envelope carries an event with its bus sequence number and time.
type Envelope struct {
	Seq   uint64
	Time  time.Time
	Event Event
}

// Bus fans events out to subscribers. Publish never blocks: a subscriber
// whose buffer is full is dropped (its channel is closed), so a slow
// websocket client can never stall the engine.
type Bus struct {
	now func() time.Time

	// mu guards the fields below.
	mu   sync.Mutex
	seq  uint64
	subs map[*Subscription]struct{}
}

// Subscription receives events from a Bus until it is closed or dropped.
type Subscription struct {
	bus *Bus
	c   chan Envelope
	// closed is guarded by bus.mu.
	closed bool
}

// NewBus returns a bus that stamps events with now().
func NewBus(now func() time.Time) *Bus {
	return &Bus{now: now, subs: make(map[*Subscription]struct{})}
}

// Subscribe returns a subscription whose channel buffers up to buffer
// events (at least 1).
func (b *Bus) Subscribe(buffer int) *Subscription {
	s := &Subscription{bus: b, c: make(chan Envelope, max(buffer, 1))}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Publish delivers e to every subscriber that has room and drops the rest.
func (b *Bus) Publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seq++
	env := Envelope{Seq: b.seq, Time: b.now(), Event: e}
	for s := range b.subs {
		select {
		case s.c <- env:
		default:
			s.closeLocked()
		}
	}
}

// C returns the channel of events. It is closed when the subscription is
// closed or dropped for being slow.
func (s *Subscription) C() <-chan Envelope { return s.c }

// Close ends the subscription. It is safe to call more than once.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	s.closeLocked()
}

func (s *Subscription) closeLocked() {
	if s.closed {
		return
	}
	s.closed = true
	delete(s.bus.subs, s)
	close(s.c)
}
