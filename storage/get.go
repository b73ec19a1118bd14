package storage

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zeebo/blake3"
)

// Fetcher reads shards back from hosts and restores stripes.
type Fetcher struct {
	Transport Transport
	Config    TransferConfig
	// OnCorrupt, if set, is called (from any goroutine) for each shard whose
	// bytes do not match its recorded hash. It must not block.
	OnCorrupt func(addr ShardAddr, host Candidate)

	// latency is a moving average of successful shard fetches in
	// nanoseconds (0 before the first): the hedge delay follows it, so a
	// slow link is not flooded with spare requests.
	latency atomic.Int64
}

type fetched struct {
	id      int
	data    []byte
	err     error
	elapsed time.Duration
}

// flight is one shard request in progress.
type flight struct {
	rec     ShardRecord
	attempt int
	started time.Time
	// slow: no answer within the hedge delay, so a spare was asked.
	slow bool
}

// FetchStripe fetches enough shards of one stripe to restore it, verifying
// each against its recorded hash, and returns all n shards with the missing
// ones reconstructed when full is true, or at least the data shards
// otherwise. It fails with ErrTooFewShards, saying how many shards it got
// and why the others failed, when fewer than k shards can be fetched.
//
// Hosts are asked in this order: data shards (no decoding needed), then
// parity, from hosts neither down (as down reports; nil: none) nor in avoid;
// then the rest. Each request has its own deadline (TransferConfig
// ShardDeadline). A request with no answer after the hedge delay, or one
// that fails, makes the fetcher ask the next spare at once; a failed host
// is retried only when every spare was asked. Once k shards arrived the
// other requests are cancelled. Hosts that failed or stalled are added to
// avoid (nil: a fresh set), so the next stripe of the same read asks them
// last.
//
// Each request holds a token of slots while it runs: stripes fetched at
// once (a read's read-ahead) share one window of Window requests, so the
// window stays full across a stripe's end. nil: a window of its own.
func (f *Fetcher) FetchStripe(ctx context.Context, m Manifest, stripe int, recs []ShardRecord, full bool,
	down func(hostID string) bool, avoid *HostSet, slots chan struct{}) ([][]byte, error) {
	return f.fetchStripe(ctx, m, stripe, recs, full, true, nil, down, avoid, slots)
}

// fetchStripe is FetchStripe; with check false it takes each shard of the
// right length without hashing it, for a caller that authenticates the
// restored stripe itself (Reader.load) and fetches again with check on
// when that fails. A host that served wrong bytes to a checked fetch goes
// into avoid. When dst holds k shards, data shard i is read into its place
// in dst (i*ShardSize on), so the stripe needs no joining; other shards
// get buffers of their own.
func (f *Fetcher) fetchStripe(ctx context.Context, m Manifest, stripe int, recs []ShardRecord, full, check bool, dst []byte,
	down func(hostID string) bool, avoid *HostSet, slots chan struct{}) ([][]byte, error) {
	cfg := f.Config.withDefaults()
	coder, err := coderFor(m)
	if err != nil {
		return nil, err
	}
	if avoid == nil {
		avoid = NewHostSet()
	}
	if slots == nil {
		slots = make(chan struct{}, cfg.Window)
	}
	cands, preferred := readOrder(m, stripe, recs, func(id string) bool { return (down != nil && down(id)) || avoid.Has(id) })
	need := m.K
	shards := make([][]byte, m.N)
	deadline := cfg.ShardDeadline(m.ShardSize)
	hedge := f.hedgeDelay(cfg, deadline)

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	// Buffered for every request this fetch can make, so a request
	// finishing after the fetch gave up never blocks.
	results := make(chan fetched, len(cands)*(cfg.Retries+1))
	flights := map[int]*flight{}
	var retries []flight
	nextID, next, got := 0, 0, 0
	var failures []string

	// launch starts a request; the caller took a token of slots for it.
	// The token is given back (by this goroutine, which owns flights) when
	// the request ends or turns slow: a slow request keeps running but no
	// longer holds back a spare, so hosts that stall cannot take the whole
	// window.
	launch := func(fl flight) {
		id := nextID
		nextID++
		fl.started = time.Now()
		flights[id] = &fl
		wg.Go(func() {
			var buf []byte
			if i := fl.rec.Index; i < m.K && len(dst) >= m.K*m.ShardSize {
				buf = dst[i*m.ShardSize : (i+1)*m.ShardSize : (i+1)*m.ShardSize]
			} else {
				buf = make([]byte, m.ShardSize)
			}
			data, err := f.fetchOne(ctx, cfg, m, stripe, fl.rec, fl.attempt, deadline, check, buf)
			results <- fetched{id: id, data: data, err: err, elapsed: time.Since(fl.started)}
		})
	}
	// candidate returns the request to make next, if any, and take, which
	// records it as made. It keeps need-got requests running that are not
	// known slow, at most Window of them: a slow request keeps running but
	// no longer holds back a spare. A hedge (asked while the slow request
	// may still answer) only goes to a preferred host; avoided hosts and
	// retries are asked only for shards no running request can give.
	candidate := func() (fl flight, take func(), ok bool) {
		active := 0
		for _, fl := range flights {
			if !fl.slow {
				active++
			}
		}
		if got+active >= need || active >= cfg.Window || ctx.Err() != nil {
			return flight{}, nil, false
		}
		hedging := got+len(flights) >= need
		switch {
		case next < preferred || next < len(cands) && !hedging:
			return flight{rec: cands[next]}, func() { next++ }, true
		case next == len(cands) && len(retries) > 0 && !hedging:
			return retries[0], func() { retries = retries[1:] }, true
		}
		return flight{}, nil, false
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for got < need {
		fl, take, want := candidate()
		if want {
			// A free token now launches at once, without a trip
			// through the select below.
			select {
			case slots <- struct{}{}:
				take()
				launch(fl)
				continue
			default:
			}
		}
		if len(flights) == 0 && !want {
			break
		}
		// Wake at the first moment a request turns slow.
		var wake time.Time
		for _, fl := range flights {
			if t := fl.started.Add(hedge); !fl.slow && (wake.IsZero() || t.Before(wake)) {
				wake = t
			}
		}
		var timerC <-chan time.Time
		if !wake.IsZero() {
			timer.Reset(time.Until(wake))
			timerC = timer.C
		}
		// Wait for a token only while there is a request to make.
		var slotC chan struct{}
		if want {
			slotC = slots
		}
		select {
		case slotC <- struct{}{}:
			take()
			launch(fl)
		case <-parent.Done():
		case res := <-results:
			fl := flights[res.id]
			delete(flights, res.id)
			if !fl.slow {
				<-slots
			}
			if res.err == nil {
				shards[fl.rec.Index] = res.data
				got++
				f.observe(res.elapsed)
				break
			}
			failures = append(failures, fmt.Sprintf("shard %d: %v", fl.rec.Index, res.err))
			if errors.Is(res.err, ErrHashMismatch) {
				avoid.Add(fl.rec.HostID)
			}
			if errors.Is(res.err, ErrHostUnreachable) || errors.Is(res.err, ErrHostBusy) {
				avoid.Add(fl.rec.HostID)
				if fl.attempt < cfg.Retries && parent.Err() == nil {
					retries = append(retries, flight{rec: fl.rec, attempt: fl.attempt + 1})
				}
			}
		case <-timerC:
			now := time.Now()
			for _, fl := range flights {
				if !fl.slow && !now.Before(fl.started.Add(hedge)) {
					fl.slow = true
					<-slots
				}
			}
		}
		timer.Stop()
		if parent.Err() != nil {
			break
		}
	}
	// The requests still running are cancelled on return.
	for _, fl := range flights {
		if !fl.slow {
			<-slots
		}
	}
	// A host whose request was still hanging when the stripe was complete
	// goes last in the stripes started from now on. (One merely slow
	// once, and then answering, does not: on a loaded machine that would
	// soon be every host, mixing live hosts with dead ones.)
	for _, fl := range flights {
		if fl.slow {
			avoid.Add(fl.rec.HostID)
		}
	}
	if err := parent.Err(); err != nil {
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

// readOrder lists the live shard records of a stripe in the order a read
// asks for them: data shards then parity from hosts not avoided (the first
// preferred records), then data shards then parity from the avoided ones.
func readOrder(m Manifest, stripe int, recs []ShardRecord, avoided func(hostID string) bool) (cands []ShardRecord, preferred int) {
	for _, r := range recs {
		if r.Stripe == stripe && r.Live {
			cands = append(cands, r)
			if !avoided(r.HostID) {
				preferred++
			}
		}
	}
	rank := func(r ShardRecord) int {
		tier := 0
		if r.Index >= m.K {
			tier = 1
		}
		if avoided(r.HostID) {
			tier += 2
		}
		return tier
	}
	slices.SortStableFunc(cands, func(a, b ShardRecord) int {
		if c := rank(a) - rank(b); c != 0 {
			return c
		}
		return a.Index - b.Index
	})
	return cands, preferred
}

// fetchOne makes one request for a shard into buf (ShardSize bytes), within
// deadline, after the backoff its attempt number calls for, and checks the
// bytes' length and, with check, their hash.
func (f *Fetcher) fetchOne(ctx context.Context, cfg TransferConfig, m Manifest, stripe int, rec ShardRecord, attempt int,
	deadline time.Duration, check bool, buf []byte) ([]byte, error) {
	if attempt > 0 {
		if err := sleep(ctx, backoff(cfg, attempt-1)); err != nil {
			return nil, err
		}
	}
	addr := ShardAddr{AssetID: m.AssetID, Stripe: stripe, Index: rec.Index}
	host := Candidate{ID: rec.HostID, Endpoint: rec.Endpoint, Weight: 1}
	rctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	data, err := f.Transport.GetShard(rctx, host, addr, buf)
	if err != nil {
		if ctx.Err() == nil && rctx.Err() != nil {
			return nil, fmt.Errorf("%w: %s sent no shard within %s", ErrHostUnreachable, rec.Endpoint, deadline)
		}
		return nil, err
	}
	if len(data) == m.ShardSize && !check {
		return data, nil
	}
	sum := blake3.Sum256(data)
	if hex.EncodeToString(sum[:]) != rec.Hash || len(data) != m.ShardSize {
		if f.OnCorrupt != nil {
			f.OnCorrupt(addr, host)
		}
		return nil, fmt.Errorf("%w from %s", ErrHashMismatch, rec.Endpoint)
	}
	return data, nil
}

// FetchShard reads one shard from the host its record names, within the
// shard deadline, and checks its bytes against the record's hash
// (ErrHashMismatch otherwise).
func (f *Fetcher) FetchShard(ctx context.Context, m Manifest, rec ShardRecord) ([]byte, error) {
	cfg := f.Config.withDefaults()
	return f.fetchOne(ctx, cfg, m, rec.Stripe, rec, 0, cfg.ShardDeadline(m.ShardSize), true, make([]byte, m.ShardSize))
}

// observe folds a successful fetch's duration into the moving average
// (weight 1/8). Concurrent updates may lose one sample; it is a hint.
func (f *Fetcher) observe(d time.Duration) {
	old := f.latency.Load()
	if old == 0 {
		f.latency.Store(int64(d))
		return
	}
	f.latency.Store(old - old/8 + int64(d)/8)
}

// hedgeDelay is how long a request may go unanswered before a spare is
// asked: HedgeDelay, or four times the usual fetch time on a slower link,
// never more than the request's deadline.
func (f *Fetcher) hedgeDelay(cfg TransferConfig, deadline time.Duration) time.Duration {
	return min(max(cfg.HedgeDelay, 4*time.Duration(f.latency.Load())), deadline)
}

// HostSet is a set of host IDs, safe for concurrent use: the hosts a read
// asks last because they failed or stalled earlier in it.
type HostSet struct {
	// mu guards ids.
	mu  sync.Mutex
	ids map[string]bool
}

// NewHostSet returns an empty set.
func NewHostSet() *HostSet { return &HostSet{ids: map[string]bool{}} }

// Add puts id in the set.
func (s *HostSet) Add(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids[id] = true
}

// Has reports whether id is in the set.
func (s *HostSet) Has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ids[id]
}

func summarize(items []string, max int) string {
	if len(items) <= max {
		return strings.Join(items, "; ")
	}
	return strings.Join(items[:max], "; ") + fmt.Sprintf("; and %d more", len(items)-max)
}

// readAhead is how many stripes a Reader fetches at once, besides the one
// being read: with one window of requests shared among them, the window
// stays full across a stripe's end instead of draining while the stripe's
// last shard arrives and its decryption runs. Memory: readAhead+1 stripe
// buffers and the shards of readAhead stripes.
const readAhead = 2

// Reader streams a stored file's plaintext, one stripe at a time: while the
// caller consumes a stripe, the next readAhead are fetched and decrypted,
// so memory stays bounded whatever the file size. Every stripe is
// authenticated before any of its bytes are handed out: its AEAD tag binds
// it to the file's key, to its index and, for the last one, to being the
// last (SegmentCipher), so wrong bytes, stripes swapped or a file cut short
// fail the read. The whole file's hash is the client's to check: a hash
// over what was already sent would come too late to stop it, and would
// check nothing the tags did not (the CLI compares it with the file's
// recorded hash, which the API sends along). Close stops the prefetches
// and waits for them.
type Reader struct {
	f    *Fetcher
	m    Manifest
	recs []ShardRecord
	// down and avoid order each stripe's requests (see FetchStripe).
	down    func(hostID string) bool
	avoid   *HostSet
	coder   *Coder
	cipher  *SegmentCipher
	segSize int
	// slots is the window of shard requests the prefetches share.
	slots chan struct{}
	// ctx bounds the prefetches; like an http.Request's, it lives as long
	// as the stream it belongs to.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// The fields below are used only by the goroutine calling Read.
	next     int                 // next stripe to hand out
	launched int                 // next stripe to start fetching
	pending  []chan stripeResult // the fetches of stripes next..launched-1
	buf      []byte              // unread part of the current stripe
	cur      []byte              // the current stripe's buffer
	free     [][]byte            // buffers for the next fetches
	err      error
}

type stripeResult struct {
	plain []byte
	err   error
}

// Open returns a Reader for the asset. It fetches the first stripe before
// returning, so an unavailable file is reported here, before any byte is
// delivered. down (may be nil) reports the hosts the caller's peer table
// marks down: they are asked only when the others cannot give k shards.
func (f *Fetcher) Open(ctx context.Context, m Manifest, recs []ShardRecord, key AssetKey, prefix NoncePrefix,
	down func(hostID string) bool) (*Reader, error) {
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
	r := &Reader{f: f, m: m, recs: recs, down: down, avoid: NewHostSet(), coder: coder, cipher: cipher, ctx: ctx, cancel: cancel,
		slots: make(chan struct{}, f.Config.withDefaults().Window), segSize: SegmentPlainSize(m.K, m.ShardSize)}
	// The first stripe alone: it reports an unavailable file, and teaches
	// avoid which hosts are dead before more stripes ask them.
	r.prefetch(1)
	first := <-r.pending[0]
	r.pending = r.pending[1:]
	if first.err != nil {
		r.Close()
		return nil, first.err
	}
	r.accept(first.plain)
	r.prefetch(readAhead)
	return r, nil
}

// load fetches, joins and decrypts stripe i into dst. The stripe's AEAD
// tag is what proves its bytes, so the shards are first taken without
// hashing each (a host cannot make a stripe that opens under the file's
// key); only when the stripe does not open are they fetched again, each
// checked against its hash, which finds the host that served wrong bytes,
// reports it and reads around it.
func (r *Reader) load(ctx context.Context, i int, dst []byte) stripeResult {
	plain, err := r.restore(ctx, i, dst, false)
	if errors.Is(err, errStripeUnopened) {
		plain, err = r.restore(ctx, i, dst, true)
	}
	return stripeResult{plain: plain, err: err}
}

// errStripeUnopened: a stripe restored from unchecked shards did not open.
var errStripeUnopened = errors.New("stripe does not open")

// restore fetches stripe i's shards (checking each against its hash if
// check), joins them into dst and decrypts the stripe.
func (r *Reader) restore(ctx context.Context, i int, dst []byte, check bool) ([]byte, error) {
	if cap(dst) < r.m.K*r.m.ShardSize {
		dst = make([]byte, r.m.K*r.m.ShardSize)
	}
	dst = dst[:r.m.K*r.m.ShardSize]
	shards, err := r.f.fetchStripe(ctx, r.m, i, r.recs, false, check, dst, r.down, r.avoid, r.slots)
	if err != nil {
		return nil, err
	}
	plainLen := min(int64(r.segSize), r.m.Size-int64(i)*int64(r.segSize))
	if plainLen < 0 {
		return nil, fmt.Errorf("%w: stripe %d lies beyond the file's size", ErrCorrupt, i)
	}
	sealed, err := r.coder.DataInto(dst, shards, int(plainLen)+SegmentOverhead)
	if err != nil {
		return nil, fmt.Errorf("join stripe %d: %w", i, err)
	}
	// Decrypt in place when the joined bytes are our own buffer; a stripe
	// that fits one shard is opened from the shard into dst instead.
	out := sealed[:0]
	if len(sealed) > 0 && len(shards[0]) > 0 && &sealed[0] == &shards[0][0] {
		out = dst[:0]
	}
	plain, err := r.cipher.Open(out, sealed, uint64(i), i == r.m.Stripes-1)
	switch {
	case err != nil && !check:
		return nil, errStripeUnopened
	case err != nil:
		return nil, fmt.Errorf("decrypt stripe %d: %w", i, err)
	}
	return plain, nil
}

// accept makes plain the current stripe; the previous one's buffer is
// free for a prefetch.
func (r *Reader) accept(plain []byte) {
	if r.cur != nil {
		r.free = append(r.free, r.cur)
	}
	r.cur = plain
	r.buf = plain
	r.next++
}

// prefetch starts fetching stripes until n are pending or all are.
func (r *Reader) prefetch(n int) {
	for len(r.pending) < n && r.launched < r.m.Stripes {
		var dst []byte
		if n := len(r.free); n > 0 {
			dst, r.free = r.free[n-1], r.free[:n-1]
		}
		ch := make(chan stripeResult, 1)
		i := r.launched
		r.launched++
		r.wg.Go(func() { ch <- r.load(r.ctx, i, dst) })
		r.pending = append(r.pending, ch)
	}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// WriteTo implements io.WriterTo: io.Copy hands each stripe to w whole,
// without copying it through a small buffer first.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if err := r.fill(); err == io.EOF {
			return total, nil
		} else if err != nil {
			return total, err
		}
		n, err := w.Write(r.buf)
		total += int64(n)
		r.buf = r.buf[n:]
		if err != nil {
			return total, err
		}
	}
}

// fill makes r.buf hold unread bytes, waiting for the next stripe if
// needed; it returns io.EOF after the last one.
func (r *Reader) fill() error {
	for len(r.buf) == 0 {
		switch {
		case r.err != nil:
			return r.err
		case len(r.pending) > 0:
			res := <-r.pending[0]
			r.pending = r.pending[1:]
			if res.err != nil {
				r.err = res.err
				continue
			}
			r.accept(res.plain)
			r.prefetch(readAhead)
		case r.next == r.m.Stripes:
			r.err = io.EOF
		}
	}
	return nil
}

// Close stops any prefetch and releases the reader. It never fails.
func (r *Reader) Close() error {
	r.cancel()
	r.wg.Wait()
	r.buf, r.cur, r.free, r.pending = nil, nil, nil, nil
	if r.err == nil {
		r.err = fmt.Errorf("%w: reader closed", ErrNotFound)
	}
	return nil
}
