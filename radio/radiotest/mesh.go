package radiotest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/offgrid-net/offgrid/radio"
)

// DefaultMTU is the MTU of a new Mesh's links.
const DefaultMTU = radio.MaxFrame

// InboxSize bounds the packets waiting for a link's Run; when an inbox is
// full, new packets to it are dropped (as a radio drops what it cannot
// hear) and counted in Mesh.Dropped.
const InboxSize = 256

// Mesh is an in-memory broadcast medium. Its methods are safe for
// concurrent use.
type Mesh struct {
	// mu guards the fields below.
	mu      sync.Mutex
	links   []*Link
	loss    float64
	mtu     int
	rng     *rand.Rand
	sent    int
	dropped int
}

// NewMesh returns a mesh with no loss, links of MTU DefaultMTU, and a loss
// source seeded with 1.
func NewMesh() *Mesh {
	return &Mesh{mtu: DefaultMTU, rng: rand.New(rand.NewPCG(1, 1))}
}

// SetLoss makes each delivery (one frame to one link) fail with probability
// p, drawn from the mesh's seeded source: the same sends in the same order
// lose the same frames.
func (m *Mesh) SetLoss(p float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.loss = p
}

// SetSeed reseeds the loss source.
func (m *Mesh) SetSeed(seed uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rng = rand.New(rand.NewPCG(seed, seed))
}

// SetMTU sets the MTU of links made after the call.
func (m *Mesh) SetMTU(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mtu = n
}

// Link returns a new link on the mesh.
func (m *Mesh) Link(via radio.Via) radio.Link {
	m.mu.Lock()
	defer m.mu.Unlock()
	l := &Link{mesh: m, via: via, mtu: m.mtu, id: len(m.links), inbox: make(chan radio.Packet, InboxSize), up: true}
	m.links = append(m.links, l)
	return l
}

// Down cuts l (a link of this mesh) off: it neither sends nor hears until
// Up. Its sends still succeed, as a radio's do.
func (m *Mesh) Down(l radio.Link) { m.setUp(l, false) }

// Up undoes Down.
func (m *Mesh) Up(l radio.Link) { m.setUp(l, true) }

func (m *Mesh) setUp(l radio.Link, up bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ml, ok := l.(*Link)
	if !ok || ml.mesh != m {
		panic(fmt.Sprintf("radiotest: %T is not a link of this mesh", l))
	}
	ml.up = up
}

// Stats returns how many deliveries the mesh attempted (one frame to one
// link) and how many of those it dropped (loss or a full inbox).
func (m *Mesh) Stats() (sent, dropped int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sent, m.dropped
}

// broadcast delivers frame from l to every other up link of l's Via.
func (m *Mesh) broadcast(from *Link, frame []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !from.up {
		return
	}
	for _, to := range m.links {
		if to == from || to.via != from.via || !to.up {
			continue
		}
		m.sent++
		if m.loss > 0 && m.rng.Float64() < m.loss {
			m.dropped++
			continue
		}
		p := radio.Packet{Data: append([]byte(nil), frame...), Via: from.via, From: fmt.Sprintf("mesh:%d", from.id)}
		select {
		case to.inbox <- p:
		default:
			m.dropped++
		}
	}
}

// Link is a radio.Link on a Mesh.
type Link struct {
	mesh  *Mesh
	via   radio.Via
	mtu   int
	id    int
	inbox chan radio.Packet
	up    bool // guarded by mesh.mu
}

var _ radio.Link = (*Link)(nil)

// Via returns the link's transport name.
func (l *Link) Via() radio.Via { return l.via }

// MTU returns the mesh's MTU when the link was made.
func (l *Link) MTU() int { return l.mtu }

// Send delivers frame to the other links; it never blocks.
func (l *Link) Send(ctx context.Context, frame []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(frame) > l.mtu {
		return fmt.Errorf("radiotest send: %w: %d bytes, MTU %d", radio.ErrTooLarge, len(frame), l.mtu)
	}
	l.mesh.broadcast(l, frame)
	return nil
}

// Run delivers the link's packets until ctx ends. Packets sent while Run
// is not running wait in the inbox.
func (l *Link) Run(ctx context.Context, deliver func(radio.Packet)) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-l.inbox:
			deliver(p)
		}
	}
}
