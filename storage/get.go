package storage

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/zeebo/blake3"
)

// Fetcher reads shards back from hosts and restores stripes.
type Fetcher struct {
	Transport Transport
	Config    TransferConfig
	// OnCorrupt, if set, is called (from any goroutine) for each shard whose
	// bytes do not match its recorded hash. It must not block.
	OnCorrupt func(addr ShardAddr, host Candidate)
}

type fetched struct {
	idx  int
	data []byte
	err  error
	rec  ShardRecord
}

// FetchStripe fetches enough shards of one stripe to restore it (data
// shards first, so usually no decoding is needed), verifying each against
// its recorded hash, and returns all n shards with the missing ones
// reconstructed when full is true, or at least the data shards otherwise.
// It fails with ErrTooFewShards, saying how many shards it got and why the
// others failed, when fewer than k shards can be fetched.
func (f *Fetcher) FetchStripe(ctx context.Context, m Manifest, stripe int, recs []ShardRecord, full bool) ([][]byte, error) {
	cfg := f.Config.withDefaults()
	coder, err := coderFor(m)
	if err != nil {
		return nil, err
	}
	var cands []ShardRecord
	for _, r := range recs {
		if r.Stripe == stripe && r.Live {
			cands = append(cands, r)
		}
	}
	// Data shards first: with them no decoding is needed.
	slices.SortStableFunc(cands, func(a, b ShardRecord) int { return a.Index - b.Index })
	need := m.K
	shards := make([][]byte, m.N)
	results := make(chan fetched)
	next, inflight, got := 0, 0, 0
	var failures []string
	launch := func() {
		rec := cands[next]
		next++
		inflight++
		go func() {
			addr := ShardAddr{AssetID: m.AssetID, Stripe: stripe, Index: rec.Index}
			host := Candidate{ID: rec.HostID, Endpoint: rec.Endpoint, Weight: 1}
			var data []byte
			err := retry(ctx, cfg, func() error {
				var err error
				data, err = f.Transport.GetShard(ctx, host, addr, m.ShardSize)
				return err
			})
			if err == nil {
				sum := blake3.Sum256(data)
				if hex.EncodeToString(sum[:]) != rec.Hash || len(data) != m.ShardSize {
					if f.OnCorrupt != nil {
						f.OnCorrupt(addr, host)
					}
					err = fmt.Errorf("%w from %s", ErrHashMismatch, rec.Endpoint)
				}
			}
			results <- fetched{idx: rec.Index, data: data, err: err, rec: rec}
		}()
	}
	fill := func() {
		for got+inflight < need && next < len(cands) && inflight < cfg.Window {
			launch()
		}
	}
	fill()
	for inflight > 0 {
		res := <-results
		inflight--
		if res.err == nil {
			shards[res.idx] = res.data
			got++
		} else {
			failures = append(failures, fmt.Sprintf("shard %d: %v", res.idx, res.err))
		}
		if ctx.Err() == nil {
			fill()
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if got < need {
		msg := fmt.Sprintf("stripe %d: got %d of the %d shards it needs (%d recorded live of %d)", stripe, got, need, len(cands), m.N)
		if len(failures) > 0 {
			msg += "; " + summarize(failures, 4)
		}
		return nil, fmt.Errorf("%w: %s", ErrTooFewShards, msg)
	}
	needsDecode := full
	for i := range min(m.K, len(shards)) {
		if shards[i] == nil {
			needsDecode = true
		}
	}
	if needsDecode {
		if err := coder.Reconstruct(shards); err != nil {
			return nil, fmt.Errorf("restore stripe %d: %w", stripe, err)
		}
	}
	return shards, nil
}

func summarize(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:max], "; ") + fmt.Sprintf("; and %d more", len(items)-max)
}

// Reader streams a stored file's plaintext, fetching and decrypting one
// stripe at a time, so memory stays bounded whatever the file size. It
// checks the whole file's hash at the end.
type Reader struct {
	ctx     context.Context
	f       *Fetcher
	m       Manifest
	recs    []ShardRecord
	coder   *Coder
	cipher  *SegmentCipher
	next    int // next stripe to fetch
	buf     []byte
	plain   []byte
	hasher  *blake3.Hasher
	err     error
	segSize int
}

// Open returns a Reader for the asset. It fetches the first stripe before
// returning, so an unavailable file is reported here, before any byte is
// delivered.
func (f *Fetcher) Open(ctx context.Context, m Manifest, recs []ShardRecord, key AssetKey, prefix NoncePrefix) (*Reader, error) {
	if m.Stripes < 1 || m.Size < 0 {
		return nil, fmt.Errorf("%w: asset %s was never completely uploaded", ErrNotFound, m.AssetID)
	}
	coder, err := coderFor(m)
	if err != nil {
		return nil, err
	}
	cipher, err := NewSegmentCipher(key, prefix, m.AssetID)
	if err != nil {
		return nil, err
	}
	r := &Reader{ctx: ctx, f: f, m: m, recs: recs, coder: coder, cipher: cipher,
		hasher: blake3.New(), segSize: SegmentPlainSize(m.K, m.ShardSize)}
	if err := r.fill(); err != nil {
		return nil, err
	}
	return r, nil
}

// fill fetches and decrypts the next stripe into buf.
func (r *Reader) fill() error {
	i := r.next
	shards, err := r.f.FetchStripe(r.ctx, r.m, i, r.recs, false)
	if err != nil {
		return err
	}
	plainLen := min(int64(r.segSize), r.m.Size-int64(i)*int64(r.segSize))
	if plainLen < 0 {
		return fmt.Errorf("%w: stripe %d lies beyond the file's size", ErrCorrupt, i)
	}
	sealed, err := r.coder.Data(shards, int(plainLen)+SegmentOverhead)
	if err != nil {
		return fmt.Errorf("join stripe %d: %w", i, err)
	}
	r.plain, err = r.cipher.Open(r.plain[:0], sealed, uint64(i), i == r.m.Stripes-1)
	if err != nil {
		return fmt.Errorf("decrypt stripe %d: %w", i, err)
	}
	r.hasher.Write(r.plain)
	r.buf = r.plain
	r.next++
	return nil
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.next == r.m.Stripes {
			if got := hex.EncodeToString(r.hasher.Sum(nil)); got != r.m.FileHash {
				r.err = fmt.Errorf("%w: the file hashes to %s, its manifest says %s", ErrHashMismatch, got, r.m.FileHash)
			} else {
				r.err = io.EOF
			}
			continue
		}
		if err := r.fill(); err != nil {
			r.err = err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Close releases the reader. It never fails.
func (r *Reader) Close() error {
	r.buf, r.plain = nil, nil
	if r.err == nil {
		r.err = fmt.Errorf("%w: reader closed", ErrNotFound)
	}
	return nil
}
