package radiotest

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/radio"
)

// collect runs l until the bubble's test ends and counts its packets.
type collector struct {
	mu sync.Mutex
	n  int
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

func runAll(t *testing.T, links ...radio.Link) []*collector {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	cs := make([]*collector, len(links))
	for i, l := range links {
		c := &collector{}
		cs[i] = c
		wg.Go(func() {
			if err := l.Run(ctx, func(radio.Packet) { c.mu.Lock(); c.n++; c.mu.Unlock() }); err != nil {
				t.Errorf("Run() = %v", err)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	return cs
}

func TestMeshBroadcast(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMesh()
		a, b, c := m.Link(radio.ViaLoRa), m.Link(radio.ViaLoRa), m.Link(radio.ViaLoRa)
		other := m.Link(radio.ViaUDP)
		cs := runAll(t, a, b, c, other)
		k, err := identity.Generate(rand.NewChaCha8([32]byte{1}))
		if err != nil {
			t.Fatal(err)
		}
		frame, err := radio.EncodeFrame(k, radio.Frame{Type: radio.FramePing, Nonce: 1})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Send(t.Context(), frame); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := []int{cs[0].count(), cs[1].count(), cs[2].count(), cs[3].count()}; got[0] != 0 || got[1] != 1 || got[2] != 1 || got[3] != 0 {
			t.Errorf("deliveries (a, b, c, other via) = %v, want [0 1 1 0]", got)
		}
		m.Down(c)
		if err := a.Send(t.Context(), frame); err != nil {
			t.Fatal(err)
		}
		if err := c.Send(t.Context(), frame); err != nil { // a down link sends into the void
			t.Fatal(err)
		}
		synctest.Wait()
		if got := []int{cs[0].count(), cs[1].count(), cs[2].count()}; got[0] != 0 || got[1] != 2 || got[2] != 1 {
			t.Errorf("deliveries with c down (a, b, c) = %v, want [0 2 1]", got)
		}
		m.Up(c)
		if err := b.Send(t.Context(), frame); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := []int{cs[0].count(), cs[2].count()}; got[0] != 1 || got[1] != 2 {
			t.Errorf("deliveries with c up again (a, c) = %v, want [1 2]", got)
		}
	})
}

func TestMeshLossIsDeterministic(t *testing.T) {
	t.Parallel()
	run := func() (int, int) {
		m := NewMesh()
		m.SetLoss(0.3)
		a := m.Link(radio.ViaBLE)
		b := m.Link(radio.ViaBLE)
		for range 200 {
			if err := a.Send(context.Background(), []byte{1}); err != nil {
				t.Fatal(err)
			}
		}
		got := len(b.(*Link).inbox)
		sent, dropped := m.Stats()
		if sent != 200 || got+dropped != 200 {
			t.Errorf("sent %d, delivered %d, dropped %d; want 200 = delivered + dropped", sent, got, dropped)
		}
		return got, dropped
	}
	got1, _ := run()
	got2, _ := run()
	if got1 != got2 || got1 < 100 || got1 > 180 {
		t.Errorf("delivered %d then %d of 200 at 30%% loss: want equal, about 140", got1, got2)
	}
}

func TestMeshMTU(t *testing.T) {
	t.Parallel()
	m := NewMesh()
	m.SetMTU(50)
	l := m.Link(radio.ViaLoRa)
	if l.MTU() != 50 {
		t.Errorf("MTU() = %d, want 50", l.MTU())
	}
	if err := l.Send(context.Background(), make([]byte, 51)); !errors.Is(err, radio.ErrTooLarge) {
		t.Errorf("Send(51 bytes) = %v, want ErrTooLarge", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Send(ctx, []byte{1}); !errors.Is(err, context.Canceled) {
		t.Errorf("Send(cancelled) = %v, want context.Canceled", err)
	}
}

func TestMeshFullInboxDrops(t *testing.T) {
	t.Parallel()
	m := NewMesh()
	a, _ := m.Link(radio.ViaUDP), m.Link(radio.ViaUDP)
	for range InboxSize + 10 {
		if err := a.Send(context.Background(), []byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, dropped := m.Stats(); dropped != 10 {
		t.Errorf("dropped %d, want 10", dropped)
	}
}
