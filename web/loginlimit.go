package web

import (
	"container/list"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// Login back-off. The admin token is long and random, so guessing it is
// hopeless anyway; the back-off keeps a script on the LAN from trying at
// full speed, and keeps the log and the live feed readable while it tries.
const (
	// loginFreeFailures is how many wrong tokens in a row an address may
	// send before it has to wait: enough for a few typos.
	loginFreeFailures = 5
	// loginBaseBackoff is the wait after the last free failure; each
	// further failure doubles it, up to loginMaxBackoff.
	loginBaseBackoff = time.Second
	loginMaxBackoff  = 15 * time.Minute
	// loginForget is how long after its last failure an address's count
	// is forgotten (a successful login forgets it at once). It is longer
	// than loginMaxBackoff, so an address at the cap gets one guess per
	// loginMaxBackoff for as long as it keeps guessing.
	loginForget = 24 * time.Hour
	// DefaultMaxLoginAddresses bounds the back-off table.
	DefaultMaxLoginAddresses = 4096
)

// loginLimiter counts wrong admin tokens per client address and makes an
// address that keeps sending them wait, doubling the wait each time. The
// table is bounded: when it is full, the address whose last failure is the
// oldest is forgotten. Addresses are keyed by IP (IPv6 by its /64, which
// one host usually holds whole); proxy headers are not trusted, since any
// client can send them.
type loginLimiter struct {
	max int
	now func() time.Time

	// mu guards entries and order.
	mu      sync.Mutex
	entries map[netip.Addr]*list.Element
	// order holds *loginEntry values, least recent failure first.
	order *list.List
}

// loginEntry is one address's failures.
type loginEntry struct {
	addr     netip.Addr
	failures int
	// last is the time of the latest failure; until is when the address
	// may try again (zero while it has free attempts).
	last, until time.Time
}

func newLoginLimiter(max int, now func() time.Time) *loginLimiter {
	return &loginLimiter{max: max, now: now, entries: make(map[netip.Addr]*list.Element), order: list.New()}
}

// clientAddr is the key of r's client: the IP of RemoteAddr, IPv4-mapped
// addresses as IPv4, IPv6 cut to its /64. An unreadable RemoteAddr (not
// from a real socket) gets the zero address, one shared key.
func clientAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
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

// addrLabel names a clientAddr key for people: an IPv6 key as the /64 it
// stands for.
func addrLabel(a netip.Addr) string {
	if a.Is6() {
		return netip.PrefixFrom(a, 64).String()
	}
	return a.String()
}

// wait returns how long addr must still wait before its next attempt is
// checked; zero means now.
func (l *loginLimiter) wait(addr netip.Addr) time.Duration {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[addr]
	if !ok {
		return 0
	}
	e := el.Value.(*loginEntry)
	if now.Sub(e.last) >= loginForget {
		l.removeLocked(el)
		return 0
	}
	return max(e.until.Sub(now), 0)
}

// fail records a wrong token from addr and returns its failures in a row
// and the wait it now has to serve (zero while it has free attempts).
func (l *loginLimiter) fail(addr netip.Addr) (failures int, backoff time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.entries[addr]
	if ok && now.Sub(el.Value.(*loginEntry).last) >= loginForget {
		l.removeLocked(el)
		ok = false
	}
	if !ok {
		l.pruneLocked(now)
		for l.order.Len() >= l.max {
			l.removeLocked(l.order.Front())
		}
		el = l.order.PushBack(&loginEntry{addr: addr})
		l.entries[addr] = el
	}
	l.order.MoveToBack(el)
	e := el.Value.(*loginEntry)
	e.failures++
	e.last = now
	if e.failures >= loginFreeFailures {
		backoff = loginMaxBackoff
		// Past 2^20 s the shift would only overflow: the cap is far below.
		if n := e.failures - loginFreeFailures; n < 20 {
			backoff = min(loginBaseBackoff<<n, loginMaxBackoff)
		}
		e.until = now.Add(backoff)
	}
	return e.failures, backoff
}

// succeed forgets addr's failures.
func (l *loginLimiter) succeed(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[addr]; ok {
		l.removeLocked(el)
	}
}

// len returns the number of addresses in the table.
func (l *loginLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}

// pruneLocked forgets the addresses whose last failure is loginForget
// old, oldest first. l.mu must be held.
func (l *loginLimiter) pruneLocked(now time.Time) {
	for el := l.order.Front(); el != nil && now.Sub(el.Value.(*loginEntry).last) >= loginForget; el = l.order.Front() {
		l.removeLocked(el)
	}
}

// removeLocked deletes el from the table. l.mu must be held.
func (l *loginLimiter) removeLocked(el *list.Element) {
	delete(l.entries, el.Value.(*loginEntry).addr)
	l.order.Remove(el)
}
