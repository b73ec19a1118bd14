package ble

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/radio"
	"github.com/offgrid-net/offgrid/radio/ble/bluetest"
)

// Adapters as BlueZ 5.66 reports them.
var (
	secondaryAll = []string{"1M", "2M", "Coded"} // Bluetooth 5 with long range
	secondaryNoC = []string{"1M", "2M"}          // Bluetooth 5 without coded PHY
)

// testNode is one node's end of a link: the link and the radio receiver
// that every node puts its links' packets through.
type testNode struct {
	keys *identity.Keys
	link *Link
	recv *radio.Receiver

	mu       sync.Mutex
	accepted []radio.Frame
	names    []radio.Packet
	changed  chan struct{}
}

func newTestNode(t *testing.T, seed byte, l *Link) *testNode {
	t.Helper()
	k, err := identity.Generate(bytes.NewReader(bytes.Repeat([]byte{seed}, 128)))
	if err != nil {
		t.Fatal(err)
	}
	return &testNode{keys: k, link: l, recv: radio.NewReceiver(k.ID(), 64), changed: make(chan struct{}, 1)}
}

func (n *testNode) deliver(p radio.Packet) {
	n.mu.Lock()
	if p.Data == nil {
		n.names = append(n.names, p)
	} else if f, err := n.recv.Accept(p); err == nil {
		if p.Via != n.link.Via() {
			f.Name = "wrong via " + string(p.Via)
		}
		n.accepted = append(n.accepted, f)
	}
	n.mu.Unlock()
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

// run runs the node's link until the test ends.
func (n *testNode) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.link.Run(ctx, n.deliver) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	})
}

// waitFor waits until cond holds for the node, or fails the test.
func (n *testNode) waitFor(t *testing.T, what string, cond func(n *testNode) bool) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		n.mu.Lock()
		ok := cond(n)
		n.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-n.changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; stats %+v", what, n.recv.Stats())
		}
	}
}

// beacon returns a signed beacon of the node with counter c.
func (n *testNode) beacon(t *testing.T, c uint32, endpoint string) []byte {
	t.Helper()
	b, err := radio.EncodeFrame(n.keys, radio.Frame{Type: radio.FrameBeacon, Epoch: 1, Counter: c, Endpoint: endpoint, Name: "village-hall", Gossip: 7946})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// waitAdvertised waits until the fake holds n registrations on adapter.
func waitAdvertised(t *testing.T, z *bluetest.BlueZ, adapter string, n int) []map[string]dbus.Variant {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		h, _, _ := z.Registered(adapter)
		if len(h) >= n {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("adapter %s: %d advertisements registered, want %d", adapter, len(h), n)
		}
	}
}

func waitDiscovering(t *testing.T, z *bluetest.BlueZ, adapter string) map[string]dbus.Variant {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, on, filter := z.Registered(adapter); on {
			return filter
		}
		if time.Now().After(deadline) {
			t.Fatalf("adapter %s never started discovery", adapter)
		}
	}
}

func mustOpen(t *testing.T, long bool, cfg Config) *Link {
	t.Helper()
	open := New
	if long {
		open = NewLongRange
	}
	l, err := open(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return l
}

// TestFramesCross runs two nodes' links on two adapters of one fake BlueZ:
// each node's beacon crosses in an extended advertisement's manufacturer
// data and passes the other's receiver, on LE 1M for ble and LE Coded for
// bt_lr.
func TestFramesCross(t *testing.T) {
	for _, tt := range []struct {
		long      bool
		via       radio.Via
		secondary string
	}{
		{false, radio.ViaBLE, "1M"},
		{true, radio.ViaBTLR, "Coded"},
	} {
		t.Run(string(tt.via), func(t *testing.T) {
			testutil.CheckGoroutines(t)
			bus := bluetest.StartBus(t)
			z := bluetest.Start(t, bus,
				&bluetest.Adapter{Name: "hci0", Address: "00:00:00:00:00:01", Secondary: secondaryAll},
				&bluetest.Adapter{Name: "hci1", Address: "00:00:00:00:00:02", Secondary: secondaryAll})
			a := newTestNode(t, 1, mustOpen(t, tt.long, Config{Bus: bus, Adapter: "hci0"}))
			b := newTestNode(t, 2, mustOpen(t, tt.long, Config{Bus: bus, Adapter: "hci1"}))
			if a.link.Via() != tt.via || a.link.Notice() != "" || a.link.MTU() != radio.MaxFrame {
				t.Fatalf("link: via %s, notice %q, MTU %d; want %s, none, %d", a.link.Via(), a.link.Notice(), a.link.MTU(), tt.via, radio.MaxFrame)
			}
			// A beacon sent before Run is advertised once it runs.
			if err := a.link.Send(t.Context(), a.beacon(t, 1, "http://192.168.100.200:8081")); err != nil {
				t.Fatalf("Send before Run: %v", err)
			}
			a.run(t)
			b.run(t)
			filter := waitDiscovering(t, z, "hci1")
			if got := filter["Transport"].Value(); got != "le" {
				t.Errorf("discovery filter Transport = %v, want le", got)
			}
			if err := b.link.Send(t.Context(), b.beacon(t, 1, "http://10.0.0.2:8081")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			b.waitFor(t, "a's beacon", func(n *testNode) bool { return len(n.accepted) == 1 })
			a.waitFor(t, "b's beacon", func(n *testNode) bool { return len(n.accepted) == 1 })
			if f := b.accepted[0]; f.Sender != a.keys.ID() || f.Endpoint != "http://192.168.100.200:8081" || f.Gossip != 7946 || f.Name != "village-hall" {
				t.Errorf("b accepted %+v, want a's beacon", f)
			}
			if f := a.accepted[0]; f.Sender != b.keys.ID() || f.Endpoint != "http://10.0.0.2:8081" {
				t.Errorf("a accepted %+v, want b's beacon", f)
			}
			adv := waitAdvertised(t, z, "hci0", 1)[0]
			for k, want := range map[string]any{
				"Type": "broadcast", "SecondaryChannel": tt.secondary, "Timeout": uint16(4),
				"MinInterval": uint32(500), "MaxInterval": uint32(500),
			} {
				if got := adv[k].Value(); got != want {
					t.Errorf("advertisement %s = %v, want %v", k, got, want)
				}
			}

			// The next beacon replaces the advertisement; the old one is
			// withdrawn, not stacked.
			if err := a.link.Send(t.Context(), a.beacon(t, 2, "http://192.168.100.200:8081")); err != nil {
				t.Fatalf("Send: %v", err)
			}
			b.waitFor(t, "a's second beacon", func(n *testNode) bool { return len(n.accepted) == 2 })
			if n := z.Active("hci0"); n != 1 {
				t.Errorf("hci0 has %d advertisements on the air, want 1", n)
			}
		})
	}
}

// TestDropsCounted has a node hear, through BlueZ, frames that a nearby
// transmitter forged, replayed or made too long, and signals that are not
// BlueZ's: each is dropped and counted by the radio receiver (or not even
// received), and a good frame after them still passes.
func TestDropsCounted(t *testing.T) {
	testutil.CheckGoroutines(t)
	bus := bluetest.StartBus(t)
	z := bluetest.Start(t, bus, &bluetest.Adapter{Name: "hci0", Address: "00:00:00:00:00:01", Secondary: secondaryAll})
	n := newTestNode(t, 1, mustOpen(t, false, Config{Bus: bus}))
	n.run(t)
	waitDiscovering(t, z, "hci0")
	peer := newTestNode(t, 2, nil)
	good := peer.beacon(t, 5, "http://10.0.0.2:8081")
	forged := bytes.Clone(good)
	forged[len(forged)-1] ^= 1
	mfr := func(b []byte) map[string]dbus.Variant {
		return map[string]dbus.Variant{"ManufacturerData": dbus.MakeVariant(map[uint16]dbus.Variant{CompanyID: dbus.MakeVariant(b)})}
	}

	steps := []struct {
		name  string
		props map[string]dbus.Variant
		want  radio.StatsSnapshot
	}{
		{"good", mfr(good), radio.StatsSnapshot{Received: 1, Accepted: 1}},
		{"replayed", mfr(good), radio.StatsSnapshot{Received: 2, Accepted: 1, Replayed: 1}},
		{"forged", mfr(forged), radio.StatsSnapshot{Received: 3, Accepted: 1, Replayed: 1, BadSignature: 1}},
		{"oversized", mfr(bytes.Repeat([]byte{1}, radio.MaxFrame+1)), radio.StatsSnapshot{Received: 4, Accepted: 1, Replayed: 1, BadSignature: 1, Oversized: 1}},
		{"truncated", mfr(good[:50]), radio.StatsSnapshot{Received: 5, Accepted: 1, Replayed: 1, BadSignature: 1, Oversized: 1, Malformed: 1}},
		// Another maker's data under another company ID is not ours.
		{"other company", map[string]dbus.Variant{"ManufacturerData": dbus.MakeVariant(map[uint16]dbus.Variant{0x004C: dbus.MakeVariant(good)})},
			radio.StatsSnapshot{Received: 5, Accepted: 1, Replayed: 1, BadSignature: 1, Oversized: 1, Malformed: 1}},
		{"next", mfr(peer.beacon(t, 6, "http://10.0.0.2:8081")), radio.StatsSnapshot{Received: 6, Accepted: 2, Replayed: 1, BadSignature: 1, Oversized: 1, Malformed: 1}},
	}
	// A step that is ignored cannot be waited for: the next step's counts
	// show that it was not counted.
	for _, s := range steps {
		z.Hear("hci0", "00:00:00:00:00:09", s.props)
		n.waitFor(t, s.name, func(n *testNode) bool { return n.recv.Stats() == s.want })
	}

	// A signal from anyone but BlueZ's bus name is ignored: on the system
	// bus any client may emit one.
	spoof, err := dbus.Connect(bus)
	if err != nil {
		t.Fatal(err)
	}
	defer spoof.Close()
	path := dbus.ObjectPath("/org/bluez/hci0/dev_00_00_00_00_00_0A")
	if err := spoof.Emit(path, sigPropsChanged, ifaceDevice, mfr(peer.beacon(t, 7, "http://10.0.0.2:8081")), []string{}); err != nil {
		t.Fatal(err)
	}
	z.Hear("hci0", "00:00:00:00:00:09", mfr(peer.beacon(t, 8, "http://10.0.0.2:8081")))
	n.waitFor(t, "the frame after the spoof", func(n *testNode) bool { return n.recv.Stats().Accepted == 3 })
	if st := n.recv.Stats(); st.Received != 7 {
		t.Errorf("received %d frames, want 7: the spoofed signal was taken", st.Received)
	}
}

// TestLongRangeNeedsCodedPHY: bt_lr on an adapter without the coded PHY, or
// without extended advertising, fails at start with an error that names the
// adapter and what it lacks.
func TestLongRangeNeedsCodedPHY(t *testing.T) {
	bus := bluetest.StartBus(t)
	bluetest.Start(t, bus,
		&bluetest.Adapter{Name: "hci0", Address: "00:00:00:00:00:01", Secondary: secondaryNoC},
		&bluetest.Adapter{Name: "hci1", Address: "00:00:00:00:00:02"},
		&bluetest.Adapter{Name: "hci2", Address: "00:00:00:00:00:03", NoAdvManager: true})
	for _, tt := range []struct {
		adapter string
		want    []string
	}{
		{"hci0", []string{"adapter hci0", `["1M" "2M"]`, `without "Coded"`}},
		{"hci1", []string{"adapter hci1", "no extended advertising"}},
		{"hci2", []string{"adapter hci2", "no LEAdvertisingManager1"}},
	} {
		_, err := NewLongRange(Config{Bus: bus, Adapter: tt.adapter})
		if !errors.Is(err, ErrCodedPHYUnsupported) {
			t.Errorf("%s: NewLongRange = %v, want ErrCodedPHYUnsupported", tt.adapter, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tt.adapter, err, w)
			}
		}
	}
}

// TestLegacyFallback: on an adapter without extended advertising a ble
// link advertises the legacy name, says so once in the log and in Notice,
// refuses frames, and is heard by an extended node as a name.
func TestLegacyFallback(t *testing.T) {
	testutil.CheckGoroutines(t)
	bus := bluetest.StartBus(t)
	z := bluetest.Start(t, bus,
		&bluetest.Adapter{Name: "hci0", Address: "00:00:00:00:00:01"},
		&bluetest.Adapter{Name: "hci1", Address: "00:00:00:00:00:02", Secondary: secondaryAll},
		&bluetest.Adapter{Name: "hci2", Address: "00:00:00:00:00:03", Secondary: secondaryAll, MaxAdvLen: 31})
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	old := newTestNode(t, 1, mustOpen(t, false, Config{Bus: bus, Adapter: "hci0", Advertise: "http://n1:8081", Logger: logger}))
	if got, want := old.link.Notice(), "ble: legacy name beacon (adapter hci0 has no extended advertising"; !strings.HasPrefix(got, want) {
		t.Errorf("Notice = %q, want prefix %q", got, want)
	}
	if c := strings.Count(logs.String(), "legacy name beacon"); c != 2 { // the message and the notice, on one line
		t.Errorf("log says legacy %d times, want one line:\n%s", c, logs.String())
	}
	if old.link.MTU() != 0 {
		t.Errorf("legacy MTU = %d, want 0", old.link.MTU())
	}
	if err := old.link.Send(t.Context(), old.beacon(t, 1, "http://n1:8081")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("legacy Send = %v, want ErrUnsupported", err)
	}
	ext := newTestNode(t, 2, mustOpen(t, false, Config{Bus: bus, Adapter: "hci1"}))
	old.run(t)
	ext.run(t)
	ext.waitFor(t, "the legacy name", func(n *testNode) bool { return len(n.names) == 1 })
	want := radio.Packet{Via: radio.ViaBLE, From: "00:00:00:00:00:01", Endpoint: "http://n1:8081"}
	if got := ext.names[0]; got.Via != want.Via || got.From != want.From || got.Endpoint != want.Endpoint || got.Data != nil {
		t.Errorf("extended node heard %+v, want %+v", ext.names[0], want)
	}
	if adv := waitAdvertised(t, z, "hci0", 1)[0]; adv["LocalName"].Value() != "OFFGRID:aHR0cDovL24xOjgwODE" || adv["SecondaryChannel"].Value() != nil {
		t.Errorf("legacy advertisement = %v, want a LocalName and no secondary channel", adv)
	}

	// An adapter whose data limit is below a beacon falls back too; one with
	// an endpoint too long for a name only scans.
	small := mustOpen(t, false, Config{Bus: bus, Adapter: "hci2", Advertise: "http://192.168.1.20:8081"})
	for _, w := range []string{"scanning only", "31 bytes of advertising data", "longer than the 15 bytes"} {
		if !strings.Contains(small.Notice(), w) {
			t.Errorf("Notice %q does not say %q", small.Notice(), w)
		}
	}
}

// TestNoAdapter: without BlueZ on the bus, without adapters or without the
// named one, opening fails with ErrNoAdapter; the node runs on without it.
func TestNoAdapter(t *testing.T) {
	bus := bluetest.StartBus(t)
	if _, err := New(Config{Bus: bus}); !errors.Is(err, ErrNoAdapter) {
		t.Errorf("New without BlueZ = %v, want ErrNoAdapter", err)
	}
	busNone := bluetest.StartBus(t)
	bluetest.Start(t, busNone)
	if _, err := New(Config{Bus: busNone}); !errors.Is(err, ErrNoAdapter) || !strings.Contains(err.Error(), "no adapter") {
		t.Errorf("New with no adapter = %v, want ErrNoAdapter", err)
	}
	bluetest.Start(t, bus, &bluetest.Adapter{Name: "hci0", Secondary: secondaryAll})
	if _, err := New(Config{Bus: bus, Adapter: "hci7"}); !errors.Is(err, ErrNoAdapter) || !strings.Contains(err.Error(), `no adapter "hci7" (adapters: hci0)`) {
		t.Errorf("New(hci7) = %v, want ErrNoAdapter listing hci0", err)
	}
}

// TestBudget: Send books each beacon's airtime (its advertising events over
// AdvertiseFor) and refuses with radio.ErrBudget once DutyCycle × Window
// is spent, until the window slides; bt_lr's coded PHY costs 8 times as
// much.
func TestBudget(t *testing.T) {
	bus := bluetest.StartBus(t)
	bluetest.Start(t, bus, &bluetest.Adapter{Name: "hci0", Secondary: secondaryAll})
	for _, tt := range []struct {
		long bool
		cost time.Duration // of a 150-byte beacon
		fits int           // in 1 % of one minute, 600 ms
	}{
		// 8 events × (80 + 157 bytes) × 8 µs
		{false, 15168 * time.Microsecond, 39},
		// 8 events × (80 + 157 bytes) × 64 µs
		{true, 121344 * time.Microsecond, 4},
	} {
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		l := mustOpen(t, tt.long, Config{Bus: bus, Now: func() time.Time { return now }})
		n := newTestNode(t, 1, l)
		frame := n.beacon(t, 1, "http://192.168.100.200:8081")
		if len(frame) != 150 {
			t.Fatalf("beacon is %d bytes, want 150", len(frame))
		}
		if got := l.beaconCost(len(frame)); got != tt.cost {
			t.Errorf("%s: beacon cost %v, want %v", l.Via(), got, tt.cost)
		}
		for i := range tt.fits {
			if err := l.Send(t.Context(), frame); err != nil {
				t.Fatalf("%s: send %d: %v", l.Via(), i, err)
			}
		}
		if err := l.Send(t.Context(), frame); !errors.Is(err, radio.ErrBudget) {
			t.Errorf("%s: send %d = %v, want ErrBudget", l.Via(), tt.fits, err)
		}
		now = now.Add(time.Minute)
		if err := l.Send(t.Context(), frame); err != nil {
			t.Errorf("%s: send after the window = %v", l.Via(), err)
		}
		if err := l.Send(t.Context(), make([]byte, radio.MaxFrame+1)); !errors.Is(err, radio.ErrTooLarge) {
			t.Errorf("%s: oversized send = %v, want ErrTooLarge", l.Via(), err)
		}
	}
}

// TestFrameFitsExtendedAdvert is the size report of the package comment:
// the largest beacon, and the largest frame Send takes, fit one extended
// advertisement with room to spare.
func TestFrameFitsExtendedAdvert(t *testing.T) {
	for _, tt := range []struct {
		what  string
		frame int
		want  int
	}{
		{"typical beacon", 150, 157},
		{"largest beacon", maxBeacon, 206},
		{"MTU", radio.MaxFrame, 227},
	} {
		if got := AdvertSize(tt.frame); got != tt.want || got > MaxExtendedData {
			t.Errorf("%s: %d-byte frame takes %d bytes of advertising data, want %d (max %d)", tt.what, tt.frame, got, tt.want, MaxExtendedData)
		}
	}
}

func TestConfigRefusesBadValues(t *testing.T) {
	for _, c := range []Config{
		{DutyCycle: -0.1}, {DutyCycle: 1.5}, {Window: -time.Second},
		{Interval: time.Millisecond}, {Interval: 11 * time.Second},
		{AdvertiseFor: 1500 * time.Millisecond}, {AdvertiseFor: 70000 * time.Second},
		{DedupWindow: -1}, {MaxTracked: -1}, {SignalQueue: -1},
	} {
		if _, err := New(c); err == nil || errors.Is(err, ErrNoAdapter) {
			t.Errorf("New(%+v) = %v, want a config error", c, err)
		}
	}
}

func TestNameDedup(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cfg, err := Config{DedupWindow: 5 * time.Second, MaxTracked: 2, Now: func() time.Time { return now }}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	l := &Link{cfg: cfg, via: radio.ViaBLE, lastSeen: map[string]time.Time{}}
	const a, b, c = "OFFGRID:aHR0cDovL24xOjgwODE", "OFFGRID:aHR0cDovL2E6MQ", "OFFGRID:aHR0cHM6Ly9hLmI6NDQz"
	var got int
	deliver := func(radio.Packet) { got++ }
	for i, s := range []struct {
		advance time.Duration
		name    string
		want    bool
	}{
		{0, a, true},
		{time.Second, a, false},    // within the window
		{0, b, true},               // another endpoint
		{0, c, false},              // table full of live entries
		{0, "Pixel 7", false},      // not ours
		{4 * time.Second, a, true}, // 5 s: the window has passed
		{time.Second, c, true},     // b expired: pruned, room for c
	} {
		now = now.Add(s.advance)
		before := got
		l.heardName(s.name, "x", deliver)
		if (got > before) != s.want {
			t.Errorf("step %d: hearing %s delivered %v, want %v", i, s.name, got > before, s.want)
		}
	}
}

// TestRefusedBeaconKeepsScanning: when BlueZ refuses to register a beacon
// (every advertising instance taken), the link says so once, keeps hearing
// others, and Run does not fail.
func TestRefusedBeaconKeepsScanning(t *testing.T) {
	testutil.CheckGoroutines(t)
	bus := bluetest.StartBus(t)
	z := bluetest.Start(t, bus, &bluetest.Adapter{Name: "hci0", Secondary: secondaryAll, Full: true})
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n := newTestNode(t, 1, mustOpen(t, false, Config{Bus: bus, Logger: logger}))
	n.run(t)
	waitDiscovering(t, z, "hci0")
	peer := newTestNode(t, 2, nil)
	for c := uint32(1); c <= 3; c++ {
		if err := n.link.Send(t.Context(), n.beacon(t, c, "http://10.0.0.1:8081")); err != nil {
			t.Fatalf("Send: %v", err)
		}
		// Each refusal is logged, the first as a warning and the rest at
		// debug level.
		for deadline := time.Now().Add(5 * time.Second); strings.Count(logs.String(), "Bluetooth beacon not advertised") < int(c); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("refusal %d not logged:\n%s", c, logs.String())
			}
		}
		z.Hear("hci0", "00:00:00:00:00:09", map[string]dbus.Variant{
			"ManufacturerData": dbus.MakeVariant(map[uint16]dbus.Variant{CompanyID: dbus.MakeVariant(peer.beacon(t, c, "http://10.0.0.2:8081"))}),
		})
		n.waitFor(t, "the peer's beacon", func(n *testNode) bool { return len(n.accepted) == int(c) })
	}
	if got := strings.Count(logs.String(), "level=WARN"); got != 1 {
		t.Errorf("%d warnings for 3 refusals, want 1:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "Maximum advertisements reached") {
		t.Errorf("log does not give BlueZ's reason:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a logger on another goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
