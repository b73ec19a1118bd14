package economy

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
)

// benchBatch is how many transfers (from as many wallets) go through the
// witnesses before their certificates are applied, in one SQLite
// transaction per ledger: what a node's finalizer does with the
// certificates it collects.
const benchBatch = 64

// BenchmarkFinalTransfers measures transfers made final per second in one
// process: each transfer is signed by its wallet, voted for by the
// smallest quorum of equal-weight witnesses (each on its own SQLite file
// on disk), and its certificate verified and applied by every witness's
// ledger. The bound sub-benchmarks run, in the same process, only the
// Ed25519 operations one transfer needs (1 + q signs, q + n(q+1)
// verifies, base=ed25519-bound): transfers/s of the two are to be
// compared (make bench prints their ratio).
func BenchmarkFinalTransfers(b *testing.B) {
	for _, n := range []int{4, 7} {
		b.Run(fmt.Sprintf("witnesses=%d", n), func(b *testing.B) {
			b.Run("final", func(b *testing.B) { benchTransfers(b, n) })
			b.Run("base=ed25519-bound", func(b *testing.B) { benchBound(b, n) })
		})
	}
}

// quorumOf is the number of equal-weight witnesses of n that is more than 2/3.
func quorumOf(n int) int { return 2*n/3 + 1 }

func benchTransfers(b *testing.B, n int) {
	ctx := context.Background()
	weights := make([]uint64, n)
	for i := range weights {
		weights[i] = 1
	}
	w := newWorld(b, 42, weights, benchBatch, 1_000_000_000)
	dir := b.TempDir()
	var wits []*Witness
	var ledgers []*Ledger
	for i, k := range w.witnesses {
		db, err := sqlitedb.Open(ctx, filepath.Join(dir, fmt.Sprintf("w%d.db", i)))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		l, err := Open(ctx, db, w.com)
		if err != nil {
			b.Fatal(err)
		}
		wt, err := NewWitness(l, k, w.com, nil)
		if err != nil {
			b.Fatal(err)
		}
		wits, ledgers = append(wits, wt), append(ledgers, l)
	}
	q := quorumOf(n)
	nonce := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		nonce++
		certs := make([]Certificate, 0, benchBatch)
		for i, from := range w.wallets {
			to := w.wallets[(i+1)%len(w.wallets)]
			tx, err := SignTx(Tx{Cluster: w.com.Cluster, Epoch: w.com.Epoch, Src: string(from.ID()), Dst: string(to.ID()),
				Amount: 1, Fee: w.com.Fee(), Nonce: nonce, Kind: KindTransfer}, from)
			if err != nil {
				b.Fatal(err)
			}
			c := Certificate{Tx: tx}
			for _, wt := range wits[:q] {
				v, err := wt.Sign(ctx, tx, nil)
				if err != nil {
					b.Fatal(err)
				}
				c.Votes = append(c.Votes, v)
			}
			certs = append(certs, c)
		}
		for _, l := range ledgers {
			res, err := l.ApplyAll(ctx, certs)
			if err != nil {
				b.Fatal(err)
			}
			for _, ok := range res {
				if !ok {
					b.Fatal("a certificate was not applied")
				}
			}
		}
	}
	b.ReportMetric(float64(b.N)*benchBatch/b.Elapsed().Seconds(), "transfers/s")
}

// benchBound does the Ed25519 work of one transfer per iteration.
func benchBound(b *testing.B, n int) {
	w := newWorld(b, 43, []uint64{1}, 1, 1)
	k := w.witnesses[0]
	pub := k.SignPublic()
	msg := make([]byte, 160)
	q := quorumOf(n)
	sig := k.Sign(TxDomain, msg)
	full := append([]byte(TxDomain+"\x00"), msg...)
	for b.Loop() {
		for range 1 + q {
			sig = k.Sign(TxDomain, msg)
		}
		for range q + n*(q+1) {
			if !ed25519.Verify(pub, full, sig) {
				b.Fatal("verify failed")
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
}
