package ledger

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"testing"
)

// BenchmarkSignAndAppend measures receipts signed and stored per second: one
// write transaction each, SQLite (WAL) in a temporary directory.
func BenchmarkSignAndAppend(b *testing.B) {
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

// BenchmarkEd25519SignRaw is the baseline: one bare Ed25519 signature over a
// message the size of a typical canonical receipt.
func BenchmarkEd25519SignRaw(b *testing.B) {
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
}
