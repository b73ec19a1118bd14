package backoff

import (
	"container/list"
	"math"
	"net/netip"
	"sync"
	"time"
)

// The admin token is long and random, so guessing it is hopeless anyway;
// the back-off keeps a script on the LAN from trying at full speed, and
// keeps the log and the live feed readable while it tries.
const (
	// FreeFailures is how many wrong tokens in a row an address may
	// send before it has to wait: enough for a few typos.
	FreeFailures = 5
	// BaseBackoff is the wait after the last free failure; each
	// further failure doubles it, up to MaxBackoff.
	BaseBackoff = time.Second
	MaxBackoff  = 15 * time.Minute
	// Forget is how long after its last failure an address's count
	// is forgotten (a successful login forgets it at once). It is longer
	// than MaxBackoff, so an address at the cap gets one guess per
	// MaxBackoff for as long as it keeps guessing.
	Forget = 24 * time.Hour
	// DefaultMaxAddresses is the usual bound of a Limiter's table.
	DefaultMaxAddresses = 4096
)

// Limiter counts wrong admin tokens per client address and makes an
// address that keeps sending them wait, doubling the wait each time. The
// table is bounded: when it is full, the address whose last failure is the
// oldest is forgotten. Addresses are keyed by IP (IPv6 by its /64, which
// one host usually holds whole); proxy headers are not trusted, since any
// client can send them.
type Limiter struct {
	max int
	now func() time.Time

	// mu guards entries and order.
	mu      sync.Mutex
	entries map[netip.Addr]*list.Element
	// order holds *entry values, least recent failure first.
	order *list.List
}

// entry is one address's failures.
type entry struct {
	addr     netip.Addr
	failures int
	// last is the time of the latest failure; until is when the address
	// may try again (zero while it has free attempts).
	last, until time.Time
}

// New returns a Limiter that remembers at most max addresses, reading the
// time from now.
func New(max int, now func() time.Time) *Limiter {
	return &Limiter{max: max, now: now, entries: make(map[netip.Addr]*list.Element), order: list.New()}
}

// ClientAddr is the key of a request's client: the IP of its RemoteAddr, IPv4-mapped
// addresses as IPv4, IPv6 cut to its /64. An unreadable RemoteAddr (not
// from a real socket) gets the zero address, one shared key.
func ClientAddr(remoteAddr string) netip.Addr {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap().WithZone("")
	if a.Is6() {
		p, err := a.Prefix(64)
		if err == nil {
			return p.Addr()
		}
	}
	return a
}

// AddrLabel names a ClientAddr key for people: an IPv6 key as the /64 it
// stands for.
func AddrLabel(a netip.Addr) string {
	if a.Is6() {
		return netip.PrefixFrom(a, 64).String()
	}
	return a.String()
}

// Wait returns how long addr must still wait before its next attempt is
// checked; zero means now.
func (l *Limiter) Wait(addr netip.Addr) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[addr]
	if !ok {
		return 0
	}
	e := el.Value.(*entry)
	if now.Sub(e.last) >= Forget {
		l.removeLocked(el)
		return 0
	}
	return max(e.until.Sub(now), 0)
}

// Fail records a wrong token from addr and returns its failures in a row
// and the wait it now has to serve (zero while it has free attempts).
func (l *Limiter) Fail(addr netip.Addr) (failures int, backoff time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[addr]
	if ok && now.Sub(el.Value.(*entry).last) >= Forget {
		l.removeLocked(el)
		ok = false
	}
	if !ok {
		l.pruneLocked(now)
		for l.order.Len() >= l.max {
			l.removeLocked(l.order.Front())
		}
		el = l.order.PushBack(&entry{addr: addr})
		l.entries[addr] = el
	}
	l.order.MoveToBack(el)
	e := el.Value.(*entry)
	e.failures++
	e.last = now
	if e.failures >= FreeFailures {
		backoff = MaxBackoff
		// Past 2^20 s the shift would only overflow: the cap is far below.
		if n := e.failures - FreeFailures; n < 20 {
			backoff = min(BaseBackoff<<n, MaxBackoff)
		}
		e.until = now.Add(backoff)
	}
	return e.failures, backoff
}

// Succeed forgets addr's failures.
func (l *Limiter) Succeed(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[addr]; ok {
		l.removeLocked(el)
	}
}

// Len returns the number of addresses in the table.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}

// pruneLocked forgets the addresses whose last failure is Forget
// old, oldest first. l.mu must be held.
func (l *Limiter) pruneLocked(now time.Time) {
	for el := l.order.Front(); el != nil && now.Sub(el.Value.(*entry).last) >= Forget; el = l.order.Front() {
		l.removeLocked(el)
	}
}

// removeLocked deletes el from the table. l.mu must be held.
func (l *Limiter) removeLocked(el *list.Element) {
	delete(l.entries, el.Value.(*entry).addr)
	l.order.Remove(el)
}

// Seconds rounds a wait up to whole seconds, as Retry-After counts them:
// rounding down would invite a retry that is refused again.
func Seconds(d time.Duration) int {
	return int(math.Ceil(d.Seconds()))
}
