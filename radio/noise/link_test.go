package noise

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/radio"
	"github.com/offgrid-net/offgrid/radio/filebus"
	"github.com/offgrid-net/offgrid/radio/radiotest"
)

func testKeys(t testing.TB, seed byte) *identity.Keys {
	t.Helper()
	k, err := identity.Generate(rand.NewChaCha8([32]byte{seed}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testConfig() Config {
	return Config{HandshakeRetry: 5 * time.Millisecond, Rehandshake: 50 * time.Millisecond}
}

func beacon(t testing.TB, k *identity.Keys, counter uint32) []byte {
	t.Helper()
	b, err := radio.EncodeFrame(k, radio.Frame{Type: radio.FrameBeacon, Epoch: 1, Counter: counter,
		Endpoint: "http://10.0.0.5:8081", Name: "secret-name"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ping(t testing.TB, k *identity.Keys, counter uint32) []byte {
	t.Helper()
	b, err := radio.EncodeFrame(k, radio.Frame{Type: radio.FramePing, Epoch: 1, Counter: counter, Nonce: counter})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// node is a running link and the packets it delivered.
type node struct {
	keys *identity.Keys
	link radio.Link
	ch   chan radio.Packet
}

// run runs l until the test ends.
func run(t *testing.T, k *identity.Keys, l radio.Link) *node {
	t.Helper()
	n := &node{keys: k, link: l, ch: make(chan radio.Packet, 1024)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() {
		runErr = l.Run(ctx, func(p radio.Packet) {
			select {
			case n.ch <- p:
			default:
			}
		})
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if runErr != nil {
			t.Errorf("Run() = %v, want nil", runErr)
		}
	})
	return n
}

func newNoise(t *testing.T, inner radio.Link, k *identity.Keys, cfg Config) *Link {
	t.Helper()
	l, err := New(inner, k, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// eventually polls cond until it holds, failing the test after 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// heard drains n's packets and records the senders of valid frames.
func heard(t *testing.T, n *node, from map[identity.NodeID]bool) {
	t.Helper()
	for {
		select {
		case p := <-n.ch:
			f, err := radio.DecodeFrame(p.Data)
			if err != nil {
				t.Fatalf("delivered packet is not a frame: %v", err)
			}
			from[f.Sender] = true
		default:
			return
		}
	}
}

// exchange makes every node send frames until each has heard every other.
func exchange(t *testing.T, frame func(*node, uint32) []byte, nodes ...*node) {
	t.Helper()
	got := make([]map[identity.NodeID]bool, len(nodes))
	for i := range got {
		got[i] = make(map[identity.NodeID]bool)
	}
	var counter uint32
	eventually(t, "all pairs to exchange frames", func() bool {
		counter++
		for _, n := range nodes {
			if err := n.link.Send(context.Background(), frame(n, counter)); err != nil {
				t.Fatalf("Send() = %v", err)
			}
		}
		done := true
		for i, n := range nodes {
			heard(t, n, got[i])
			for j, o := range nodes {
				if i != j && !got[i][o.keys.ID()] {
					done = false
				}
			}
		}
		return done
	})
}

func TestExchangeAndEavesdropper(t *testing.T) {
	testutil.CheckGoroutines(t)
	mesh := radiotest.NewMesh()
	ka, kb, kc := testKeys(t, 1), testKeys(t, 2), testKeys(t, 3)
	a := run(t, ka, newNoise(t, mesh.Link(radio.ViaUDP), ka, testConfig()))
	b := run(t, kb, newNoise(t, mesh.Link(radio.ViaUDP), kb, testConfig()))
	plain := run(t, kc, mesh.Link(radio.ViaUDP))

	exchange(t, func(n *node, c uint32) []byte { return beacon(t, n.keys, c) }, a, b)

	if got := a.link.(*Link).Stats(); got.Sessions == 0 || got.Decrypted == 0 {
		t.Errorf("a.Stats() = %+v, want sessions and decrypted frames", got)
	}
	recv := radio.NewReceiver(kc.ID(), 16)
	var seen int
	for len(plain.ch) > 0 {
		p := <-plain.ch
		seen++
		if _, err := radio.DecodeFrame(p.Data); err == nil {
			t.Errorf("plain link decoded a frame from the noise links: %x", p.Data)
		}
		if _, err := recv.Accept(p); !errors.Is(err, radio.ErrMalformed) {
			t.Errorf("Receiver.Accept(noise datagram) = %v, want ErrMalformed", err)
		}
		if bytes.Contains(p.Data, []byte("secret-name")) || bytes.Contains(p.Data, ka.SignPublic()) {
			t.Errorf("plain link saw plaintext in %x", p.Data)
		}
	}
	if seen == 0 {
		t.Error("plain link saw no datagrams")
	}
}

func TestRefusesPlaintext(t *testing.T) {
	testutil.CheckGoroutines(t)
	mesh := radiotest.NewMesh()
	ka, kb := testKeys(t, 1), testKeys(t, 2)
	nl := newNoise(t, mesh.Link(radio.ViaUDP), ka, testConfig())
	a := run(t, ka, nl)
	plain := mesh.Link(radio.ViaUDP)
	if err := plain.Send(context.Background(), beacon(t, kb, 1)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the plaintext frame to be dropped", func() bool { return nl.Stats().DroppedBad == 1 })
	if len(a.ch) != 0 {
		t.Errorf("noise link delivered %d packets from a plain link, want 0", len(a.ch))
	}
}

func TestAllowList(t *testing.T) {
	testutil.CheckGoroutines(t)
	mesh := radiotest.NewMesh()
	ka, kb, kc := testKeys(t, 1), testKeys(t, 2), testKeys(t, 3)
	cfgA := testConfig()
	cfgA.Peers = func() [][]byte { return [][]byte{kb.BoxPublic()} }
	la := newNoise(t, mesh.Link(radio.ViaUDP), ka, cfgA)
	a := run(t, ka, la)
	b := run(t, kb, newNoise(t, mesh.Link(radio.ViaUDP), kb, testConfig()))
	c := run(t, kc, newNoise(t, mesh.Link(radio.ViaUDP), kc, testConfig()))

	exchange(t, func(n *node, cnt uint32) []byte { return beacon(t, n.keys, cnt) }, a, b)
	// c pairs with b but never with a, however often it sends.
	exchange(t, func(n *node, cnt uint32) []byte { return beacon(t, n.keys, cnt) }, b, c)
	for i := range 20 {
		if err := c.link.Send(context.Background(), beacon(t, kc, uint32(100+i))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "a to refuse c", func() bool { return la.Stats().DroppedPeer > 0 })
	from := make(map[identity.NodeID]bool)
	heard(t, a, from)
	if from[kc.ID()] {
		t.Error("a delivered a frame from c, which its allow-list refuses")
	}
	la.mu.Lock()
	defer la.mu.Unlock()
	for _, s := range la.sessions {
		if s.peer != string(kb.BoxPublic()) {
			t.Errorf("a holds a session with %x, want only b", s.peer)
		}
	}
}

func TestThreeNodes(t *testing.T) {
	testutil.CheckGoroutines(t)
	mesh := radiotest.NewMesh()
	var nodes []*node
	for i := range 3 {
		k := testKeys(t, byte(i+1))
		nodes = append(nodes, run(t, k, newNoise(t, mesh.Link(radio.ViaUDP), k, testConfig())))
	}
	exchange(t, func(n *node, c uint32) []byte { return beacon(t, n.keys, c) }, nodes...)
}

func TestFileBus(t *testing.T) {
	testutil.CheckGoroutines(t)
	path := filepath.Join(t.TempDir(), "bus")
	var nodes []*node
	for i := range 2 {
		k := testKeys(t, byte(i+1))
		inner, err := filebus.New(path, 2*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		l := newNoise(t, inner, k, testConfig())
		if got, want := l.MTU(), radio.MaxLineFrame-Overhead; got != want {
			t.Errorf("MTU() = %d, want %d", got, want)
		}
		nodes = append(nodes, run(t, k, l))
	}
	exchange(t, func(n *node, c uint32) []byte { return ping(t, n.keys, c) }, nodes...)
}

func TestRunStopsOnCancel(t *testing.T) {
	testutil.CheckGoroutines(t)
	mesh := radiotest.NewMesh()
	k := testKeys(t, 1)
	l := newNoise(t, mesh.Link(radio.ViaUDP), k, testConfig())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, func(radio.Packet) {}) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	k := testKeys(t, 1)
	mesh := radiotest.NewMesh()
	l, err := New(mesh.Link(radio.ViaUDP), k, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.MTU(), radio.MaxFrame-Overhead; got != want || Overhead != 36 {
		t.Errorf("MTU() = %d, Overhead %d, want %d, 36", got, Overhead, want)
	}
	if err := l.Send(context.Background(), make([]byte, l.MTU()+1)); !errors.Is(err, radio.ErrTooLarge) {
		t.Errorf("Send(MTU+1 bytes) = %v, want ErrTooLarge", err)
	}
	mesh.SetMTU(radio.MinFrame + Overhead - 1)
	if _, err := New(mesh.Link(radio.ViaUDP), k, Config{}); err == nil {
		t.Error("New(inner with small MTU) = nil error")
	}
	if _, err := New(mesh.Link(radio.ViaUDP), k, Config{MaxSessions: -1}); err == nil {
		t.Error("New(MaxSessions -1) = nil error")
	}
}

// capture is an inner link that records sends and delivers nothing.
type capture struct {
	mu   sync.Mutex
	sent [][]byte
}

func (c *capture) Via() radio.Via { return radio.ViaUDP }
func (c *capture) MTU() int       { return radio.MaxFrame }
func (c *capture) Send(_ context.Context, b []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sent = append(c.sent, append([]byte(nil), b...))
	return nil
}
func (c *capture) Run(ctx context.Context, _ func(radio.Packet)) error { <-ctx.Done(); return nil }

func (c *capture) take() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sent
	c.sent = nil
	return s
}

// pair runs a handshake between two links synchronously (a initiates) and
// returns a's inner link, to which a sends.
func pair(t testing.TB) (a, b *Link, ca *capture) {
	t.Helper()
	ca, cb := &capture{}, &capture{}
	var err error
	if a, err = New(ca, testKeys(t, 1), Config{}); err != nil {
		t.Fatal(err)
	}
	if b, err = New(cb, testKeys(t, 2), Config{}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := a.Send(ctx, []byte("dropped: no session")); err != nil {
		t.Fatal(err)
	}
	hello := ca.take()
	if len(hello) != 1 || len(hello[0]) != headerSize+msg1Size {
		t.Fatalf("first Send sent %d datagrams, want one message 1", len(hello))
	}
	msg2, _ := b.handle(hello[0])
	msg3, _ := a.handle(msg2)
	if reply, _ := b.handle(msg3); reply != nil || len(msg2) != MaxHandshake || len(msg3) != headerSize+msg3Size {
		t.Fatalf("handshake sizes %d, %d, reply %x", len(msg2), len(msg3), reply)
	}
	if a.Stats().Sessions != 1 || b.Stats().Sessions != 1 {
		t.Fatalf("sessions a %+v, b %+v, want 1 each", a.Stats(), b.Stats())
	}
	return a, b, ca
}

func TestReplayAndTamper(t *testing.T) {
	t.Parallel()
	a, b, ca := pair(t)
	k := testKeys(t, 1)
	var dgs [][]byte
	for i := range 3 {
		if err := a.Send(context.Background(), ping(t, k, uint32(i))); err != nil {
			t.Fatal(err)
		}
		s := ca.take()
		if len(s) != 1 {
			t.Fatalf("Send sent %d datagrams, want 1", len(s))
		}
		dgs = append(dgs, s[0])
	}
	if got, want := len(dgs[0]), len(ping(t, k, 0))+Overhead; got != want {
		t.Errorf("transport message is %d bytes, want %d", got, want)
	}
	// Tampering with any byte makes the datagram undeliverable.
	for i := range dgs[0] {
		bad := bytes.Clone(dgs[0])
		bad[i] ^= 0x40
		if _, frame := b.handle(bad); frame != nil {
			t.Errorf("datagram with byte %d flipped delivered %x", i, frame)
		}
	}
	// Out of order is fine; replays are not.
	for _, i := range []int{2, 0, 1} {
		if _, frame := b.handle(dgs[i]); !bytes.Equal(frame, ping(t, k, uint32(i))) {
			t.Errorf("handle(datagram %d) = %x, want ping %d", i, frame, i)
		}
	}
	before := b.Stats().DroppedReplay
	for i := range dgs {
		if _, frame := b.handle(dgs[i]); frame != nil {
			t.Errorf("replayed datagram %d delivered", i)
		}
	}
	if got := b.Stats().DroppedReplay - before; got != 3 {
		t.Errorf("DroppedReplay rose by %d, want 3", got)
	}
	if st := b.Stats(); st.Decrypted != 3 || st.DroppedBad == 0 {
		t.Errorf("b.Stats() = %+v, want 3 decrypted and bad drops", st)
	}
}

func TestWindow(t *testing.T) {
	t.Parallel()
	var w window
	accept := func(n uint64) bool {
		if !w.fresh(n) {
			return false
		}
		w.mark(n)
		return true
	}
	steps := []struct {
		n    uint64
		want bool
	}{
		{5, true}, {5, false}, {3, true}, {3, false}, {100, true}, {37, true}, {36, false},
		{99, true}, {5, false}, {1000, true}, {999, true}, {100, false},
	}
	for _, s := range steps {
		if got := accept(s.n); got != s.want {
			t.Errorf("accept(%d) = %v, want %v", s.n, got, s.want)
		}
	}
}

func TestSessionsBounded(t *testing.T) {
	t.Parallel()
	cb := &capture{}
	b, err := New(cb, testKeys(t, 2), Config{MaxSessions: 4})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		ca := &capture{}
		a, err := New(ca, testKeys(t, byte(10+i)), Config{})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Send(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		msg2, _ := b.handle(ca.take()[0])
		msg3, _ := a.handle(msg2)
		b.handle(msg3)
	}
	if st := b.Stats(); st.Sessions != 4 || st.Handshakes != 10 {
		t.Errorf("b.Stats() = %+v, want 4 sessions of 10 handshakes", st)
	}
}
