package economy

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/ledger"
)

// BenchmarkSettleReceipts compares, in one run, receipts signed per second
// (the host signs, the consumer accepts: two Ed25519 signs, two verifies)
// with receipts settled per second: 1000 accepted receipts of 4 hosts are
// verified into the owed table, paid in batched transactions, co-signed by
// 4 witnesses (each checking the paid-receipt index) and applied.
func BenchmarkSettleReceipts(b *testing.B) {
	ctx := context.Background()
	w := newWorld(b, 11, []uint64{1, 1, 1, 1}, 1, 1<<50)
	consumer := w.wallets[0]
	var hosts []*identity.Keys
	for _, seed := range []byte{0x11, 0x22, 0x33, 0x44} {
		hosts = append(hosts, hostKeys(b, seed))
	}
	seq := uint64(0)
	makeReceipts := func(n int) []ledger.Receipt {
		rs := make([]ledger.Receipt, n)
		for i := range rs {
			seq++
			rs[i] = accepted(b, hosts[i%len(hosts)], consumer, seq, 1_000_000, 1_000)
		}
		return rs
	}
	b.Run("sign", func(b *testing.B) {
		for b.Loop() {
			makeReceipts(1)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "receipts/s")
	})
	b.Run("settle", func(b *testing.B) {
		const batch = 1000
		ws := newWitnessSet(b, w)
		cn := openSettleNode(b, filepath.Join(b.TempDir(), "consumer.db"), w.com, consumer)
		var prev []Certificate
		for b.Loop() {
			b.StopTimer()
			rs := makeReceipts(batch)
			b.StartTimer()
			if _, err := cn.settler.AddOwed(ctx, rs); err != nil {
				b.Fatal(err)
			}
			s, err := cn.settler.Settle(ctx, w.com, cn.funds(b, consumer), batch, nil)
			if err != nil {
				b.Fatal(err)
			}
			for _, tx := range s.Pending {
				c, err := ws.certify(b, w.com, tx, prev)
				if err != nil {
					b.Fatal(err)
				}
				prev = []Certificate{c}
				if _, err := cn.ledger.Apply(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := cn.settler.Finalize(ctx, cn.ledger); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "receipts/s")
	})
}
