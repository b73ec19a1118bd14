package udp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/ipv4"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/radio"
)

// randomGroup returns the test group on a random port, so that tests (and
// test runs) do not hear each other.
func randomGroup() string { return fmt.Sprintf("239.23.0.7:%d", 40000+rand.IntN(20000)) }

// loopbackConfig returns a config on lo, or skips the test when multicast
// on the loopback interface does not work here.
func loopbackConfig(t *testing.T) Config {
	t.Helper()
	ifi, err := net.InterfaceByName("lo")
	if err != nil {
		t.Skipf("no loopback interface lo: %v", err)
	}
	cfg := Config{Group: randomGroup(), Interface: "lo", Loopback: true}
	if err := probe(cfg, ifi); err != nil {
		t.Skipf("UDP multicast on lo does not work here (lo flags: %v; lo must be up, and some kernels need `ip link set lo multicast on`): %v", ifi.Flags, err)
	}
	return cfg
}

// probe sends one datagram to cfg's group on ifi and waits for it.
func probe(cfg Config, ifi *net.Interface) error {
	group, err := net.ResolveUDPAddr("udp4", cfg.Group)
	if err != nil {
		return err
	}
	c, err := net.ListenMulticastUDP("udp4", ifi, group)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return err
	}
	defer s.Close()
	p := ipv4.NewPacketConn(s)
	if err := p.SetMulticastInterface(ifi); err != nil {
		return err
	}
	if err := p.SetMulticastLoopback(true); err != nil {
		return err
	}
	if _, err := s.WriteToUDP([]byte("probe"), group); err != nil {
		return err
	}
	if err := c.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	buf := make([]byte, 16)
	_, _, err = c.ReadFromUDP(buf)
	return err
}

func testKeys(t *testing.T, seed byte) *identity.Keys {
	t.Helper()
	k, err := identity.Generate(rand.NewChaCha8([32]byte{seed}))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// node is a link with a receiver, as a node runs them.
type node struct {
	keys    *identity.Keys
	link    *Link
	recv    *radio.Receiver
	frames  chan radio.Frame // accepted frames
	counter uint32
}

// startNode runs a link for keys on cfg until the test ends.
func startNode(t *testing.T, cfg Config, keys *identity.Keys) *node {
	t.Helper()
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{keys: keys, link: l, recv: radio.NewReceiver(keys.ID(), 64), frames: make(chan radio.Frame, 256)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var runErr error
	wg.Go(func() {
		runErr = l.Run(ctx, func(p radio.Packet) {
			if p.Via != radio.ViaUDP {
				t.Errorf("packet via %q, want %q", p.Via, radio.ViaUDP)
			}
			if f, err := n.recv.Accept(p); err == nil {
				select {
				case n.frames <- f:
				default:
					t.Error("frame channel full")
				}
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

// beacon sends a beacon with the node's next counter.
func (n *node) beacon(t *testing.T, name string) []byte {
	t.Helper()
	n.counter++
	b, err := radio.EncodeFrame(n.keys, radio.Frame{Type: radio.FrameBeacon, Epoch: 1, Counter: n.counter, Endpoint: "http://127.0.0.1:8081", Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.link.Send(t.Context(), b); err != nil {
		t.Fatalf("Send(): %v", err)
	}
	return b
}

// waitFrame waits for a frame from sender named name at n, calling resend
// every 50 ms (links join the group asynchronously).
func (n *node) waitFrame(t *testing.T, sender identity.NodeID, name string, resend func()) radio.Frame {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		select {
		case f := <-n.frames:
			if f.Sender == sender && f.Name == name {
				return f
			}
		case <-tick.C:
			if resend != nil {
				resend()
			}
		case <-deadline.C:
			t.Fatalf("no frame %q from %s after 5s; stats %+v", name, sender, n.recv.Stats())
		}
	}
}

// waitSelf sends beacons until the node's receiver has dropped one of its
// own frames.
func (n *node) waitSelf(t *testing.T) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for n.recv.Stats().Self == 0 {
		n.beacon(t, "self")
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("node never heard itself; stats %+v", n.recv.Stats())
		}
	}
}

func TestExchange(t *testing.T) {
	testutil.CheckGoroutines(t)
	cfg := loopbackConfig(t)
	a := startNode(t, cfg, testKeys(t, 1))
	b := startNode(t, cfg, testKeys(t, 2))
	c := startNode(t, cfg, testKeys(t, 3))
	// Each node hears each other node, and drops its own frames.
	for _, from := range []*node{a, b, c} {
		name := "from-" + string(from.keys.ID()[len(from.keys.ID())-4:])
		send := func() { from.beacon(t, name) }
		send()
		for _, to := range []*node{a, b, c} {
			if to == from {
				continue
			}
			f := to.waitFrame(t, from.keys.ID(), name, send)
			if f.Endpoint != "http://127.0.0.1:8081" {
				t.Errorf("frame endpoint %q, want http://127.0.0.1:8081", f.Endpoint)
			}
		}
	}
	// Each node hears its own frames (multicast loop) and drops them.
	for _, n := range []*node{a, b, c} {
		n.waitSelf(t)
		st := n.recv.Stats()
		if st.Accepted < 2 || st.Malformed+st.BadSignature+st.Oversized != 0 {
			t.Errorf("stats %+v: want >= 2 accepted, no bad frames", st)
		}
	}
}

func TestReceiverDropsBadFrames(t *testing.T) {
	testutil.CheckGoroutines(t)
	cfg := loopbackConfig(t)
	a := startNode(t, cfg, testKeys(t, 1))
	b := startNode(t, cfg, testKeys(t, 2))
	send := func() { a.beacon(t, "ready") }
	send()
	b.waitFrame(t, a.keys.ID(), "ready", send)
	before := b.recv.Stats()

	ctx := t.Context()
	good := a.beacon(t, "good") // accepted once
	b.waitFrame(t, a.keys.ID(), "good", nil)
	forged := bytes.Clone(good)
	forged[len(forged)-1] ^= 0x01
	a.counter++
	fresh, err := radio.EncodeFrame(a.keys, radio.Frame{Type: radio.FramePing, Epoch: 1, Counter: a.counter, Nonce: 7})
	if err != nil {
		t.Fatal(err)
	}
	forgedFresh := bytes.Clone(fresh)
	forgedFresh[20] ^= 0x01 // the key: verifies for no one
	for _, d := range [][]byte{
		good,                 // replayed
		forged,               // bad signature (and replayed counter, but verified first)
		forgedFresh,          // bad signature
		fresh[:len(fresh)-3], // truncated
		[]byte("garbage, not a frame"),
		{},
	} {
		if err := a.link.Send(ctx, d); err != nil {
			t.Fatalf("Send(%x): %v", d, err)
		}
	}
	if err := a.link.Send(ctx, make([]byte, MTU+1)); !errors.Is(err, radio.ErrTooLarge) {
		t.Errorf("Send(%d bytes) = %v, want ErrTooLarge", MTU+1, err)
	}
	// An oversized datagram from a plain socket.
	sendRaw(t, cfg, make([]byte, 1000))
	// A good frame last: once it arrives, everything before it has.
	a.beacon(t, "marker")
	b.waitFrame(t, a.keys.ID(), "marker", nil)

	got := b.recv.Stats()
	want := radio.StatsSnapshot{Received: 9, Accepted: 2, Replayed: 1, BadSignature: 2, Malformed: 3, Oversized: 1}
	delta := radio.StatsSnapshot{
		Received:     got.Received - before.Received,
		Accepted:     got.Accepted - before.Accepted,
		Malformed:    got.Malformed - before.Malformed,
		BadSignature: got.BadSignature - before.BadSignature,
		Replayed:     got.Replayed - before.Replayed,
		Oversized:    got.Oversized - before.Oversized,
		Self:         got.Self - before.Self,
	}
	if delta != want {
		t.Errorf("stats delta = %+v, want %+v", delta, want)
	}
}

// sendRaw sends d to cfg's group on lo from a plain socket.
func sendRaw(t *testing.T, cfg Config, d []byte) {
	t.Helper()
	group, err := net.ResolveUDPAddr("udp4", cfg.Group)
	if err != nil {
		t.Fatal(err)
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		t.Fatal(err)
	}
	s, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := ipv4.NewPacketConn(s)
	if err := p.SetMulticastInterface(ifi); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteToUDP(d, group); err != nil {
		t.Fatal(err)
	}
}

func TestRunStopsPromptly(t *testing.T) {
	testutil.CheckGoroutines(t)
	cfg := loopbackConfig(t)
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- l.Run(ctx, func(radio.Packet) {}) }()
	time.AfterFunc(50*time.Millisecond, cancel)
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("Run() = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return 5s after ctx ended")
	}
	// A cancelled context refuses a send.
	if err := l.Send(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send(cancelled ctx) = %v, want context.Canceled", err)
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Group: "10.0.0.1:47007"},
		{Group: "239.23.0.7"},
		{Group: "239.23.0.7:0"},
		{Group: "239.23.0.7:70000"},
		{Group: "[ff02::1]:47007"},
		{Group: "239.23.0.7:47007", Interface: "no-such-interface0"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
	l, err := New(Config{})
	if err != nil {
		t.Fatalf("New(Config{}) = %v", err)
	}
	if l.Group() != DefaultGroup || l.MTU() != radio.MaxFrame || l.Via() != radio.ViaUDP {
		t.Errorf("New(Config{}) = group %s, MTU %d, via %s", l.Group(), l.MTU(), l.Via())
	}
}
