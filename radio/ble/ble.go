package ble

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/offgrid-net/offgrid/radio"
)

// CompanyID keys our frames in an advertisement's manufacturer data. It is
// 0xFFFF, which the Bluetooth SIG reserves for tests and for makers without
// an assigned identifier; the signed frame inside says who sent it.
const CompanyID uint16 = 0xFFFF

// Sizes of advertising data, in bytes (Core spec Vol 3 Part C §11,
// Vol 6 Part B §2.3.4.9).
const (
	// MaxExtendedData is the advertising data one extended advertising
	// PDU (AUX_ADV_IND) carries.
	MaxExtendedData = 251
	// ADOverhead is what the frame's advertising data costs beyond the
	// frame: the Flags AD structure BlueZ may add (3) and the manufacturer
	// data structure's length, type and company identifier (4).
	ADOverhead = 3 + 4
	// maxBeacon is the largest beacon frame: a longest endpoint and name.
	maxBeacon = radio.MinFrame + radio.MaxEndpoint + radio.MaxName
)

// ErrNoAdapter reports that BlueZ or a usable Bluetooth adapter was not
// found (no system bus, BlueZ not running, no adapter, or no permission).
// The node keeps running without the link.
var ErrNoAdapter = errors.New("no Bluetooth adapter")

// ErrCodedPHYUnsupported is returned by NewLongRange when the adapter
// cannot advertise on the LE Coded PHY.
var ErrCodedPHYUnsupported = errors.New("no LE Coded PHY (Bluetooth long range)")

// ErrUnsupported is returned by Send on a link that fell back to the
// legacy name beacon: it carries our endpoint in its name, not frames.
var ErrUnsupported = errors.New("ble: legacy name beacon: the link carries the advertised name, not frames")

// ErrClosed is returned by Run and Send once Run has returned.
var ErrClosed = errors.New("ble: link closed")

// Config configures a Bluetooth link.
type Config struct {
	// Bus is the D-Bus address BlueZ is reached at. Default "": the
	// system bus. Tests give their private bus here.
	Bus string

	// Adapter names the adapter, such as "hci0". Default "": the first
	// adapter BlueZ lists.
	Adapter string

	// Advertise is our endpoint, for the legacy name beacon where the
	// adapter has no extended advertising. Default "": no name beacon.
	// It fits a legacy advertisement only up to MaxLegacyEndpoint bytes;
	// a longer one leaves a legacy link scanning only, and says so.
	Advertise string

	// DutyCycle is the share of airtime our advertisements may use over
	// Window. Default 0.01. See the package comment for the cost of one
	// beacon.
	DutyCycle float64
	// Window is the sliding window of the airtime budget. Default 1 min.
	Window time.Duration

	// Interval is the advertising interval of a beacon. Default 500 ms.
	// BlueZ takes it as MinInterval/MaxInterval.
	Interval time.Duration
	// AdvertiseFor is how long BlueZ advertises one beacon (the
	// advertisement's Timeout) unless the next beacon replaces it first.
	// Whole seconds, 1 s to 65535 s. Default 4 s, two beacon intervals of
	// the node, so that a beacon refused by the budget leaves the previous
	// one on the air a little longer.
	AdvertiseFor time.Duration

	// DedupWindow is the least time between two deliveries of the same
	// endpoint heard in a legacy name. Default 5 s.
	DedupWindow time.Duration
	// MaxTracked bounds the endpoints remembered for that. Default 1024;
	// while it is full of live entries, new endpoints are dropped.
	MaxTracked int

	// SignalQueue bounds BlueZ signals waiting for Run; more are dropped
	// and counted. Default 256.
	SignalQueue int

	// Now returns the time for the budget and deduplication. Default
	// time.Now.
	Now func() time.Time
	// Logger receives the one-time fallback notice. Default: discarded.
	Logger *slog.Logger
}

// DefaultConfig returns the defaults: the system bus, the first adapter,
// 1 % of airtime per minute.
func DefaultConfig() Config {
	return Config{
		DutyCycle:    0.01,
		Window:       time.Minute,
		Interval:     500 * time.Millisecond,
		AdvertiseFor: 4 * time.Second,
		DedupWindow:  5 * time.Second,
		MaxTracked:   1024,
		SignalQueue:  256,
		Now:          time.Now,
		Logger:       slog.New(slog.DiscardHandler),
	}
}

func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	fill := func(p *time.Duration, v time.Duration) {
		if *p == 0 {
			*p = v
		}
	}
	fill(&c.Window, d.Window)
	fill(&c.Interval, d.Interval)
	fill(&c.AdvertiseFor, d.AdvertiseFor)
	fill(&c.DedupWindow, d.DedupWindow)
	if c.DutyCycle == 0 {
		c.DutyCycle = d.DutyCycle
	}
	if c.MaxTracked == 0 {
		c.MaxTracked = d.MaxTracked
	}
	if c.SignalQueue == 0 {
		c.SignalQueue = d.SignalQueue
	}
	if c.Now == nil {
		c.Now = d.Now
	}
	if c.Logger == nil {
		c.Logger = d.Logger
	}
	switch {
	case !(c.DutyCycle > 0 && c.DutyCycle <= 1):
		return c, fmt.Errorf("ble: duty cycle %v is not in (0, 1]", c.DutyCycle)
	case c.Window < 0:
		return c, fmt.Errorf("ble: budget window %v is negative", c.Window)
	case c.Interval < 20*time.Millisecond || c.Interval > 10240*time.Millisecond:
		return c, fmt.Errorf("ble: advertising interval %v is not in 20 ms .. 10.24 s", c.Interval)
	case c.AdvertiseFor < time.Second || c.AdvertiseFor > math.MaxUint16*time.Second || c.AdvertiseFor%time.Second != 0:
		return c, fmt.Errorf("ble: advertise-for %v is not whole seconds in 1 s .. 65535 s", c.AdvertiseFor)
	case c.DedupWindow < 0:
		return c, fmt.Errorf("ble: dedup window %v is negative", c.DedupWindow)
	case c.MaxTracked < 0:
		return c, fmt.Errorf("ble: max tracked %d is negative", c.MaxTracked)
	case c.SignalQueue < 0:
		return c, fmt.Errorf("ble: signal queue %d is negative", c.SignalQueue)
	}
	return c, nil
}

// Link is Bluetooth discovery through BlueZ as a radio.Link. In extended
// mode it advertises each beacon frame it is sent in an extended
// advertisement and delivers the frames it hears in others'; in legacy mode
// it advertises our endpoint as a name and delivers the names it hears.
// Both modes deliver both kinds of packet: an extended node hears legacy
// names too (a legacy controller hears only names).
type Link struct {
	cfg       Config
	via       radio.Via
	adapter   adapter
	secondary string // "1M" or "Coded"; "" in legacy mode
	legacy    bool
	name      string // legacy name beacon, "" = none
	notice    string // "" in extended mode
	mtu       int

	// mu guards the fields below.
	mu      sync.Mutex
	closed  bool
	running bool
	budget  *radio.Budget
	pending []byte        // the latest frame Send accepted, not yet registered
	wake    chan struct{} // 1-slot: a frame is pending

	// deliverMu guards the fields below (Run's goroutine only, and tests).
	deliverMu  sync.Mutex
	lastSeen   map[string]time.Time // legacy endpoint → last delivery
	lastPruned time.Time

	// sigs queues BlueZ's signals for Run.
	sigs *signalQueue
}

var (
	_ radio.Link    = (*Link)(nil)
	_ radio.Noticer = (*Link)(nil)
)

// New opens a link on LE 1M (Via radio.ViaBLE). It asks BlueZ, at
// Config.Bus, what the adapter can do and closes the connection again: Run
// opens its own. Without BlueZ or an adapter it returns an error wrapping
// ErrNoAdapter. An adapter without extended advertising gives a link in
// legacy mode, logged once here and reported by Notice.
func New(cfg Config) (*Link, error) {
	return open(cfg, radio.ViaBLE, secondary1M)
}

// NewLongRange opens a link on the LE Coded PHY (Via radio.ViaBTLR), which
// reaches about four times as far as LE 1M at an eighth of the rate. It
// needs an adapter that BlueZ reports with the "Coded" secondary channel;
// otherwise it returns an error wrapping ErrCodedPHYUnsupported that names
// the adapter and what it has. There is no legacy fallback: legacy
// advertising is LE 1M only.
func NewLongRange(cfg Config) (*Link, error) {
	return open(cfg, radio.ViaBTLR, secondaryCoded)
}

func open(cfg Config, via radio.Via, secondary string) (*Link, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := connect(cfg.Bus, nil)
	if err != nil {
		bus := "the system bus (is BlueZ installed?)"
		if cfg.Bus != "" {
			bus = cfg.Bus
		}
		return nil, fmt.Errorf("%s: %w: connect to %s: %w", via, ErrNoAdapter, bus, err)
	}
	a, err := findAdapter(ctx, conn, cfg.Adapter)
	_ = conn.Close() // Run opens its own; a close error changes nothing
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", via, ErrNoAdapter, err)
	}
	l := &Link{
		cfg: cfg, via: via, adapter: a, secondary: secondary,
		budget:   radio.NewBudget(cfg.Window, cfg.DutyCycle),
		wake:     make(chan struct{}, 1),
		sigs:     newSignalQueue(cfg.SignalQueue),
		lastSeen: make(map[string]time.Time),
	}
	l.mtu = radio.MaxFrame
	if a.maxAdvLen > 0 {
		l.mtu = min(l.mtu, a.maxAdvLen-ADOverhead)
	}
	lacks := ""
	switch {
	case !a.hasAdvManager:
		lacks = "BlueZ exports no LEAdvertisingManager1 for it"
	case !a.supports(secondary):
		lacks = fmt.Sprintf("BlueZ reports secondary channels %q, without %q", a.secondary, secondary)
		if len(a.secondary) == 0 {
			lacks = "no extended advertising: BlueZ reports no secondary channels"
		}
	case l.mtu < maxBeacon:
		lacks = fmt.Sprintf("it takes %d bytes of advertising data, a beacon needs up to %d", a.maxAdvLen, maxBeacon+ADOverhead)
	}
	if lacks == "" {
		return l, nil
	}
	if via == radio.ViaBTLR {
		return nil, fmt.Errorf("bt_lr: adapter %s (%s) cannot advertise on the LE Coded PHY: %s: %w; check `btmgmt phy` lists LECODEDTX and LECODEDRX, or use a Bluetooth 5 adapter with long range",
			a.name, a.path, lacks, ErrCodedPHYUnsupported)
	}
	l.legacy, l.secondary, l.mtu = true, "", 0
	switch {
	case !a.hasAdvManager:
		l.notice = fmt.Sprintf("ble: scanning only (adapter %s cannot advertise: %s)", a.name, lacks)
	case cfg.Advertise == "":
		l.notice = fmt.Sprintf("ble: scanning only (adapter %s has %s, and no endpoint to name)", a.name, lacks)
	default:
		if l.name, err = Name(cfg.Advertise); err != nil {
			l.notice = fmt.Sprintf("ble: scanning only (adapter %s has %s, and endpoint %s is longer than the %d bytes a legacy name carries)",
				a.name, lacks, cfg.Advertise, MaxLegacyEndpoint)
		} else {
			l.notice = fmt.Sprintf("ble: legacy name beacon (adapter %s has %s)", a.name, lacks)
		}
	}
	cfg.Logger.Warn("Bluetooth falls back to the legacy name beacon: peers hear our endpoint unsigned, and only nodes that also fall back are heard by name",
		"notice", l.notice)
	return l, nil
}

// connect opens a private connection to the bus at addr (the system bus if
// ""), with signals going to q when q is not nil.
func connect(addr string, q *signalQueue) (*dbus.Conn, error) {
	var opts []dbus.ConnOption
	if q != nil {
		opts = append(opts, dbus.WithSignalHandler(q))
	}
	if addr == "" {
		return dbus.ConnectSystemBus(opts...)
	}
	return dbus.Connect(addr, opts...)
}

// Via returns radio.ViaBLE or radio.ViaBTLR.
func (l *Link) Via() radio.Via { return l.via }

// MTU returns the largest frame one advertisement carries: radio.MaxFrame,
// or less if BlueZ reports a smaller MaxAdvLen; 0 in legacy mode.
func (l *Link) MTU() int { return l.mtu }

// Notice returns "" in extended mode, else a line for the operator saying
// the link fell back and why (the dashboard shows it).
func (l *Link) Notice() string { return l.notice }

// AdvertSize returns the advertising data a frame of n bytes takes.
func AdvertSize(n int) int { return n + ADOverhead }

// airtime estimates the radio time one advertising event takes for n bytes
// of advertising data: three ADV_EXT_IND on the primary channels (about 20
// bytes each with preamble, access address, header, ADI, AuxPtr and CRC) and
// one AUX_ADV_IND (about 20 bytes of framing and n of data), at 8 µs a byte
// on LE 1M and 64 µs on LE Coded S=8 (primary and secondary alike for
// bt_lr).
func (l *Link) airtime(n int) time.Duration {
	perByte := 8 * time.Microsecond
	if l.via == radio.ViaBTLR {
		perByte = 64 * time.Microsecond
	}
	return time.Duration(3*20+20+n) * perByte
}

// beaconCost is the airtime one Send books: the events of one
// advertisement over its whole lifetime (AdvertiseFor / Interval).
func (l *Link) beaconCost(frameLen int) time.Duration {
	events := int64(l.cfg.AdvertiseFor / l.cfg.Interval)
	return time.Duration(events) * l.airtime(AdvertSize(frameLen))
}

// Send hands frame to BlueZ as our advertisement, replacing the previous
// one, if the airtime budget admits its cost (see the package comment);
// otherwise it returns an error wrapping radio.ErrBudget. Run does the
// registration: Send only books the airtime and leaves the frame for it,
// so it never waits on D-Bus. A frame sent before Run starts is
// advertised when it does; of several sent before Run takes them, the last
// wins. It returns radio.ErrTooLarge beyond MTU, ErrUnsupported in legacy
// mode, and ErrClosed after Run has returned.
func (l *Link) Send(_ context.Context, frame []byte) error {
	if l.legacy {
		return ErrUnsupported
	}
	if len(frame) > l.mtu {
		return fmt.Errorf("%w: %d bytes, %s carries %d", radio.ErrTooLarge, len(frame), l.via, l.mtu)
	}
	cost := l.beaconCost(len(frame))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	now := l.cfg.Now()
	if !l.budget.Admit(now, cost) {
		return fmt.Errorf("%w: %s beacon needs %v of airtime, %v of %v used in the last %v",
			radio.ErrBudget, l.via, cost, l.budget.Used(now), l.budget.Limit(), l.budget.Window())
	}
	l.pending = append(l.pending[:0:0], frame...)
	select {
	case l.wake <- struct{}{}:
	default: // Run has not taken the previous one yet; it takes this one
	}
	return nil
}

// advertPath is where our advertisement object lives on our connection.
const advertPath = dbus.ObjectPath("/net/offgrid/ble/advertisement0")

// Run connects to BlueZ, scans the adapter for advertisements and
// advertises: in extended mode each frame Send leaves, in legacy mode our
// name. It delivers a packet with Data for each advertisement that carries
// a frame under CompanyID, and one with Endpoint for each valid legacy name
// (at most once per DedupWindow for an endpoint); deliver is called from
// Run's goroutine only. When ctx ends Run stops discovery, withdraws the
// advertisement, closes its connection and returns nil; it returns an
// error if BlueZ refuses to scan or to register the legacy name. A refused
// beacon registration is logged and retried with the next beacon. It runs
// once.
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
	defer func() {
		l.mu.Lock()
		l.closed = true
		l.mu.Unlock()
	}()

	conn, err := connect(l.cfg.Bus, l.sigs)
	if err != nil {
		return fmt.Errorf("%s: connect to BlueZ: %w", l.via, err)
	}
	s := &session{l: l, conn: conn, adv: &advertisement{}}
	defer s.close()
	if err := s.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("%s: adapter %s: %w", l.via, l.adapter.name, err)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case sig := <-l.sigs.ch:
			s.handle(sig, deliver)
		case <-l.wake:
			l.mu.Lock()
			frame := l.pending
			l.pending = nil
			l.mu.Unlock()
			s.advertiseLogged(ctx, frame)
		}
	}
}

// SignalsDropped returns how many BlueZ signals were dropped because Run
// did not keep up.
func (l *Link) SignalsDropped() uint64 { return l.sigs.dropped.Load() }

// session is one Run's connection to BlueZ.
type session struct {
	l          *Link
	conn       *dbus.Conn
	owner      string // BlueZ's unique bus name: only its signals count
	adv        *advertisement
	registered bool
	discovery  bool
	failing    bool // the last registration was refused
}

func (s *session) adapterObj() dbus.BusObject { return s.conn.Object(bluezService, s.l.adapter.path) }

// start subscribes to BlueZ's device signals, exports our advertisement
// object, registers the legacy name if any, and starts discovery.
func (s *session) start(ctx context.Context) error {
	if err := s.conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetNameOwner", 0, bluezService).Store(&s.owner); err != nil {
		return fmt.Errorf("find BlueZ on the bus: %w", err)
	}
	if err := s.conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(bluezService), dbus.WithMatchObjectPath("/"),
		dbus.WithMatchInterface(ifaceObjectMgr), dbus.WithMatchMember("InterfacesAdded")); err != nil {
		return fmt.Errorf("subscribe to new devices: %w", err)
	}
	if err := s.conn.AddMatchSignalContext(ctx, dbus.WithMatchSender(bluezService), dbus.WithMatchPathNamespace(s.l.adapter.path),
		dbus.WithMatchInterface(ifaceProperties), dbus.WithMatchMember("PropertiesChanged")); err != nil {
		return fmt.Errorf("subscribe to device changes: %w", err)
	}
	if err := exportAdvert(s.conn, advertPath, s.adv); err != nil {
		return fmt.Errorf("export our advertisement: %w", err)
	}
	if s.l.name != "" {
		s.adv.props.Store(&map[string]dbus.Variant{
			"Type":      dbus.MakeVariant(advertTypeBcast),
			"LocalName": dbus.MakeVariant(s.l.name),
		})
		if err := s.register(ctx); err != nil {
			return err
		}
	}
	filter := map[string]dbus.Variant{
		"Transport": dbus.MakeVariant("le"),
		// Each beacon changes the data, so BlueZ reports it without
		// duplicates; identical re-advertisements stay in the kernel.
		"DuplicateData": dbus.MakeVariant(false),
	}
	if err := s.adapterObj().CallWithContext(ctx, ifaceAdapter+".SetDiscoveryFilter", 0, filter).Err; err != nil {
		return fmt.Errorf("set the discovery filter: %w", err)
	}
	if err := s.adapterObj().CallWithContext(ctx, ifaceAdapter+".StartDiscovery", 0).Err; err != nil {
		return fmt.Errorf("start discovery: %w", err)
	}
	s.discovery = true
	return nil
}

// advertiseLogged advertises frame. A refusal does not stop the link: it
// keeps scanning, and the next beacon tries again. The first refusal after
// a success is logged as a warning, the others at debug level, so that a
// lasting refusal is said once.
func (s *session) advertiseLogged(ctx context.Context, frame []byte) {
	err := s.advertise(ctx, frame)
	switch {
	case err == nil:
		s.failing = false
	case ctx.Err() != nil:
	case !s.failing:
		s.failing = true
		s.l.cfg.Logger.Warn("Bluetooth beacon not advertised; scanning goes on, the next beacon tries again",
			"link", string(s.l.via), "adapter", s.l.adapter.name, "err", err)
	default:
		s.l.cfg.Logger.Debug("Bluetooth beacon not advertised", "link", string(s.l.via), "err", err)
	}
}

// advertise replaces our advertisement with one carrying frame.
func (s *session) advertise(ctx context.Context, frame []byte) error {
	if frame == nil {
		return nil
	}
	if err := s.unregister(ctx); err != nil {
		return err
	}
	s.adv.props.Store(&map[string]dbus.Variant{
		"Type":             dbus.MakeVariant(advertTypeBcast),
		"ManufacturerData": dbus.MakeVariant(map[uint16]dbus.Variant{CompanyID: dbus.MakeVariant(frame)}),
		"SecondaryChannel": dbus.MakeVariant(s.l.secondary),
		"Timeout":          dbus.MakeVariant(uint16(s.l.cfg.AdvertiseFor / time.Second)),
		"MinInterval":      dbus.MakeVariant(uint32(s.l.cfg.Interval / time.Millisecond)),
		"MaxInterval":      dbus.MakeVariant(uint32(s.l.cfg.Interval / time.Millisecond)),
	})
	return s.register(ctx)
}

func (s *session) register(ctx context.Context) error {
	call := s.adapterObj().CallWithContext(ctx, ifaceAdvManager+".RegisterAdvertisement", 0, advertPath, map[string]dbus.Variant{})
	if call.Err != nil {
		return fmt.Errorf("register the advertisement: %w", call.Err)
	}
	s.registered = true
	return nil
}

// unregister withdraws our advertisement. One whose Timeout ran out is gone
// already; BlueZ answers DoesNotExist then, which is fine.
func (s *session) unregister(ctx context.Context) error {
	if !s.registered {
		return nil
	}
	s.registered = false
	err := s.adapterObj().CallWithContext(ctx, ifaceAdvManager+".UnregisterAdvertisement", 0, advertPath).Err
	var derr dbus.Error
	if errors.As(err, &derr) && derr.Name == errDoesNotExist {
		return nil
	}
	if err != nil {
		return fmt.Errorf("withdraw the advertisement: %w", err)
	}
	return nil
}

// close stops discovery and withdraws the advertisement (best effort: the
// node is stopping, or BlueZ failed), then closes the connection, which
// ends godbus's reader.
func (s *session) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if s.discovery {
		_ = s.adapterObj().CallWithContext(ctx, ifaceAdapter+".StopDiscovery", 0).Err
	}
	_ = s.unregister(ctx)
	_ = s.conn.Close()
}

// handle turns one BlueZ signal into packets.
func (s *session) handle(sig *dbus.Signal, deliver func(radio.Packet)) {
	frame, name, from, ok := heard(sig, s.owner, s.l.adapter.path)
	if !ok {
		return
	}
	if frame != nil {
		deliver(radio.Packet{Data: frame, Via: s.l.via, From: from})
	}
	if name != "" {
		s.l.heardName(name, from, deliver)
	}
}

// heard decodes a signal that BlueZ (bus name owner) sent about a device
// under the adapter at prefix: the frame in its manufacturer data (nil if
// none), its name ("" if none) and its address. ok is false for any other
// signal. This is the parser of what the air brings, behind BlueZ's own.
func heard(sig *dbus.Signal, owner string, prefix dbus.ObjectPath) (frame []byte, name, from string, ok bool) {
	if sig.Sender != owner {
		return nil, "", "", false
	}
	path, props, ok := deviceProps(sig, prefix)
	if !ok {
		return nil, "", "", false
	}
	frame, name = advertData(props)
	return frame, name, deviceAddress(path, props), true
}

// heardName delivers the endpoint of a valid legacy name unless the same
// endpoint was delivered within DedupWindow.
func (l *Link) heardName(name, from string, deliver func(radio.Packet)) {
	endpoint, ok := ParseName(name)
	if !ok {
		return
	}
	l.deliverMu.Lock()
	defer l.deliverMu.Unlock()
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
	deliver(radio.Packet{Via: l.via, From: from, Endpoint: endpoint})
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
