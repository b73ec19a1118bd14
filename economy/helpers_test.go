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
	w, err := buildWorld(seed, weights, wallets, alloc)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// buildWorld is newWorld for callers off the test's goroutine.
func buildWorld(seed uint64, weights []uint64, wallets int, alloc int64) (world, error) {
	r := rand.New(rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), byte(seed >> 16), byte(seed >> 24)}))
	var w world
	var members []cluster.Member
	var ws []cluster.Witness
	for i, wt := range weights {
		k, err := identity.Generate(readerOf(r))
		if err != nil {
			return world{}, err
		}
		w.witnesses = append(w.witnesses, k)
		members = append(members, cluster.Member{ID: k.ID(), Name: "w" + string(rune('a'+i))})
		ws = append(ws, cluster.Witness{ID: k.ID(), Weight: wt})
	}
	var allocs []cluster.Alloc
	for range wallets {
		k, err := identity.Generate(readerOf(r))
		if err != nil {
			return world{}, err
		}
		w.wallets = append(w.wallets, k)
		allocs = append(allocs, cluster.Alloc{ID: k.ID(), Amount: alloc})
	}
	id, err := cluster.NewID(readerOf(r))
	if err != nil {
		return world{}, err
	}
	d, err := cluster.New(id, []identity.NodeID{w.witnesses[0].ID()}, 1, members)
	if err != nil {
		return world{}, err
	}
	d, err = d.WithEconomy(cluster.Economy{Witnesses: ws, TxFeeMin: 10, TxFeeMax: 30, HostReserveBP: cluster.DefaultHostReserveBP, Genesis: allocs})
	if err != nil {
		return world{}, err
	}
	for _, k := range w.witnesses {
		if d, err = d.Sign(k); err != nil {
			return world{}, err
		}
	}
	w.doc = d
	if w.com, err = CommitteeOf(d); err != nil {
		return world{}, err
	}
	return w, nil
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

// committeeNet is a world whose witnesses each run a Witness on their own
// SQLite file.
type committeeNet struct {
	world
	wits  []*Witness
	paths []string
}

func newCommitteeNet(t testing.TB, seed uint64, weights []uint64, validator Validator) committeeNet {
	t.Helper()
	n := committeeNet{world: newWorld(t, seed, weights, 3, 1000)}
	dir := t.TempDir()
	for i, k := range n.witnesses {
		path := filepath.Join(dir, "w"+string(rune('0'+i))+".db")
		n.paths = append(n.paths, path)
		n.wits = append(n.wits, openWitness(t, path, k, n.com, validator))
	}
	return n
}

// openWitness opens (or reopens, as after a restart) a witness on path.
func openWitness(t testing.TB, path string, k *identity.Keys, com Committee, validator Validator) *Witness {
	t.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	l, err := Open(ctx, db, com)
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWitness(l, k, com, validator)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// certify collects votes for tx from the witnesses in order until the
// weight is reached, and fails the test if it is not.
func (n committeeNet) certify(t testing.TB, tx Tx, credits []Certificate, wits ...*Witness) Certificate {
	t.Helper()
	c := Certificate{Tx: tx}
	var w uint64
	for _, wt := range wits {
		v, err := wt.Sign(context.Background(), tx, credits)
		if err != nil {
			t.Fatalf("witness %s: Sign: %v", wt.ID(), err)
		}
		c.Votes = append(c.Votes, v)
		w += n.com.Weights[wt.ID()]
		if n.com.Quorum(w) {
			return c
		}
	}
	t.Fatalf("weight %d of %d: not final", w, n.com.Total)
	return Certificate{}
}
