package storage

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/reedsolomon"
)

// testBytes returns n deterministic pseudo-random bytes.
func testBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// equalShards is a fast equality check; cmp.Diff walks every byte by
// reflection and is kept for reporting a mismatch.
func equalShards(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// copyShards deep-copies shards so a test can erase some and compare.
func copyShards(shards [][]byte) [][]byte {
	out := make([][]byte, len(shards))
	for i, s := range shards {
		out[i] = bytes.Clone(s)
	}
	return out
}

func TestCoderRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct{ k, n, shardSize, size int }{
		{1, 1, 64, 64},
		{1, 5, 100, 37},
		{2, 3, 1, 2},
		{4, 6, 1000, 3999},
		{10, 10, 512, 5000}, // k == n: no parity
		{12, 20, 4096, 12*4096 - 16},
		{12, 20, 4096, 1},
		{12, 20, 4096, 0},
		{17, 255, 64, 17 * 64},
		{200, 256, 64, 200*64 - 3},
		{256, 256, 8, 2048},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_of_%d_size_%d", tt.k, tt.n, tt.size), func(t *testing.T) {
			t.Parallel()
			c, err := NewCoder(tt.k, tt.n)
			if err != nil {
				t.Fatalf("NewCoder(%d, %d) = %v", tt.k, tt.n, err)
			}
			if c.K() != tt.k || c.N() != tt.n || c.Replicated() {
				t.Fatalf("NewCoder(%d, %d): K, N, Replicated = %d, %d, %v", tt.k, tt.n, c.K(), c.N(), c.Replicated())
			}
			data := testBytes(uint64(tt.k*1000+tt.n), tt.size)
			shards, err := c.Encode(data, tt.shardSize)
			if err != nil {
				t.Fatalf("Encode(%d bytes, %d) = %v", len(data), tt.shardSize, err)
			}
			if len(shards) != tt.n {
				t.Fatalf("Encode returned %d shards, want %d", len(shards), tt.n)
			}
			for i, s := range shards {
				if len(s) != tt.shardSize {
					t.Fatalf("shard %d is %d bytes, want %d", i, len(s), tt.shardSize)
				}
			}
			// Erase up to n-k shards, parity last so data shards are rebuilt too.
			erased := copyShards(shards)
			for i := 0; i < tt.n-tt.k; i++ {
				erased[(i*7)%tt.n] = nil
			}
			if err := c.Reconstruct(erased); err != nil {
				t.Fatalf("Reconstruct() = %v", err)
			}
			if !equalShards(shards, erased) {
				t.Errorf("Reconstruct() mismatch (-want +got):\n%s", cmp.Diff(shards, erased))
			}
			got, err := c.Data(erased, tt.size)
			if err != nil {
				t.Fatalf("Data(%d) = %v", tt.size, err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("Data(%d) differs from the encoded data", tt.size)
			}
			// The padding is zero.
			all, err := c.Data(shards, tt.k*tt.shardSize)
			if err != nil {
				t.Fatalf("Data(all) = %v", err)
			}
			if !bytes.Equal(all[tt.size:], make([]byte, len(all)-tt.size)) {
				t.Errorf("Encode padding is not zero")
			}
		})
	}
}

// TestCoderEveryErasure erases every combination of up to n-k shards of a 4/6
// code.
func TestCoderEveryErasure(t *testing.T) {
	t.Parallel()
	const k, n, shardSize = 4, 6, 33
	c, err := NewCoder(k, n)
	if err != nil {
		t.Fatal(err)
	}
	data := testBytes(46, k*shardSize-5)
	shards, err := c.Encode(data, shardSize)
	if err != nil {
		t.Fatal(err)
	}
	combos := 0
	for mask := 0; mask < 1<<n; mask++ {
		erased := copyShards(shards)
		missing := 0
		for i := range n {
			if mask&(1<<i) != 0 {
				erased[i] = nil
				missing++
			}
		}
		err := c.Reconstruct(erased)
		if missing > n-k {
			if !errors.Is(err, ErrTooFewShards) {
				t.Errorf("Reconstruct(erased %06b) = %v, want ErrTooFewShards", mask, err)
			}
			continue
		}
		combos++
		if err != nil {
			t.Fatalf("Reconstruct(erased %06b) = %v", mask, err)
		}
		if !equalShards(shards, erased) {
			t.Fatalf("Reconstruct(erased %06b) mismatch (-want +got):\n%s", mask, cmp.Diff(shards, erased))
		}
		got, err := c.Data(erased, len(data))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("Data(erased %06b) = %x, %v; want the original data", mask, got, err)
		}
	}
	if combos != 1+6+15 {
		t.Errorf("tested %d erasure patterns, want 22", combos)
	}
}

func TestCoderRandomErasures12of20(t *testing.T) {
	t.Parallel()
	const k, n, shardSize = 12, 20, 1024
	c, err := NewCoder(k, n)
	if err != nil {
		t.Fatal(err)
	}
	data := testBytes(1220, k*shardSize-100)
	shards, err := c.Encode(data, shardSize)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	for trial := range 200 {
		erased := copyShards(shards)
		missing := r.IntN(n - k + 1)
		for _, i := range r.Perm(n)[:missing] {
			if trial%2 == 0 {
				erased[i] = nil
			} else {
				erased[i] = erased[i][:0] // empty with capacity: reused
			}
		}
		if err := c.Reconstruct(erased); err != nil {
			t.Fatalf("trial %d: Reconstruct(%d missing) = %v", trial, missing, err)
		}
		if !equalShards(shards, erased) {
			t.Fatalf("trial %d: Reconstruct(%d missing) mismatch (-want +got):\n%s", trial, missing, cmp.Diff(shards, erased))
		}
	}
}

func TestCoderTooFewShards(t *testing.T) {
	t.Parallel()
	for _, mk := range []func() (*Coder, error){
		func() (*Coder, error) { return NewCoder(12, 20) },
		func() (*Coder, error) { return NewCoder(3, 3) },
		func() (*Coder, error) { return NewReplicator(3) },
	} {
		c, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		shards, err := c.Encode([]byte("hello"), 16)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.N() - c.K() + 1 {
			shards[i] = nil
		}
		err = c.Reconstruct(shards)
		if !errors.Is(err, ErrTooFewShards) {
			t.Fatalf("Reconstruct(%d of %d present) = %v, want ErrTooFewShards", c.K()-1, c.N(), err)
		}
		want := fmt.Sprintf("too few shards to reconstruct: %d of %d shards present, need %d", c.K()-1, c.N(), c.K())
		if err.Error() != want {
			t.Errorf("Reconstruct() error = %q, want %q", err, want)
		}
		if _, err := c.Data(shards, 5); !errors.Is(err, ErrTooFewShards) {
			t.Errorf("Data(missing data shard) = %v, want ErrTooFewShards", err)
		}
	}
}

func TestCoderParams(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		k, n    int
		wantMsg string
	}{
		{"k zero", 0, 4, "invalid erasure coding parameters: k (0) must be at least 1"},
		{"k negative", -1, 4, "invalid erasure coding parameters: k (-1) must be at least 1"},
		{"n negative", 1, -1, "invalid erasure coding parameters: k (1) must not exceed n (-1)"},
		{"k above n", 13, 12, "invalid erasure coding parameters: k (13) must not exceed n (12)"},
		{"n above 256", 12, 257, "invalid erasure coding parameters: n (257) must not exceed 256"},
		{"both zero", 0, 0, "invalid erasure coding parameters: k (0) must be at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := NewCoder(tt.k, tt.n)
			if !errors.Is(err, ErrParams) || c != nil {
				t.Fatalf("NewCoder(%d, %d) = %v, %v, want ErrParams", tt.k, tt.n, c, err)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("NewCoder(%d, %d) error = %q, want %q", tt.k, tt.n, err, tt.wantMsg)
			}
		})
	}
	for _, r := range []int{0, -3, 257} {
		if _, err := NewReplicator(r); !errors.Is(err, ErrParams) {
			t.Errorf("NewReplicator(%d) = %v, want ErrParams", r, err)
		}
	}

	c, err := NewCoder(4, 6)
	if err != nil {
		t.Fatal(err)
	}
	encodeTests := []struct {
		name      string
		size      int
		shardSize int
	}{
		{"shard size zero", 0, 0},
		{"shard size negative", 0, -1},
		{"data too long", 4*8 + 1, 8},
		{"shard size overflows", 0, int(^uint(0) >> 3)},
	}
	for _, tt := range encodeTests {
		if _, err := c.Encode(make([]byte, tt.size), tt.shardSize); !errors.Is(err, ErrParams) {
			t.Errorf("%s: Encode(%d bytes, %d) = %v, want ErrParams", tt.name, tt.size, tt.shardSize, err)
		}
	}
	shards, err := c.Encode([]byte("abc"), 8)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Reconstruct(shards[:5]); !errors.Is(err, ErrParams) {
		t.Errorf("Reconstruct(5 of 6 entries) = %v, want ErrParams", err)
	}
	uneven := copyShards(shards)
	uneven[1] = uneven[1][:7]
	if err := c.Reconstruct(uneven); !errors.Is(err, ErrParams) {
		t.Errorf("Reconstruct(uneven shards) = %v, want ErrParams", err)
	}
	for _, size := range []int{-1, 4*8 + 1} {
		if _, err := c.Data(shards, size); !errors.Is(err, ErrParams) {
			t.Errorf("Data(%d) = %v, want ErrParams", size, err)
		}
	}
}

func TestReplicator(t *testing.T) {
	t.Parallel()
	c, err := NewReplicator(5)
	if err != nil {
		t.Fatal(err)
	}
	if c.K() != 1 || c.N() != 5 || !c.Replicated() {
		t.Fatalf("NewReplicator(5): K, N, Replicated = %d, %d, %v, want 1, 5, true", c.K(), c.N(), c.Replicated())
	}
	data := []byte("replicate me")
	shards, err := c.Encode(data, 16)
	if err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(data), make([]byte, 4)...)
	for i, s := range shards {
		if !bytes.Equal(s, want) {
			t.Errorf("shard %d = %q, want %q", i, s, want)
		}
	}
	shards[0], shards[2], shards[3] = nil, nil, []byte{}
	if err := c.Reconstruct(shards); err != nil {
		t.Fatal(err)
	}
	for i, s := range shards {
		if !bytes.Equal(s, want) {
			t.Errorf("after Reconstruct shard %d = %q, want %q", i, s, want)
		}
	}
	got, err := c.Data(shards, len(data))
	if err != nil || !bytes.Equal(got, data) {
		t.Errorf("Data() = %q, %v, want %q", got, err, data)
	}
}

// TestCoderK1IsReplication checks the shortcut that a k = 1 Coder copies:
// reedsolomon's own 1/n code produces the same shards.
func TestCoderK1IsReplication(t *testing.T) {
	t.Parallel()
	data := testBytes(1, 100)
	for _, n := range []int{2, 5, 20, 256} {
		rs, err := reedsolomon.New(1, n-1)
		if err != nil {
			t.Fatal(err)
		}
		want := make([][]byte, n)
		want[0] = bytes.Clone(data)
		for i := 1; i < n; i++ {
			want[i] = make([]byte, len(data))
		}
		if err := rs.Encode(want); err != nil {
			t.Fatal(err)
		}
		c, err := NewCoder(1, n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := c.Encode(data, len(data))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("NewCoder(1, %d).Encode differs from reedsolomon 1/%d (-want +got):\n%s", n, n, diff)
		}
	}
}

// TestCoderDataAliasing checks that Data copies only when it must, and that
// Encode's shards do not share capacity.
func TestCoderDataAliasing(t *testing.T) {
	t.Parallel()
	c, err := NewCoder(3, 5)
	if err != nil {
		t.Fatal(err)
	}
	shards, err := c.Encode([]byte("0123456789abcdef0123"), 8)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range shards {
		if cap(s) != 8 {
			t.Errorf("cap(shard %d) = %d, want 8", i, cap(s))
		}
	}
	small, err := c.Data(shards, 5)
	if err != nil {
		t.Fatal(err)
	}
	if &small[0] != &shards[0][0] {
		t.Errorf("Data(5) copied; want it to alias shard 0")
	}
	big, err := c.Data(shards, 20)
	if err != nil {
		t.Fatal(err)
	}
	if string(big) != "0123456789abcdef0123" || cap(big) != 20 {
		t.Errorf("Data(20) = %q (cap %d), want %q (cap 20)", big, cap(big), "0123456789abcdef0123")
	}
	// Only the data shards that size reaches must be present.
	shards[2] = nil
	if got, err := c.Data(shards, 16); err != nil || string(got) != "0123456789abcdef" {
		t.Errorf("Data(16) without shard 2 = %q, %v", got, err)
	}
}

// TestDataIntoShardsInPlace: data shards that already sit at their place in
// dst (as the Fetcher reads them) are taken where they are, the others are
// copied in, and the bytes come out the same either way.
func TestDataIntoShardsInPlace(t *testing.T) {
	const k, n, shardSize = 4, 6, 64
	c, err := NewCoder(k, n)
	if err != nil {
		t.Fatal(err)
	}
	data := testBytes(9, k*shardSize-10)
	shards, err := c.Encode(data, shardSize)
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.Data(shards, len(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, inPlace := range [][]int{nil, {0}, {1, 3}, {0, 1, 2, 3}} {
		dst := make([]byte, k*shardSize)
		mixed := make([][]byte, n)
		copy(mixed, shards)
		for _, i := range inPlace {
			mixed[i] = dst[i*shardSize : (i+1)*shardSize]
			copy(mixed[i], shards[i])
		}
		got, err := c.DataInto(dst, mixed, len(data))
		if err != nil {
			t.Fatalf("in place %v: %v", inPlace, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("in place %v: DataInto gave other bytes than Data", inPlace)
		}
		if &got[0] != &dst[0] {
			t.Errorf("in place %v: the result is not in dst", inPlace)
		}
	}
}
