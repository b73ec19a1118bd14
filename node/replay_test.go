package node_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/node"
)

// openNodeWith opens dir's database and a node with cfg on it; the
// database closes through the returned func (or when t ends).
func openNodeWith(t testing.TB, dir string, keys *identity.Keys, cfg node.Config) (*node.Node, func()) {
	t.Helper()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(dir, "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	n, err := node.New(t.Context(), cfg, keys, db)
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	return n, func() { db.Close() }
}

// TestCheckReplayPersists reopens a node on its database: every request
// accepted before is still refused, the bound counts the senders saved
// before, and a full node refuses new senders without forgetting any.
func TestCheckReplayPersists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys := testKeys(t)
	cfg := testConfig(dir)
	cfg.ReplaySenders = 3
	a, b, c, d := identity.NodeID("did:key:a"), identity.NodeID("did:key:b"), identity.NodeID("did:key:c"), identity.NodeID("did:key:d")
	type step struct {
		id         identity.NodeID
		epoch, seq uint64
		want       error
	}
	run := func(n *node.Node, steps []step) {
		t.Helper()
		for i, s := range steps {
			err := n.CheckReplay(t.Context(), identity.SignedRequest{ID: s.id, Epoch: s.epoch, Seq: s.seq})
			if !errors.Is(err, s.want) || (err == nil) != (s.want == nil) {
				t.Errorf("step %d: CheckReplay(%s, e=%d, n=%d) = %v, want %v", i, s.id, s.epoch, s.seq, err, s.want)
			}
		}
	}
	n, closeDB := openNodeWith(t, dir, keys, cfg)
	run(n, []step{
		{a, 1, 1, nil}, {a, 1, 3, nil}, {b, 7, 4000, nil},
		{a, 1, 3, identity.ErrReplay},
	})
	closeDB()

	n, closeDB = openNodeWith(t, dir, keys, cfg)
	run(n, []step{
		{a, 1, 1, identity.ErrReplay},
		{a, 1, 3, identity.ErrReplay},
		{b, 7, 4000, identity.ErrReplay},
		{b, 6, 5000, identity.ErrReplay}, // older epoch
		{a, 1, 2, nil},                   // never seen, in the window
		{c, 1, 1, nil},                   // the third sender fills the node
		{d, 1, 1, identity.ErrTooManySenders},
	})
	closeDB()

	n, _ = openNodeWith(t, dir, keys, cfg)
	run(n, []step{
		{d, 1, 1, identity.ErrTooManySenders}, // still full after a restart
		{c, 1, 1, identity.ErrReplay},
		{a, 1, 2, identity.ErrReplay},
		{b, 8, 1, nil}, // a known sender's new epoch
	})
}

// BenchmarkCheckReplay measures the replay check of one signed request:
// the node's, which saves the sender's state in SQLite before accepting,
// against the in-memory guard the API used before (same window, nothing
// saved), in the same run. Senders are 1 (one busy peer) or 64 taking
// turns.
func BenchmarkCheckReplay(b *testing.B) {
	for _, senders := range []int{1, 64} {
		ids := make([]identity.NodeID, senders)
		for i := range ids {
			ids[i] = identity.NodeID(fmt.Sprint("did:key:bench-", i))
		}
		b.Run(fmt.Sprintf("senders=%d/memory-baseline", senders), func(b *testing.B) {
			g := identity.NewReplayGuard(4096, 1024, nil)
			seq := uint64(0)
			for i := 0; b.Loop(); i++ {
				if i%senders == 0 {
					seq++
				}
				if err := g.Check(b.Context(), identity.SignedRequest{ID: ids[i%senders], Epoch: 1, Seq: seq}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("senders=%d/sqlite", senders), func(b *testing.B) {
			dir := b.TempDir()
			n, _ := openNodeWith(b, dir, testKeys(b), testConfig(dir))
			seq := uint64(0)
			for i := 0; b.Loop(); i++ {
				if i%senders == 0 {
					seq++
				}
				if err := n.CheckReplay(b.Context(), identity.SignedRequest{ID: ids[i%senders], Epoch: 1, Seq: seq}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
