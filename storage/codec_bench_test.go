package storage

import (
	"crypto/rand"
	"testing"

	"github.com/zeebo/blake3"
)

// BenchmarkSeal1MiB seals one 1 MiB segment with XChaCha20-Poly1305 on one
// goroutine.
func BenchmarkSeal1MiB(b *testing.B) {
	key, prefix, err := NewAssetKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewSegmentCipher(key, prefix, "bench")
	if err != nil {
		b.Fatal(err)
	}
	plain := testBytes(1, 1<<20)
	dst := make([]byte, 0, len(plain)+SegmentOverhead)
	b.SetBytes(int64(len(plain)))
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		dst = c.Seal(dst[:0], plain, i, false)
		i++
	}
}

// BenchmarkOpen1MiB opens one sealed 1 MiB segment.
func BenchmarkOpen1MiB(b *testing.B) {
	key, prefix, err := NewAssetKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	c, err := NewSegmentCipher(key, prefix, "bench")
	if err != nil {
		b.Fatal(err)
	}
	sealed := c.Seal(nil, testBytes(1, 1<<20), 7, true)
	dst := make([]byte, 0, len(sealed))
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		if dst, err = c.Open(dst[:0], sealed, 7, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncode12of20 codes a 12 MiB stripe into 20 shards of 1 MiB.
// "alloc" is the public Encode, which allocates the 20 MiB of shards each
// call; "reuse" codes into one buffer, as EncodeFile does.
func BenchmarkEncode12of20(b *testing.B) {
	const k, n, shardSize = 12, 20, 1 << 20
	c, err := NewCoder(k, n)
	if err != nil {
		b.Fatal(err)
	}
	data := testBytes(2, k*shardSize)
	b.Run("alloc", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Encode(data, shardSize); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("reuse", func(b *testing.B) {
		buf := make([]byte, n*shardSize)
		copy(buf, data)
		shards := splitShards(buf, n, shardSize)
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if err := c.encodeShards(shards); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReconstruct12of20 rebuilds 8 missing data shards of 1 MiB from
// the 4 remaining data shards and 8 parity shards. The missing shards are
// passed as empty slices with capacity, so their memory is reused.
func BenchmarkReconstruct12of20(b *testing.B) {
	const k, n, shardSize = 12, 20, 1 << 20
	c, err := NewCoder(k, n)
	if err != nil {
		b.Fatal(err)
	}
	shards, err := c.Encode(testBytes(3, k*shardSize), shardSize)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(k * shardSize)
	b.ReportAllocs()
	for b.Loop() {
		for i := range 8 {
			shards[i] = shards[i][:0]
		}
		if err := c.Reconstruct(shards); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBlake3 hashes 1 MiB with BLAKE3-256: the baseline for shard and
// file hashes.
func BenchmarkBlake3(b *testing.B) {
	data := testBytes(4, 1<<20)
	h := blake3.New()
	sum := make([]byte, 0, 32)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		h.Reset()
		h.Write(data)
		sum = h.Sum(sum[:0])
	}
}
