package ledger

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync/atomic"
	"testing"
)

// BenchmarkReceipts measures receipts signed and stored per second (SQLite,
// WAL, in a temporary directory) against its baseline in the same run, bare
// Ed25519 signatures over a message the size of a typical canonical
// receipt. "parallel" has 64 concurrent issuers per CPU, whose receipts
// the store group-commits; "serial" has one issuer, so one transaction per
// receipt.
func BenchmarkReceipts(b *testing.B) {
	b.Run("base=ed25519-sign", func(b *testing.B) {
		priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
		r := mustSign(b, testKeys(b, 1), sampleReceipt())
		msg, err := r.CanonicalBytes()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			ed25519.Sign(priv, msg)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "receipts/s")
	})
	b.Run("serial", func(b *testing.B) {
		ctx := context.Background()
		s := openTestStore(b)
		k := testKeys(b, 1)
		r := sampleReceipt()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			r.JobID = fmt.Sprintf("job-%d", i)
			if _, err := s.SignAndAppend(ctx, k, r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "receipts/s")
	})
	b.Run("parallel", func(b *testing.B) {
		ctx := context.Background()
		s := openTestStore(b)
		k := testKeys(b, 1)
		var job atomic.Int64
		b.ReportAllocs()
		b.SetParallelism(64)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			r := sampleReceipt()
			for pb.Next() {
				r.JobID = fmt.Sprintf("job-%d", job.Add(1))
				if _, err := s.SignAndAppend(ctx, k, r); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "receipts/s")
	})
}

// BenchmarkNewBatch1000 measures building a batch (leaves, tree, 1000
// proofs) of 1000 signed receipts.
func BenchmarkNewBatch1000(b *testing.B) {
	k := testKeys(b, 1)
	receipts := signedRun(b, k, 1, 1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewBatch(k.ID(), receipts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "receipts/s")
}

// BenchmarkVerifyBatch100 measures checking every signature and proof of a
// 100-receipt batch (100, not 1000, so -benchtime=2000x stays quick; the cost
// is linear in the receipts).
func BenchmarkVerifyBatch100(b *testing.B) {
	k := testKeys(b, 1)
	batch, err := NewBatch(k.ID(), signedRun(b, k, 1, 100))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := VerifyBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*100/b.Elapsed().Seconds(), "receipts/s")
}
