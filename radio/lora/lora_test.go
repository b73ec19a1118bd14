package lora

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/radio"
)

// uart is the far side of a pseudo-terminal pair: the link opens the slave
// (/dev/pts/N) with the real serial opener, as it would /dev/ttyUSB0, and the
// test plays the LoRa module on the master side.
type uart struct {
	master *os.File
	r      *bufio.Reader
	path   string // the slave's path, the link's Config.Port
}

func newUART(t *testing.T) *uart {
	t.Helper()
	master, slave, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminals here: %v", err)
	}
	path := slave.Name()
	// The link opens the slave by path; the test's own handle is not needed.
	if err := slave.Close(); err != nil {
		t.Fatal(err)
	}
	master = pollable(t, master)
	t.Cleanup(func() { master.Close() })
	return &uart{master: master, r: bufio.NewReader(master), path: path}
}

// pollable returns f as a non-blocking *os.File in Go's poller, so that read
// deadlines work: pty.Open hands back a master that its ioctls (through
// Fd) have switched to blocking mode. It closes f.
func pollable(t *testing.T, f *os.File) *os.File {
	t.Helper()
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatalf("dup pty master: %v", err)
	}
	name := f.Name()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		t.Fatalf("set pty master non-blocking: %v", err)
	}
	return os.NewFile(uintptr(fd), name)
}

// write plays bytes the module heard on the air.
func (u *uart) write(t *testing.T, s string) {
	t.Helper()
	if _, err := u.master.WriteString(s); err != nil {
		t.Fatalf("write to pty master: %v", err)
	}
}

// readLine returns the next line the link wrote, newline included.
func (u *uart) readLine(t *testing.T) string {
	t.Helper()
	if err := u.master.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatalf("set deadline on pty master: %v", err)
	}
	line, err := u.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read from pty master: %v (got %q)", err, line)
	}
	return line
}

// quiet reports that the link wrote nothing within d.
func (u *uart) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	if err := u.master.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatalf("set deadline on pty master: %v", err)
	}
	if line, err := u.r.ReadString('\n'); err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("link wrote %q, %v; want nothing", line, err)
	}
}

// newClock is a settable Config.Now.
func newClock() *testutil.Clock {
	return testutil.NewClock(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
}

// collector is a deliver func that records packets.
type collector struct {
	mu   sync.Mutex
	pkts []radio.Packet
	got  chan struct{} // signalled (non-blocking) on each packet
}

func newCollector() *collector { return &collector{got: make(chan struct{}, 1)} }

func (c *collector) deliver(p radio.Packet) {
	c.mu.Lock()
	c.pkts = append(c.pkts, p)
	c.mu.Unlock()
	select {
	case c.got <- struct{}{}:
	default:
	}
}

func (c *collector) packets() []radio.Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]radio.Packet(nil), c.pkts...)
}

// waitFor waits until a packet whose Data equals data has arrived.
func (c *collector) waitFor(t *testing.T, data []byte) {
	t.Helper()
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for {
		for _, p := range c.packets() {
			if bytes.Equal(p.Data, data) {
				return
			}
		}
		select {
		case <-c.got:
		case <-deadline.C:
			t.Fatalf("no packet with data %q after 5s; got %v", data, c.packets())
		}
	}
}

// runLink starts l.Run and returns a stop func that cancels it and returns
// Run's error, failing the test if Run does not return promptly.
func runLink(t *testing.T, l *Link, deliver func(radio.Packet)) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx, deliver) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(3 * time.Second):
				t.Fatal("Run did not return within 3s of its context ending")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func line(t *testing.T, frame []byte) string {
	t.Helper()
	b, err := radio.EncodeLine(frame)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSendWritesOneLine(t *testing.T) {
	testutil.CheckGoroutines(t)
	u := newUART(t)
	l, err := New(Config{Port: u.path})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer l.Close()

	frames := [][]byte{[]byte("beacon from A"), bytes.Repeat([]byte{0xfb}, radio.MaxLineFrame)}
	for _, f := range frames {
		if err := l.Send(t.Context(), f); err != nil {
			t.Fatalf("Send(%d bytes): %v", len(f), err)
		}
		got := u.readLine(t)
		if want := line(t, f); got != want {
			t.Errorf("module got %q, want %q", got, want)
		}
		if len(got) > radio.MaxFrame {
			t.Errorf("line of %d bytes on the air, max %d", len(got), radio.MaxFrame)
		}
	}
}

func TestSendRefusesLargeFrames(t *testing.T) {
	testutil.CheckGoroutines(t)
	u := newUART(t)
	l, err := New(Config{Port: u.path})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer l.Close()

	if got := l.MTU(); got != radio.MaxLineFrame {
		t.Errorf("MTU() = %d, want %d", got, radio.MaxLineFrame)
	}
	err = l.Send(t.Context(), make([]byte, radio.MaxLineFrame+1))
	if !errors.Is(err, radio.ErrTooLarge) {
		t.Errorf("Send(%d bytes) = %v, want ErrTooLarge", radio.MaxLineFrame+1, err)
	}
	u.quiet(t, 100*time.Millisecond)
}

func TestRunDeliversLinesAndSkipsGarbage(t *testing.T) {
	testutil.CheckGoroutines(t)
	u := newUART(t)
	l, err := New(Config{Port: u.path})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c := newCollector()
	stop := runLink(t, l, c.deliver)

	one, two, last := []byte("first frame"), []byte{0, 1, 2, 0xff}, []byte("last")
	u.write(t, line(t, one))
	u.write(t, "!!! not base64 !!!\n")
	u.write(t, "\n")                                   // empty
	u.write(t, strings.Repeat("QUFB", 3*maxLine)+"\n") // overlong, several buffers
	// Overlong by a tail that is a valid line on its own ("AAA"): the tail
	// must be discarded with the rest.
	u.write(t, strings.Repeat("A", maxLine)+"QUFB\n")
	u.write(t, strings.TrimSuffix(line(t, two), "\n")+"\r\n") // CRLF firmware
	u.write(t, "QUFBQQ==\n")                                  // padded: not the line encoding
	u.write(t, line(t, last))
	c.waitFor(t, last)

	if err := stop(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	want := []radio.Packet{
		{Data: one, Via: radio.ViaLoRa, From: u.path},
		{Data: two, Via: radio.ViaLoRa, From: u.path},
		{Data: last, Via: radio.ViaLoRa, From: u.path},
	}
	if diff := cmp.Diff(want, c.packets()); diff != "" {
		t.Errorf("delivered packets mismatch (-want +got):\n%s", diff)
	}
}

func TestDutyCycleBudget(t *testing.T) {
	testutil.CheckGoroutines(t)
	u := newUART(t)
	clk := newClock()
	// Budget: 1 % of 100 s = 1 s of airtime. A 15-byte frame is a 21-byte
	// line (20 characters + newline) = 210 ms at 10 ms a byte: four fit
	// (840 ms), the fifth (1050 ms) does not.
	l, err := New(Config{
		Port:           u.path,
		DutyCycle:      0.01,
		Window:         100 * time.Second,
		AirtimePerByte: 10 * time.Millisecond,
		Now:            clk.Now,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	defer l.Close()
	frame := []byte("keepalive-00000")

	for i := range 4 {
		if err := l.Send(t.Context(), frame); err != nil {
			t.Fatalf("Send #%d within budget: %v", i+1, err)
		}
		u.readLine(t)
		clk.Advance(time.Second)
	}
	err = l.Send(t.Context(), frame)
	if !errors.Is(err, radio.ErrBudget) {
		t.Fatalf("Send #5 = %v, want ErrBudget", err)
	}
	u.quiet(t, 100*time.Millisecond) // refused means not written, not queued

	// The first send leaves the window 100 s after it was made (t=0); now
	// is t=4 s.
	clk.Advance(95*time.Second + 999*time.Millisecond)
	if err := l.Send(t.Context(), frame); !errors.Is(err, radio.ErrBudget) {
		t.Fatalf("Send 1 ms before the first send leaves the window = %v, want ErrBudget", err)
	}
	clk.Advance(time.Millisecond)
	if err := l.Send(t.Context(), frame); err != nil {
		t.Fatalf("Send after the first send left the window: %v", err)
	}
	if got, want := u.readLine(t), line(t, frame); got != want {
		t.Errorf("module got %q, want %q", got, want)
	}

	// A whole window later the full budget is back.
	clk.Advance(100 * time.Second)
	for i := range 4 {
		if err := l.Send(t.Context(), frame); err != nil {
			t.Fatalf("Send #%d after a quiet window: %v", i+1, err)
		}
		u.readLine(t)
	}
}

func TestRunStopsWhenContextEnds(t *testing.T) {
	testutil.CheckGoroutines(t)
	u := newUART(t)
	l, err := New(Config{Port: u.path})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	c := newCollector()
	stop := runLink(t, l, c.deliver)
	u.write(t, line(t, []byte("hello")))
	c.waitFor(t, []byte("hello"))

	// Run is blocked in a read of the pty now; cancelling must close the
	// port to unblock it.
	start := time.Now()
	if err := stop(); err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Run took %v to return after cancel", d)
	}
	if err := l.Send(t.Context(), []byte("late")); !errors.Is(err, ErrClosed) {
		t.Errorf("Send after Run returned = %v, want ErrClosed", err)
	}
	if err := l.Run(t.Context(), c.deliver); !errors.Is(err, ErrClosed) {
		t.Errorf("second Run = %v, want ErrClosed", err)
	}
}

func TestNewMissingPort(t *testing.T) {
	testutil.CheckGoroutines(t)
	const port = "/dev/ttyOFFGRID-does-not-exist"
	_, err := New(Config{Port: port})
	if err == nil {
		t.Fatalf("New(%q) succeeded, want an error", port)
	}
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), port) {
		t.Errorf("New(%q) = %v, want a not-exist error naming the port", port, err)
	}
}

func TestConfigValidation(t *testing.T) {
	testutil.CheckGoroutines(t)
	open := func(string, int) (io.ReadWriteCloser, error) {
		t.Error("Open called for an invalid config")
		return nil, errors.New("unreachable")
	}
	for _, tt := range []struct {
		name string
		cfg  Config
	}{
		{"no port", Config{Open: open}},
		{"negative baud", Config{Port: "x", Baud: -1, Open: open}},
		{"duty cycle above 1", Config{Port: "x", DutyCycle: 1.5, Open: open}},
		{"negative duty cycle", Config{Port: "x", DutyCycle: -0.01, Open: open}},
		{"negative window", Config{Port: "x", Window: -time.Second, Open: open}},
		{"negative airtime", Config{Port: "x", AirtimePerByte: -time.Millisecond, Open: open}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Errorf("New(%+v) succeeded, want an error", tt.cfg)
			}
		})
	}
}

// brokenPort fails reads as an unplugged USB adapter does.
type brokenPort struct{ closed chan struct{} }

func (p *brokenPort) Read([]byte) (int, error)    { return 0, io.ErrUnexpectedEOF }
func (p *brokenPort) Write(b []byte) (int, error) { return len(b), nil }
func (p *brokenPort) Close() error                { close(p.closed); return nil }

func TestRunReportsPortFailure(t *testing.T) {
	testutil.CheckGoroutines(t)
	p := &brokenPort{closed: make(chan struct{})}
	var gotBaud int
	l, err := New(Config{Port: "/dev/ttyUSB9", Open: func(_ string, baud int) (io.ReadWriteCloser, error) {
		gotBaud = baud
		return p, nil
	}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if gotBaud != 57600 {
		t.Errorf("Open baud = %d, want the default 57600", gotBaud)
	}
	err = l.Run(t.Context(), func(radio.Packet) {})
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "/dev/ttyUSB9") {
		t.Errorf("Run on a failing port = %v, want the read error naming the port", err)
	}
	select {
	case <-p.closed:
	default:
		t.Error("Run returned without closing the port")
	}
}
