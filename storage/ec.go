package storage

import (
	"errors"
	"fmt"
	"math"

	"github.com/klauspost/reedsolomon"
)

// MaxShards is the largest n a Coder supports: Reed-Solomon over GF(2^8)
// has at most 256 distinct shards, and shard indexes go up to MaxIndex.
const MaxShards = 256

// Erasure coding errors callers act on.
var (
	// ErrParams: k, n, the shard size or the shard slice do not fit the code.
	ErrParams = errors.New("invalid erasure coding parameters")
	// ErrTooFewShards: fewer than k intact shards remain, so the data cannot
	// be reconstructed.
	ErrTooFewShards = errors.New("too few shards to reconstruct")
)

// Coder erasure-codes stripes into n shards of which any k rebuild the
// data. A replicating Coder (k = 1) stores n identical copies and does no
// Reed-Solomon arithmetic. A Coder is safe for concurrent use; its methods
// may run Reed-Solomon work on several goroutines, which they wait for
// before returning.
type Coder struct {
	k, n       int
	replicated bool
	// rs is nil when k == 1: a one-data-shard Reed-Solomon code is a
	// replication code (every parity row of the systematic matrix is 1), so
	// copying gives the same shards faster.
	rs reedsolomon.Encoder
}

// NewCoder returns a Reed-Solomon Coder with k data shards and n-k parity
// shards, 1 <= k <= n <= MaxShards. k == n is allowed and adds no parity.
func NewCoder(k, n int) (*Coder, error) {
	if err := checkKN(k, n); err != nil {
		return nil, err
	}
	c := &Coder{k: k, n: n}
	if k > 1 {
		rs, err := reedsolomon.New(k, n-k)
		if err != nil {
			return nil, fmt.Errorf("%w: reed-solomon %d/%d: %v", ErrParams, k, n, err)
		}
		c.rs = rs
	}
	return c, nil
}

// NewReplicator returns a Coder that stores r identical copies of the data
// (k = 1, n = r), 1 <= r <= MaxShards.
func NewReplicator(r int) (*Coder, error) {
	if r < 1 || r > MaxShards {
		return nil, fmt.Errorf("%w: replica count (%d) must be between 1 and %d", ErrParams, r, MaxShards)
	}
	return &Coder{k: 1, n: r, replicated: true}, nil
}

func checkKN(k, n int) error {
	switch {
	case k < 1:
		return fmt.Errorf("%w: k (%d) must be at least 1", ErrParams, k)
	case n > MaxShards:
		return fmt.Errorf("%w: n (%d) must not exceed %d", ErrParams, n, MaxShards)
	case k > n:
		return fmt.Errorf("%w: k (%d) must not exceed n (%d)", ErrParams, k, n)
	}
	return nil
}

// K returns the number of data shards, the number any reconstruction needs.
func (c *Coder) K() int { return c.k }

// N returns the total number of shards.
func (c *Coder) N() int { return c.n }

// Replicated reports whether the Coder was made by NewReplicator. Its shards
// are plain copies of the data. (A NewCoder(1, n) Coder yields the same
// shards, but reports false.)
func (c *Coder) Replicated() bool { return c.replicated }

// checkShardSize checks that a stripe of n shards of shardSize bytes can be
// held in memory as one buffer, also on 32-bit platforms.
func (c *Coder) checkShardSize(shardSize int) error {
	if shardSize < 1 {
		return fmt.Errorf("%w: shard size (%d) must be at least 1", ErrParams, shardSize)
	}
	if shardSize > math.MaxInt/c.n {
		return fmt.Errorf("%w: %d shards of %d bytes do not fit in memory", ErrParams, c.n, shardSize)
	}
	return nil
}

// Encode codes data (len <= K()*shardSize; zero-padded) into N() shards of
// shardSize bytes. The first K() shards hold the data itself. The returned
// shards alias one freshly allocated buffer of N()*shardSize bytes, each
// capped at its own length so an append never runs into its neighbour.
func (c *Coder) Encode(data []byte, shardSize int) ([][]byte, error) {
	shards, _, err := c.EncodeInto(nil, data, shardSize)
	return shards, err
}

// EncodeInto is Encode into buf, reused when it is large enough, so a
// stream of stripes needs no allocation per stripe. It returns the shards
// and the buffer they live in, for the next call.
func (c *Coder) EncodeInto(buf, data []byte, shardSize int) ([][]byte, []byte, error) {
	if err := c.checkShardSize(shardSize); err != nil {
		return nil, buf, err
	}
	if len(data) > c.k*shardSize {
		return nil, buf, fmt.Errorf("%w: %d bytes of data exceed k*shard size (%d*%d)", ErrParams, len(data), c.k, shardSize)
	}
	size := c.n * shardSize
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	copy(buf, data)
	clear(buf[len(data) : c.k*shardSize])
	shards := splitShards(buf, c.n, shardSize)
	if err := c.encodeShards(shards); err != nil {
		return nil, buf, err
	}
	return shards, buf, nil
}

// EncodeBuffer codes in place: buf holds dataLen bytes of data at its start
// and is at least N()*shardSize long; the rest of the first K()*shardSize
// bytes is zeroed and the parity written after them. No copy is made, so a
// stripe can be read and sealed straight into the buffer it is coded in.
func (c *Coder) EncodeBuffer(buf []byte, dataLen, shardSize int) ([][]byte, error) {
	if err := c.checkShardSize(shardSize); err != nil {
		return nil, err
	}
	if dataLen < 0 || dataLen > c.k*shardSize || len(buf) < c.n*shardSize {
		return nil, fmt.Errorf("%w: %d bytes of data in a %d-byte buffer do not fit %d shards of %d", ErrParams, dataLen, len(buf), c.n, shardSize)
	}
	clear(buf[dataLen : c.k*shardSize])
	shards := splitShards(buf[:c.n*shardSize], c.n, shardSize)
	if err := c.encodeShards(shards); err != nil {
		return nil, err
	}
	return shards, nil
}

func splitShards(buf []byte, n, shardSize int) [][]byte {
	shards := make([][]byte, n)
	for i := range shards {
		shards[i] = buf[i*shardSize : (i+1)*shardSize : (i+1)*shardSize]
	}
	return shards
}

// encodeShards computes the parity (or copies) in place from the filled
// data shards.
func (c *Coder) encodeShards(shards [][]byte) error {
	if c.rs == nil {
		for _, s := range shards[1:] {
			copy(s, shards[0])
		}
		return nil
	}
	if err := c.rs.Encode(shards); err != nil {
		return fmt.Errorf("reed-solomon encode: %w", err)
	}
	return nil
}

// checkPresent validates the shape of shards for Reconstruct and returns the
// number of present (non-empty) shards.
func (c *Coder) checkPresent(shards [][]byte) (present int, err error) {
	if len(shards) != c.n {
		return 0, fmt.Errorf("%w: got %d shards, want n (%d)", ErrParams, len(shards), c.n)
	}
	size := 0
	for i, s := range shards {
		if len(s) == 0 {
			continue
		}
		if size == 0 {
			size = len(s)
		} else if len(s) != size {
			return 0, fmt.Errorf("%w: shard %d is %d bytes, shard sizes must all be %d", ErrParams, i, len(s), size)
		}
		present++
	}
	if present < c.k {
		return present, fmt.Errorf("%w: %d of %d shards present, need %d", ErrTooFewShards, present, c.n, c.k)
	}
	return present, nil
}

// Reconstruct fills the missing entries of shards in place. shards has N()
// entries; a missing one is nil or empty (an empty slice with capacity of at
// least the shard size is reused instead of allocating), and the present
// ones are all the same length. It needs at least K() present, else it
// returns ErrTooFewShards saying how many are present and needed.
//
// Reed-Solomon cannot tell a corrupt shard from a good one: check each
// shard's hash before passing it in.
func (c *Coder) Reconstruct(shards [][]byte) error {
	present, err := c.checkPresent(shards)
	if err != nil {
		return err
	}
	if present == c.n {
		return nil
	}
	if c.rs == nil {
		fillCopies(shards, len(shards))
		return nil
	}
	if err := c.rs.Reconstruct(shards); err != nil {
		return fmt.Errorf("reed-solomon reconstruct: %w", err)
	}
	return nil
}

// reconstructData is Reconstruct for the data shards only (parity shards
// that are missing stay missing). Decoding needs nothing more.
// ReconstructData is Reconstruct for the data shards only: what a read
// needs, without the cost of rebuilding parity.
func (c *Coder) ReconstructData(shards [][]byte) error { return c.reconstructData(shards) }

func (c *Coder) reconstructData(shards [][]byte) error {
	if _, err := c.checkPresent(shards); err != nil {
		return err
	}
	if c.rs == nil {
		fillCopies(shards, 1)
		return nil
	}
	if err := c.rs.ReconstructData(shards); err != nil {
		return fmt.Errorf("reed-solomon reconstruct: %w", err)
	}
	return nil
}

// fillCopies fills the missing ones among the first m shards of a
// replication code with copies of a present shard.
func fillCopies(shards [][]byte, m int) {
	var src []byte
	for _, s := range shards {
		if len(s) > 0 {
			src = s
			break
		}
	}
	for i, s := range shards[:m] {
		if len(s) == 0 {
			shards[i] = append(s[:0], src...)
		}
	}
}

// Data returns the first size bytes of the data the shards hold (after
// Reconstruct), 0 <= size <= K()*shardSize. Only the data shards that size
// reaches must be present. When size fits in the first shard, the result
// aliases it; otherwise it is a new slice holding exactly size bytes.
func (c *Coder) Data(shards [][]byte, size int) ([]byte, error) {
	return c.DataInto(nil, shards, size)
}

// DataInto is Data that appends the bytes to dst[:0] when they span
// several shards, so a stream of stripes can reuse one buffer. Shards that
// already sit at their place in dst (data shard i at i*shardSize) are not
// copied.
func (c *Coder) DataInto(dst []byte, shards [][]byte, size int) ([]byte, error) {
	if len(shards) < c.k {
		return nil, fmt.Errorf("%w: got %d shards, want at least k (%d)", ErrParams, len(shards), c.k)
	}
	if size < 0 {
		return nil, fmt.Errorf("%w: negative size (%d)", ErrParams, size)
	}
	if size == 0 {
		return []byte{}, nil
	}
	shardSize := len(shards[0])
	if shardSize == 0 {
		return nil, fmt.Errorf("%w: data shard 0 is missing; reconstruct first", ErrTooFewShards)
	}
	if size > c.k*shardSize {
		return nil, fmt.Errorf("%w: size (%d) exceeds k*shard size (%d*%d)", ErrParams, size, c.k, shardSize)
	}
	if size <= shardSize {
		return shards[0][:size:size], nil
	}
	out := dst[:0]
	if cap(out) < size {
		out = make([]byte, 0, size)
	}
	for i := 0; len(out) < size; i++ {
		s := shards[i]
		if len(s) == 0 {
			return nil, fmt.Errorf("%w: data shard %d is missing; reconstruct first", ErrTooFewShards, i)
		}
		if len(s) != shardSize {
			return nil, fmt.Errorf("%w: shard %d is %d bytes, shard sizes must all be %d", ErrParams, i, len(s), shardSize)
		}
		n := min(shardSize, size-len(out))
		// A shard read straight into its place in dst (Fetcher) is
		// there already.
		if end := len(out) + n; &out[:end][len(out)] == &s[0] {
			out = out[:end]
			continue
		}
		out = append(out, s[:n]...)
	}
	return out, nil
}
