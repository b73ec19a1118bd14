package ble

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/radio"
)

// fakeDevice is a hand-written Device: Scan and Advertise block until their
// context ends, and the test plays advertisements through hear.
type fakeDevice struct {
	scanErr error // if set, Scan returns it at once
	advErr  error // if set, Advertise returns it at once

	mu       sync.Mutex
	handler  func(name, addr string, rssi int) // of the running scan
	scans    int
	allowDup []bool
	adverts  []string
	active   int // Scan and Advertise calls not yet returned
	stops    int
	started  chan struct{} // a token per Scan or Advertise start
}

func newFakeDevice() *fakeDevice { return &fakeDevice{started: make(chan struct{}, 64)} }

func (f *fakeDevice) Scan(ctx context.Context, allowDup bool, h func(name, addr string, rssi int)) error {
	f.mu.Lock()
	f.scans++
	f.allowDup = append(f.allowDup, allowDup)
	if f.scanErr != nil {
		f.mu.Unlock()
		return f.scanErr
	}
	f.handler = h
	f.active++
	f.mu.Unlock()
	f.signal()
	<-ctx.Done()
	f.mu.Lock()
	f.active--
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeDevice) Advertise(ctx context.Context, name string) error {
	f.mu.Lock()
	f.adverts = append(f.adverts, name)
	if f.advErr != nil {
		f.mu.Unlock()
		return f.advErr
	}
	f.active++
	f.mu.Unlock()
	f.signal()
	<-ctx.Done()
	f.mu.Lock()
	f.active--
	f.mu.Unlock()
	return ctx.Err()
}

func (f *fakeDevice) Stop() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops++
	return nil
}

func (f *fakeDevice) signal() {
	select {
	case f.started <- struct{}{}:
	default:
	}
}

// waitStarted waits for n Scan or Advertise calls to have started.
func (f *fakeDevice) waitStarted(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-f.started:
		case <-time.After(5 * time.Second):
			t.Fatal("device not started within 5s")
		}
	}
}

// hear plays one advertisement to the running scan, as go-ble does from a
// goroutine of its own.
func (f *fakeDevice) hear(t *testing.T, name, addr string) {
	t.Helper()
	f.mu.Lock()
	h := f.handler
	f.mu.Unlock()
	if h == nil {
		t.Fatal("hear: no scan has started")
	}
	var wg sync.WaitGroup
	wg.Go(func() { h(name, addr, -70) })
	wg.Wait()
}

func (f *fakeDevice) state() (scans, active, stops int, adverts []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scans, f.active, f.stops, append([]string(nil), f.adverts...)
}

// codedDevice is a fakeDevice that claims the LE Coded PHY.
type codedDevice struct{ *fakeDevice }

func (codedDevice) CodedPHY() bool { return true }

// clock is a settable Config.Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// collector records delivered packets.
type collector struct {
	mu   sync.Mutex
	pkts []radio.Packet
}

func (c *collector) deliver(p radio.Packet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pkts = append(c.pkts, p)
}

func (c *collector) packets() []radio.Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]radio.Packet(nil), c.pkts...)
}

// runLink starts l.Run; stop cancels it and returns Run's error, failing the
// test if Run does not return promptly.
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
