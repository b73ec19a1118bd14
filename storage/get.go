package storage

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

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
		restore := coder.ReconstructData
		if full {
			restore = coder.Reconstruct
		}
		if err := restore(shards); err != nil {
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

// Reader streams a stored file's plaintext, one stripe at a time: while the
// caller consumes a stripe, the next one is fetched and decrypted, so memory
// stays bounded (two stripes) whatever the file size. It checks the whole
// file's hash at the end. Close stops the prefetch and waits for it.
type Reader struct {
	f       *Fetcher
	m       Manifest
	recs    []ShardRecord
	coder   *Coder
	cipher  *SegmentCipher
	segSize int
	// ctx bounds the prefetches; like an http.Request's, it lives as long
	// as the stream it belongs to.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	hasher *blake3.Hasher

	// The fields below are used only by the goroutine calling Read.
	next    int               // next stripe to hand out
	pending chan stripeResult // the prefetch of stripe next, if any
	buf     []byte            // unread part of the current stripe
	cur     []byte            // the current stripe's buffer
	spare   []byte            // a free buffer for the next prefetch
	err     error
}

type stripeResult struct {
	plain []byte
	err   error
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
	ctx, cancel := context.WithCancel(ctx)
	r := &Reader{f: f, m: m, recs: recs, coder: coder, cipher: cipher, ctx: ctx, cancel: cancel,
		hasher: blake3.New(), segSize: SegmentPlainSize(m.K, m.ShardSize)}
	first := r.load(ctx, 0, nil)
	if first.err != nil {
		cancel()
		return nil, first.err
	}
	r.accept(first.plain)
	r.prefetch(ctx)
	return r, nil
}

// load fetches, joins and decrypts stripe i into dst.
func (r *Reader) load(ctx context.Context, i int, dst []byte) stripeResult {
	shards, err := r.f.FetchStripe(ctx, r.m, i, r.recs, false)
	if err != nil {
		return stripeResult{err: err}
	}
	plainLen := min(int64(r.segSize), r.m.Size-int64(i)*int64(r.segSize))
	if plainLen < 0 {
		return stripeResult{err: fmt.Errorf("%w: stripe %d lies beyond the file's size", ErrCorrupt, i)}
	}
	sealed, err := r.coder.DataInto(dst, shards, int(plainLen)+SegmentOverhead)
	if err != nil {
		return stripeResult{err: fmt.Errorf("join stripe %d: %w", i, err)}
	}
	// Decrypt in place when the joined bytes are our own buffer; a stripe
	// that fits one shard is opened from the shard into dst instead.
	out := sealed[:0]
	if len(sealed) > 0 && len(shards[0]) > 0 && &sealed[0] == &shards[0][0] {
		out = dst[:0]
	}
	plain, err := r.cipher.Open(out, sealed, uint64(i), i == r.m.Stripes-1)
	if err != nil {
		return stripeResult{err: fmt.Errorf("decrypt stripe %d: %w", i, err)}
	}
	return stripeResult{plain: plain}
}

// accept makes plain the current stripe.
func (r *Reader) accept(plain []byte) {
	r.spare, r.cur = r.cur, plain
	r.buf = plain
	r.hasher.Write(plain)
	r.next++
}

// prefetch starts loading the next stripe, if there is one.
func (r *Reader) prefetch(ctx context.Context) {
	if r.next >= r.m.Stripes {
		return
	}
	ch := make(chan stripeResult, 1)
	i, dst := r.next, r.spare
	r.wg.Go(func() { ch <- r.load(ctx, i, dst) })
	r.pending = ch
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		switch {
		case r.err != nil:
			return 0, r.err
		case r.pending != nil:
			res := <-r.pending
			r.pending = nil
			if res.err != nil {
				r.err = res.err
				continue
			}
			r.accept(res.plain)
			r.prefetch(r.ctx)
		case r.next == r.m.Stripes:
			if got := hex.EncodeToString(r.hasher.Sum(nil)); got != r.m.FileHash {
				r.err = fmt.Errorf("%w: the file hashes to %s, its manifest says %s", ErrHashMismatch, got, r.m.FileHash)
			} else {
				r.err = io.EOF
			}
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// Close stops any prefetch and releases the reader. It never fails.
func (r *Reader) Close() error {
	r.cancel()
	r.wg.Wait()
	r.buf, r.cur, r.spare = nil, nil, nil
	if r.err == nil {
		r.err = fmt.Errorf("%w: reader closed", ErrNotFound)
	}
	return nil
}
