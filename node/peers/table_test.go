package peers

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/internal/testutil"
)

// openTestTable opens a peer table on a real SQLite file with package
// node's migrations (read from its directory: importing it would be a
// cycle).
func openTestTable(t *testing.T, clock *testutil.Clock, flushEvery time.Duration) *table {
	t.Helper()
	ctx := t.Context()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), "node.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := sqlitedb.Migrate(ctx, db, "node", os.DirFS("..")); err != nil {
		t.Fatal(err)
	}
	tab, err := openTable(ctx, db, "http://127.0.0.1:1", nil, clock.Now, 15*time.Second, flushEvery)
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// written is the peer's row as SQLite has it, without heard.
func written(t *testing.T, tab *table, endpoint string) Peer {
	t.Helper()
	p, err := scanPeer(tab.db.QueryRowContext(t.Context(), qGet, endpoint))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func listed(t *testing.T, tab *table, endpoint string) Peer {
	t.Helper()
	all, err := tab.list(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p.Endpoint == endpoint {
			return p
		}
	}
	t.Fatalf("peer %s not listed", endpoint)
	return Peer{}
}

// TestRepeatedObservationsWriteRarely: a peer heard every 2 s, on UDP and
// in turn on a worse transport (LoRa) and by membership, has its last-seen
// and round-trip times written at most every flushEvery, yet the table
// lists the newest, keeps UDP, never marks the peer down while it is
// heard, and marks it down exactly downAfter after it was last heard.
func TestRepeatedObservationsWriteRarely(t *testing.T) {
	ctx := t.Context()
	const (
		flushEvery = 30 * time.Second
		beacon     = 2 * time.Second
		downAfter  = 6 * time.Second
		dropAfter  = 10 * time.Minute
	)
	clock := testutil.NewClock(time.UnixMilli(1_800_000_000_000).UTC())
	tab := openTestTable(t, clock, flushEvery)
	keys, err := identity.Generate(rand.NewChaCha8([32]byte{7}))
	if err != nil {
		t.Fatal(err)
	}
	const ep = "http://127.0.0.1:2"
	member := func(identity.NodeID) bool { return true }
	observe := func(via string) {
		t.Helper()
		obs := Peer{Endpoint: ep, ID: keys.ID(), Name: "bee", Via: via, State: StateUp, LastSeen: clock.Now()}
		if _, _, err := tab.update(ctx, obs, member); err != nil {
			t.Fatal(err)
		}
	}
	observe("udp")
	first := clock.Now()
	if err := tab.setRTT(ctx, ep, "", 3*time.Millisecond, "poll"); err != nil {
		t.Fatal(err)
	}
	lastFlush, heardAt := first, first
	for i := 1; i <= 40; i++ {
		now := clock.Advance(beacon)
		via := []string{"udp", "lora", "udp", "gossip"}[i%4]
		observe(via)
		if via != "gossip" { // membership does not refresh a peer heard on a transport
			heardAt = now
		}
		// Gossip probes measure by node ID.
		if err := tab.setRTT(ctx, "", keys.ID(), time.Duration(i)*time.Millisecond, "gossip"); err != nil {
			t.Fatal(err)
		}
		down, err := tab.expire(ctx, downAfter, dropAfter)
		if err != nil {
			t.Fatal(err)
		}
		if len(down) > 0 {
			t.Fatalf("after %s of beacons every %s: marked down %v", now.Sub(first), beacon, down)
		}
		p := listed(t, tab, ep)
		if !p.LastSeen.Equal(heardAt) || p.State != StateUp || p.Via != "udp" || p.RTT != time.Duration(i)*time.Millisecond || p.RTTVia != "gossip" || !p.RTTAt.Equal(now) {
			t.Fatalf("listed after %s: %+v, want up via udp, seen at %s, rtt %dms by gossip now", now.Sub(first), p, heardAt, i)
		}
		w := written(t, tab, ep)
		if w.LastSeen.Before(now.Add(-flushEvery)) || w.RTTAt.Before(now.Add(-flushEvery)) {
			t.Fatalf("after %s: written last seen %s, rtt at %s: older than %s", now.Sub(first), w.LastSeen, w.RTTAt, flushEvery)
		}
		if w.LastSeen.After(lastFlush) {
			if gap := w.LastSeen.Sub(lastFlush); gap < flushEvery {
				t.Fatalf("last seen written again after %s, want at most every %s", gap, flushEvery)
			}
			lastFlush = w.LastSeen
		}
	}
	if lastFlush.Equal(first) {
		t.Fatal("80 s of beacons never wrote the last-seen time")
	}

	// Silent from now: up until downAfter has passed, then down.
	heardLast := clock.Now()
	clock.Advance(downAfter)
	if down, err := tab.expire(ctx, downAfter, dropAfter); err != nil || len(down) != 0 {
		t.Fatalf("expire exactly %s after the last beacon = %v, %v; want still up", downAfter, down, err)
	}
	clock.Advance(time.Millisecond)
	down, err := tab.expire(ctx, downAfter, dropAfter)
	if err != nil || len(down) != 1 || down[0].Endpoint != ep || !down[0].LastSeen.Equal(heardLast) {
		t.Fatalf("expire after %s of silence = %+v, %v; want the peer down, last seen %s", downAfter, down, err, heardLast)
	}
	if w := written(t, tab, ep); w.State != StateDown || !w.LastSeen.Equal(heardLast) {
		t.Fatalf("written: %s, last seen %s; want down, last seen %s", w.State, w.LastSeen, heardLast)
	}

	// Forgotten after dropAfter, in memory too.
	clock.Advance(dropAfter)
	if _, err := tab.expire(ctx, downAfter, dropAfter); err != nil {
		t.Fatal(err)
	}
	if all, err := tab.list(ctx); err != nil || len(all) != 0 {
		t.Fatalf("list after %s = %v, %v; want empty", dropAfter, all, err)
	}
	tab.heard.mu.Lock()
	kept := len(tab.heard.peers)
	tab.heard.mu.Unlock()
	if kept != 0 {
		t.Fatalf("heard keeps %d peers after the table forgot them", kept)
	}
}

// TestHeardKeepsTransportFresh: the transport choice sees the newest
// last-seen time, not the written one. A peer heard on UDP a moment ago
// keeps UDP against a LoRa beacon although its written last-seen time is
// older than fresh.
func TestHeardKeepsTransportFresh(t *testing.T) {
	ctx := t.Context()
	clock := testutil.NewClock(time.UnixMilli(1_800_000_000_000).UTC())
	tab := openTestTable(t, clock, 30*time.Second)
	keys, err := identity.Generate(rand.NewChaCha8([32]byte{8}))
	if err != nil {
		t.Fatal(err)
	}
	const ep = "http://127.0.0.1:3"
	member := func(identity.NodeID) bool { return true }
	obs := func(via string) Peer {
		return Peer{Endpoint: ep, ID: keys.ID(), Name: "bee", Via: via, State: StateUp, LastSeen: clock.Now()}
	}
	for range 10 { // 20 s of UDP beacons: more than fresh (15 s) since the written time
		if _, _, err := tab.update(ctx, obs("udp"), member); err != nil {
			t.Fatal(err)
		}
		clock.Advance(2 * time.Second)
	}
	stored, changed, err := tab.update(ctx, obs("lora"), member)
	if err != nil {
		t.Fatal(err)
	}
	if changed || stored.Via != "udp" {
		t.Fatalf("a LoRa beacon 2 s after a UDP one: via %s (changed %v), want udp kept", stored.Via, changed)
	}
}

// TestSetRTTOfUnknownNode records nothing for a node ID no peer has.
func TestSetRTTOfUnknownNode(t *testing.T) {
	clock := testutil.NewClock(time.UnixMilli(1_800_000_000_000).UTC())
	tab := openTestTable(t, clock, 30*time.Second)
	if err := tab.setRTT(context.Background(), "", "did:key:nobody", time.Millisecond, "gossip"); err != nil {
		t.Fatal(err)
	}
	tab.heard.mu.Lock()
	defer tab.heard.mu.Unlock()
	if len(tab.heard.peers) != 0 {
		t.Fatalf("heard keeps %d entries for a node no peer has", len(tab.heard.peers))
	}
}
