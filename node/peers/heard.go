package peers

import (
	"sync"
	"time"
)

// maxFlushEvery is the longest a peer's last-seen time and round-trip time
// stay in memory only.
const maxFlushEvery = 30 * time.Second

// heard keeps, per endpoint, the two things that change at every
// observation of a live peer: when it was last heard and its latest
// round-trip time. The table writes them to SQLite at most every flushEvery
// per peer, and its readers (update, expire, list) overlay them on what
// SQLite says, so every decision still sees the newest.
//
// Why: a peer is heard every couple of seconds on every link and probed
// by gossip and polls. Writing each of those was about 70 % of an idle
// node's database writes (30 KB/s per node in a 5-node demo), which wears
// the SD card of a village-hall Raspberry Pi for nothing. Only the table
// adds entries, for endpoints it holds, and forgetSilent drops those not
// heard within the table's expiry, so heard stays as small as the table.
//
// What a crash loses: up to flushEvery of last-seen and round-trip time,
// which a restart does not use (it marks every peer unknown until heard
// again).
type heard struct {
	mu    sync.Mutex
	peers map[string]*liveness
}

type liveness struct {
	seen time.Time // latest observation (zero: none since start)
	rtt  time.Duration
	via  string    // how rtt was measured
	at   time.Time // when rtt was measured (zero: none since start)
	// rttWritten is when rtt was last written to SQLite.
	rttWritten time.Time
}

func newHeard() *heard { return &heard{peers: map[string]*liveness{}} }

func (h *heard) entry(endpoint string) *liveness {
	l, ok := h.peers[endpoint]
	if !ok {
		l = &liveness{}
		h.peers[endpoint] = l
	}
	return l
}

// overlay puts the newer of what p (as SQLite has it) and memory say into p.
func (h *heard) overlay(p *Peer) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l, ok := h.peers[p.Endpoint]
	if !ok {
		return
	}
	if l.seen.After(p.LastSeen) {
		p.LastSeen = l.seen
	}
	if l.at.After(p.RTTAt) {
		p.RTT, p.RTTVia, p.RTTAt = l.rtt, l.via, l.at
	}
}

// saw records that the peer at endpoint was heard at at.
func (h *heard) saw(endpoint string, at time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if l := h.entry(endpoint); at.After(l.seen) {
		l.seen = at
	}
}

// measured records a round-trip time taken at at and reports whether it is
// due to be written: none was written within every.
func (h *heard) measured(endpoint string, rtt time.Duration, via string, at time.Time, every time.Duration) (write bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	l := h.entry(endpoint)
	if !at.Before(l.at) {
		l.rtt, l.via, l.at = rtt, via, at
	}
	if at.Sub(l.rttWritten) < every {
		return false
	}
	l.rttWritten = at
	return true
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// forget drops what is kept for endpoint (the table deleted its row).
func (h *heard) forget(endpoint string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.peers, endpoint)
}

// forgetSilent drops the peers neither heard nor measured since cut.
func (h *heard) forgetSilent(cut time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ep, l := range h.peers {
		if l.seen.Before(cut) && l.at.Before(cut) {
			delete(h.peers, ep)
		}
	}
}
