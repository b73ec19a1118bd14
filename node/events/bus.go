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

// HistorySize is how many of the newest events a Bus keeps for feeds that
// start late (a dashboard page loaded after the events happened).
const HistorySize = 100

// Bus fans events out to subscribers. Publish never blocks: a subscriber
// whose buffer is full is dropped (its channel is closed), so a slow
// websocket client can never stall the engine. It also keeps its last
// HistorySize events in a ring, so a page can show what happened before it
// was opened; the ring is overwritten in place, never grown.
type Bus struct {
	now func() time.Time

	// mu guards the fields below.
	mu   sync.Mutex
	seq  uint64
	subs map[*Subscription]struct{}
	// ring holds the newest events; ring[next] is the oldest once full.
	ring []Envelope
	next int
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
	return &Bus{now: now, subs: make(map[*Subscription]struct{}), ring: make([]Envelope, 0, HistorySize)}
}

// History returns the kept events, oldest first.
func (b *Bus) History() []Envelope {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.historyLocked(0)
}

// SubscribeAfter is Subscribe that also returns the kept events with a
// sequence number above after, oldest first. Both are taken under one
// lock, so together they miss no event and repeat none: a page rendered
// with the history up to seq N asks for the events after N and then
// continues live.
func (b *Bus) SubscribeAfter(buffer int, after uint64) ([]Envelope, *Subscription) {
	s := &Subscription{bus: b, c: make(chan Envelope, max(buffer, 1))}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.subs[s] = struct{}{}
	return b.historyLocked(after), s
}

// historyLocked copies the kept events above seq after, oldest first.
func (b *Bus) historyLocked(after uint64) []Envelope {
	out := make([]Envelope, 0, len(b.ring))
	for i := range len(b.ring) {
		env := b.ring[(b.next+i)%len(b.ring)]
		if env.Seq > after {
			out = append(out, env)
		}
	}
	return out
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
	if len(b.ring) < HistorySize {
		b.ring = append(b.ring, env)
	} else {
		b.ring[b.next] = env
		b.next = (b.next + 1) % HistorySize
	}
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
