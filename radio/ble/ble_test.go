package ble

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/radio"
)

func TestRunDeliversValidNamesOnly(t *testing.T) {
	testutil.CheckGoroutines(t)
	dev := newFakeDevice()
	l, err := New(Config{Device: dev})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c := &collector{}
	stop := runLink(t, l, c.deliver)
	dev.waitStarted(t, 1)

	dev.hear(t, "OFFGRID:aHR0cDovL24xOjgwODE", "aa:bb:cc:dd:ee:01") // http://n1:8081
	dev.hear(t, "Pixel 7", "aa:bb:cc:dd:ee:02")
	dev.hear(t, "", "aa:bb:cc:dd:ee:03")
	dev.hear(t, "OFFGRID:aGVsbG8", "aa:bb:cc:dd:ee:04") // "hello"
	dev.hear(t, "OFFGRID:aHR0cDovL24xOjgwODE=", "aa:bb:cc:dd:ee:05")
	dev.hear(t, "OFFGRID:aHR0cHM6Ly9hLmI6NDQz", "aa:bb:cc:dd:ee:06") // https://a.b:443

	if err := stop(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	want := []radio.Packet{
		{Via: radio.ViaBLE, From: "aa:bb:cc:dd:ee:01", Endpoint: "http://n1:8081"},
		{Via: radio.ViaBLE, From: "aa:bb:cc:dd:ee:06", Endpoint: "https://a.b:443"},
	}
	if diff := cmp.Diff(want, c.packets()); diff != "" {
		t.Errorf("delivered packets mismatch (-want +got):\n%s", diff)
	}
}

func TestDedupWindow(t *testing.T) {
	testutil.CheckGoroutines(t)
	dev := newFakeDevice()
	clk := newClock()
	l, err := New(Config{Device: dev, DedupWindow: 5 * time.Second, Now: clk.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c := &collector{}
	runLink(t, l, c.deliver)
	dev.waitStarted(t, 1)

	const a, b = "OFFGRID:aHR0cDovL24xOjgwODE", "OFFGRID:aHR0cDovL2E6MQ" // n1:8081, a:1
	steps := []struct {
		advance time.Duration
		name    string
		want    bool // delivered
	}{
		{0, a, true},
		{time.Second, a, false},     // within the window
		{0, b, true},                // another endpoint
		{3 * time.Second, a, false}, // 4 s after the first
		{time.Second, a, true},      // 5 s: the window has passed
		{time.Second, b, true},      // 5 s after b's
		{3*time.Second + 999*time.Millisecond, a, false}, // 4.999 s after a's
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		before := len(c.packets())
		dev.hear(t, s.name, "aa:bb:cc:dd:ee:ff")
		if got := len(c.packets()) > before; got != s.want {
			t.Errorf("step %d: hearing %s delivered %v, want %v", i, s.name, got, s.want)
		}
	}
}

func TestDedupBounded(t *testing.T) {
	testutil.CheckGoroutines(t)
	dev := newFakeDevice()
	clk := newClock()
	l, err := New(Config{Device: dev, MaxTracked: 2, Now: clk.Now})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c := &collector{}
	runLink(t, l, c.deliver)
	dev.waitStarted(t, 1)

	names := []string{"OFFGRID:aHR0cDovL2E6MQ", "OFFGRID:aHR0cDovL2I6MQ", "OFFGRID:aHR0cDovL2M6MQ"} // a:1, b:1, c:1
	for _, n := range names {
		dev.hear(t, n, "aa:bb:cc:dd:ee:ff")
	}
	if got := len(c.packets()); got != 2 {
		t.Errorf("delivered %d of 3 endpoints with MaxTracked 2 inside one window, want 2", got)
	}
	clk.Advance(5 * time.Second) // the first two expire
	dev.hear(t, names[2], "aa:bb:cc:dd:ee:ff")
	if got := len(c.packets()); got != 3 {
		t.Errorf("delivered %d endpoints after the window, want 3", got)
	}
	l.deliverMu.Lock()
	tracked := len(l.lastSeen)
	l.deliverMu.Unlock()
	if tracked > 2 {
		t.Errorf("tracking %d endpoints, want at most MaxTracked 2", tracked)
	}
}

func TestAdvertiseOurName(t *testing.T) {
	testutil.CheckGoroutines(t)
	dev := newFakeDevice()
	l, err := New(Config{Device: dev, Advertise: "http://n1:8081"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	stop := runLink(t, l, (&collector{}).deliver)
	dev.waitStarted(t, 2) // scan and advertise
	_, active, _, adverts := dev.state()
	if diff := cmp.Diff([]string{"OFFGRID:aHR0cDovL24xOjgwODE"}, adverts); diff != "" {
		t.Errorf("Advertise names mismatch (-want +got):\n%s", diff)
	}
	if active != 2 {
		t.Errorf("%d device calls running, want 2 (scan and advertise at once)", active)
	}
	if err := stop(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

func TestAdvertiseNameTooLong(t *testing.T) {
	testutil.CheckGoroutines(t)
	opened := false
	_, err := New(Config{Advertise: "http://127.0.0.1:8081", Open: func() (Device, error) {
		opened = true
		return newFakeDevice(), nil
	}})
	if !errors.Is(err, ErrNameTooLong) {
		t.Errorf("New with a 21-byte endpoint = %v, want ErrNameTooLong", err)
	}
	if opened {
		t.Error("New opened the adapter for an invalid config")
	}
}

func TestNewWithoutAdapter(t *testing.T) {
	testutil.CheckGoroutines(t)
	cause := errors.New("can't init hci: no devices available: (hci0: can't down device: operation not permitted)")
	_, err := New(Config{Open: func() (Device, error) { return nil, cause }})
	if !errors.Is(err, ErrNoAdapter) || !errors.Is(err, cause) {
		t.Fatalf("New without an adapter = %v, want ErrNoAdapter wrapping the cause", err)
	}
	if want := "ble: no Bluetooth adapter: can't init hci"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("New without an adapter = %q, want it to start with %q", err, want)
	}
}

func TestRunStopsAndWaits(t *testing.T) {
	testutil.CheckGoroutines(t)
	dev := newFakeDevice()
	l, err := New(Config{Device: dev, Advertise: "http://n1:8081"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c := &collector{}
	stop := runLink(t, l, c.deliver)
	dev.waitStarted(t, 2)
	if err := stop(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	_, active, stops, _ := dev.state()
	if active != 0 {
		t.Errorf("%d Scan/Advertise calls still running after Run returned", active)
	}
	if stops != 1 {
		t.Errorf("device stopped %d times, want 1", stops)
	}
	// go-ble may call the scan handler after Scan returned: too late.
	dev.hear(t, "OFFGRID:aHR0cDovL24xOjgwODE", "aa:bb:cc:dd:ee:01")
	if got := c.packets(); len(got) != 0 {
		t.Errorf("delivered %v after Run returned", got)
	}
	if err := l.Run(t.Context(), c.deliver); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Run returned = %v, want ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close after Run = %v, want nil", err)
	}
	if _, _, stops, _ := dev.state(); stops != 1 {
		t.Errorf("device stopped %d times after Close, want 1", stops)
	}
}

func TestScanRestartsEachInterval(t *testing.T) {
	testutil.CheckGoroutines(t)
	dev := newFakeDevice()
	l, err := New(Config{Device: dev, ScanInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	stop := runLink(t, l, (&collector{}).deliver)
	dev.waitStarted(t, 3)
	if err := stop(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	dev.mu.Lock()
	defer dev.mu.Unlock()
	if dev.scans < 3 {
		t.Errorf("%d scans, want at least 3", dev.scans)
	}
	for i, d := range dev.allowDup {
		if d {
			t.Errorf("scan %d allowed duplicates, want the controller's filter on", i)
		}
	}
}

func TestDeviceFailureEndsRun(t *testing.T) {
	testutil.CheckGoroutines(t)
	cause := errors.New("hci: device gone")
	for _, tt := range []struct {
		name string
		dev  *fakeDevice
	}{
		{"scan", &fakeDevice{started: make(chan struct{}, 64), scanErr: cause}},
		{"advertise", &fakeDevice{started: make(chan struct{}, 64), advErr: cause}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l, err := New(Config{Device: tt.dev, Advertise: "http://n1:8081"})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			err = l.Run(t.Context(), (&collector{}).deliver)
			if !errors.Is(err, cause) || !strings.Contains(err.Error(), tt.name) {
				t.Errorf("Run with a failing %s = %v, want the cause", tt.name, err)
			}
			if _, active, stops, _ := tt.dev.state(); active != 0 || stops != 1 {
				t.Errorf("after Run: %d calls running, %d stops, want 0 and 1", active, stops)
			}
		})
	}
}

func TestSendCarriesNoFrames(t *testing.T) {
	testutil.CheckGoroutines(t)
	l, err := New(Config{Device: newFakeDevice()})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer l.Close()
	if err := l.Send(t.Context(), []byte("frame")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Send = %v, want ErrUnsupported", err)
	}
	if got := l.Via(); got != radio.ViaBLE {
		t.Errorf("Via() = %q, want %q", got, radio.ViaBLE)
	}
	if got := l.MTU(); got != 0 {
		t.Errorf("MTU() = %d, want 0", got)
	}
}

func TestNewLongRange(t *testing.T) {
	testutil.CheckGoroutines(t)

	// The default adapter is go-ble's: refused before it is opened.
	if _, err := NewLongRange(Config{}); !errors.Is(err, ErrCodedPHYUnsupported) {
		t.Errorf("NewLongRange(default) = %v, want ErrCodedPHYUnsupported", err)
	}
	if !strings.HasPrefix(ErrCodedPHYUnsupported.Error(), "bt_lr: go-ble cannot use the LE Coded PHY") {
		t.Errorf("ErrCodedPHYUnsupported = %q", ErrCodedPHYUnsupported)
	}

	// An opened adapter without the coded PHY is refused and released.
	plain := newFakeDevice()
	if _, err := NewLongRange(Config{Open: func() (Device, error) { return plain, nil }}); !errors.Is(err, ErrCodedPHYUnsupported) {
		t.Errorf("NewLongRange(no coded PHY) = %v, want ErrCodedPHYUnsupported", err)
	}
	if _, _, stops, _ := plain.state(); stops != 1 {
		t.Errorf("adapter stopped %d times after refusal, want 1", stops)
	}

	// A device with the coded PHY slots in behind the same Link.
	coded := codedDevice{newFakeDevice()}
	l, err := NewLongRange(Config{Device: coded})
	if err != nil {
		t.Fatalf("NewLongRange(coded PHY device): %v", err)
	}
	if got := l.Via(); got != radio.ViaBTLR {
		t.Errorf("Via() = %q, want %q", got, radio.ViaBTLR)
	}
	c := &collector{}
	stop := runLink(t, l, c.deliver)
	coded.waitStarted(t, 1)
	coded.hear(t, "OFFGRID:aHR0cDovL24xOjgwODE", "aa:bb:cc:dd:ee:01")
	if err := stop(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	want := []radio.Packet{{Via: radio.ViaBTLR, From: "aa:bb:cc:dd:ee:01", Endpoint: "http://n1:8081"}}
	if diff := cmp.Diff(want, c.packets()); diff != "" {
		t.Errorf("delivered packets mismatch (-want +got):\n%s", diff)
	}
}
