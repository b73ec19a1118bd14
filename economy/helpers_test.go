package economy

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// world is a cluster with witnesses and wallets, and the committee of its
// document.
type world struct {
	doc       cluster.Document
	com       Committee
	witnesses []*identity.Keys
	wallets   []*identity.Keys
}

// newWorld builds a signed cluster document with the given witness
// weights and wallets, each wallet starting with alloc micro-credits.
func newWorld(t testing.TB, seed uint64, weights []uint64, wallets int, alloc int64) world {
	t.Helper()
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)}))
	gen := func() *identity.Keys {
		k, err := identity.Generate(readerOf(r))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	var w world
	var members []cluster.Member
	var ws []cluster.Witness
	for i, wt := range weights {
		k := gen()
		w.witnesses = append(w.witnesses, k)
		members = append(members, cluster.Member{ID: k.ID(), Name: "w" + string(rune('a'+i))})
		ws = append(ws, cluster.Witness{ID: k.ID(), Weight: wt})
	}
	var allocs []cluster.Alloc
	for range wallets {
		k := gen()
		w.wallets = append(w.wallets, k)
		allocs = append(allocs, cluster.Alloc{ID: k.ID(), Amount: alloc})
	}
	id, err := cluster.NewID(readerOf(r))
	if err != nil {
		t.Fatal(err)
	}
	d, err := cluster.New(id, []identity.NodeID{w.witnesses[0].ID()}, 1, members)
	if err != nil {
		t.Fatal(err)
	}
	d, err = d.WithEconomy(cluster.Economy{Witnesses: ws, TxFeeMin: 10, TxFeeMax: 30, HostReserveBP: cluster.DefaultHostReserveBP, Genesis: allocs})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range w.witnesses {
		if d, err = d.Sign(k); err != nil {
			t.Fatal(err)
		}
	}
	w.doc = d
	if w.com, err = CommitteeOf(d); err != nil {
		t.Fatal(err)
	}
	return w
}

type randReader struct{ r *rand.Rand }

func (rr randReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(rr.r.Uint32())
	}
	return len(p), nil
}

func readerOf(r *rand.Rand) randReader { return randReader{r} }

// openLedger opens a ledger on a fresh SQLite file.
func openLedger(t testing.TB, com Committee, name string) *Ledger {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(t.TempDir(), name+".db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := Open(ctx, db, com)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// transfer returns a signed transfer.
func (w world) transfer(t testing.TB, from *identity.Keys, to string, amount int64, nonce uint64) Tx {
	t.Helper()
	tx, err := SignTx(Tx{Cluster: w.com.Cluster, Epoch: w.com.Epoch, Src: string(from.ID()), Dst: to, Amount: amount,
		Fee: w.com.Fee(), Nonce: nonce, Kind: KindTransfer}, from)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}
