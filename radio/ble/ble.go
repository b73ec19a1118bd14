package ble

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/offgrid-net/offgrid/radio"
)

// Device is the part of a BLE adapter the link uses. The default adapter is
// go-ble's linux.Device behind a thin adapter (hci.go); tests fake it here.
type Device interface {
	// Scan scans until ctx ends and returns then (ctx.Err() or nil). It
	// calls h for each advertisement heard, possibly from several
	// goroutines at once and possibly shortly after Scan has returned.
	// With allowDup false the controller reports each device once per
	// Scan call.
	Scan(ctx context.Context, allowDup bool, h func(name string, addr string, rssi int)) error
	// Advertise advertises the local name until ctx ends and returns then
	// (ctx.Err() or nil). Scan and Advertise run at the same time.
	Advertise(ctx context.Context, name string) error
	// Stop releases the adapter; pending Scan and Advertise calls return.
	Stop() error
}

// ErrNoAdapter reports that no usable Bluetooth adapter was found (none
// present, powered off, or no permission). The node keeps running without
// BLE.
var ErrNoAdapter = errors.New("ble: no Bluetooth adapter")

// ErrUnsupported is returned by Send: BLE discovery carries endpoint names
// in advertisements, not frames.
var ErrUnsupported = errors.New("ble: the BLE link carries advertised names, not frames; send frames over another link")

// ErrClosed is returned by Run once the adapter was released (Run returned
// or Close was called).
var ErrClosed = errors.New("ble: link closed")

// Config configures a BLE link.
type Config struct {
	// Device is the adapter to use. Default nil: Open is called.
	Device Device

	// Open opens the adapter when Device is nil. Default: the first HCI
	// adapter through go-ble (linux.NewDevice), which needs root or
	// CAP_NET_ADMIN and takes the adapter from BlueZ (see the package
	// comment). Tests inject a failing opener here.
	Open func() (Device, error)

	// Advertise is our endpoint to advertise as Name(Advertise). Default ""
	// (scan only). It must fit a legacy advertisement: at most
	// MaxLegacyEndpoint bytes, or New fails with ErrNameTooLong.
	Advertise string

	// ScanInterval is how long one scan runs before it is restarted.
	// Scans filter duplicates in the controller, so a peer is reported
	// about once per interval. Default 10 s, as the seed's scanner.
	// Shorter hears peers again sooner at more host wake-ups.
	ScanInterval time.Duration

	// DedupWindow is the least time between two deliveries of the same
	// endpoint. Default 5 s. It guards the node against a peer (or a
	// spoofer) heard many times within a scan.
	DedupWindow time.Duration

	// MaxTracked bounds the endpoints remembered for deduplication.
	// Default 1024. When it is reached and none has expired, a new
	// endpoint is dropped until one does (a flood of names cannot grow
	// memory).
	MaxTracked int

	// Now returns the time for deduplication. Default time.Now.
	Now func() time.Time
}

// DefaultConfig returns the defaults: the first HCI adapter, scanning only.
func DefaultConfig() Config {
	return Config{
		Open:         openHCI,
		ScanInterval: 10 * time.Second,
		DedupWindow:  5 * time.Second,
		MaxTracked:   1024,
		Now:          time.Now,
	}
}

func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Open == nil {
		c.Open = d.Open
	}
	if c.ScanInterval == 0 {
		c.ScanInterval = d.ScanInterval
	}
	if c.DedupWindow == 0 {
		c.DedupWindow = d.DedupWindow
	}
	if c.MaxTracked == 0 {
		c.MaxTracked = d.MaxTracked
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	switch {
	case c.ScanInterval < 0:
		return c, fmt.Errorf("ble: scan interval %v is negative", c.ScanInterval)
	case c.DedupWindow < 0:
		return c, fmt.Errorf("ble: dedup window %v is negative", c.DedupWindow)
	case c.MaxTracked < 0:
		return c, fmt.Errorf("ble: max tracked %d is negative", c.MaxTracked)
	}
	return c, nil
}

// Link is BLE discovery as a radio.Link: it scans for OFFGRID: names and
// delivers each as a name-only radio.Packet, and advertises our own name.
// It carries no frames.
type Link struct {
	cfg  Config
	dev  Device
	name string // our advertised name, "" = none
	via  radio.Via

	// mu guards the fields below.
	mu      sync.Mutex
	closed  bool
	running bool

	// deliverMu guards the fields below and serialises deliver calls.
	deliverMu  sync.Mutex
	deliverOn  bool                 // Run is delivering; false once it stops
	lastSeen   map[string]time.Time // endpoint → last delivery
	lastPruned time.Time
}

var _ radio.Link = (*Link)(nil)

// New validates cfg and opens the adapter (Config.Device, or Config.Open).
// Without a usable adapter it returns an error wrapping ErrNoAdapter, and
// the caller runs the node without BLE. New starts no goroutines of its
// own; go-ble's adapter runs its HCI reader from here on.
func New(cfg Config) (*Link, error) {
	return newLink(cfg, radio.ViaBLE)
}

func newLink(cfg Config, via radio.Via) (*Link, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var name string
	if cfg.Advertise != "" {
		if name, err = Name(cfg.Advertise); err != nil {
			return nil, err
		}
	}
	dev := cfg.Device
	if dev == nil {
		if dev, err = cfg.Open(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrNoAdapter, err)
		}
		if dev == nil {
			return nil, fmt.Errorf("%w: opener returned no device", ErrNoAdapter)
		}
	}
	return &Link{cfg: cfg, dev: dev, name: name, via: via, lastSeen: make(map[string]time.Time)}, nil
}

// Via returns radio.ViaBLE.
func (l *Link) Via() radio.Via { return l.via }

// MTU returns 0: the link carries no frames.
func (l *Link) MTU() int { return 0 }

// Send returns ErrUnsupported: BLE discovery carries names, not frames.
func (l *Link) Send(context.Context, []byte) error { return ErrUnsupported }

// Run scans until ctx ends and, if Config.Advertise is set, advertises our
// name at the same time. For each device whose name ParseName accepts it
// delivers radio.Packet{Via: ViaBLE, Endpoint: endpoint, From: address},
// with nil Data, at most once per Config.DedupWindow for an endpoint.
// deliver is called one packet at a time and must not block for long.
//
// When ctx ends Run stops scanning and advertising, waits for both,
// releases the adapter and returns nil; deliver is not called after Run
// has returned. If scanning or advertising fails first, Run returns that
// error. The adapter is released either way, so Run runs once.
func (l *Link) Run(ctx context.Context, deliver func(radio.Packet)) error {
	l.mu.Lock()
	switch {
	case l.closed:
		l.mu.Unlock()
		return ErrClosed
	case l.running:
		l.mu.Unlock()
		return errors.New("ble: Run is already running")
	}
	l.running = true
	l.mu.Unlock()

	l.deliverMu.Lock()
	l.deliverOn = true
	l.deliverMu.Unlock()

	g, gctx := errgroup.WithContext(ctx)
	if l.name != "" {
		g.Go(func() error {
			err := l.dev.Advertise(gctx, l.name)
			if gctx.Err() != nil {
				return nil
			}
			if err == nil {
				err = errors.New("advertising stopped")
			}
			return fmt.Errorf("ble: advertise %q: %w", l.name, err)
		})
	}
	g.Go(func() error { return l.scan(gctx, deliver) })
	err := g.Wait()

	// Advertisement callbacks may still be in flight (go-ble calls them
	// from goroutines of its own); from here on they deliver nothing.
	l.deliverMu.Lock()
	l.deliverOn = false
	l.deliverMu.Unlock()

	if cerr := l.Close(); err == nil && ctx.Err() == nil {
		err = cerr
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// scan runs one scan per ScanInterval until ctx ends.
func (l *Link) scan(ctx context.Context, deliver func(radio.Packet)) error {
	handle := func(name, addr string, _ int) { l.heard(name, addr, deliver) }
	for {
		sctx, cancel := context.WithTimeout(ctx, l.cfg.ScanInterval)
		err := l.dev.Scan(sctx, false, handle)
		ended := sctx.Err() != nil // the round is over, not failed
		if err == nil && !ended {
			// The scan stopped early without an error: wait out the
			// round rather than spin.
			<-sctx.Done()
			ended = true
		}
		cancel()
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil && !ended:
			return fmt.Errorf("ble: scan: %w", err)
		}
	}
}

// heard handles one advertisement: it delivers the endpoint of a valid
// name unless the same endpoint was delivered within DedupWindow.
func (l *Link) heard(name, addr string, deliver func(radio.Packet)) {
	endpoint, ok := ParseName(name)
	if !ok {
		return
	}
	l.deliverMu.Lock()
	defer l.deliverMu.Unlock()
	if !l.deliverOn {
		return
	}
	now := l.cfg.Now()
	if last, seen := l.lastSeen[endpoint]; seen && now.Sub(last) < l.cfg.DedupWindow {
		return
	}
	if _, seen := l.lastSeen[endpoint]; !seen && len(l.lastSeen) >= l.cfg.MaxTracked {
		l.pruneLocked(now)
		if len(l.lastSeen) >= l.cfg.MaxTracked {
			return // full of live entries: drop the newcomer
		}
	}
	l.lastSeen[endpoint] = now
	deliver(radio.Packet{Via: l.via, From: addr, Endpoint: endpoint})
}

// pruneLocked forgets endpoints last delivered a DedupWindow or more ago.
// It runs at most once per DedupWindow. deliverMu must be held.
func (l *Link) pruneLocked(now time.Time) {
	if now.Sub(l.lastPruned) < l.cfg.DedupWindow {
		return
	}
	l.lastPruned = now
	for ep, t := range l.lastSeen {
		if now.Sub(t) >= l.cfg.DedupWindow {
			delete(l.lastSeen, ep)
		}
	}
}

// Close releases the adapter. Run calls it when it returns; call it
// directly only for a link whose Run is never called. It is idempotent.
func (l *Link) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if err := l.dev.Stop(); err != nil {
		return fmt.Errorf("ble: stop adapter: %w", err)
	}
	return nil
}
