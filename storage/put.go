package storage

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/zeebo/blake3"
	"golang.org/x/sync/errgroup"
)

// Shard sizes for puts.
const (
	// DefaultShardSize caps the shard size: a stripe of 12 x 1 MiB keeps a
	// put's memory bounded (a few stripes) whatever the file size.
	DefaultShardSize = 1 << 20
	// minShardSize keeps tiny files from making tiny, wasteful shards.
	minShardSize = 4 << 10
	// stripesInFlight bounds a put's memory: one stripe is coded while
	// the one before it uploads.
	stripesInFlight = 2
)

// ErrInterrupted: the file ended before the size announced; the upload
// can be resumed.
var ErrInterrupted = errors.New("upload interrupted")

// ErrQuorum: some stripe did not reach its upload quorum (k for ec, r for
// replication). The message lists them.
var ErrQuorum = errors.New("upload quorum not reached")

// ShardSizeFor picks the shard size for a file of size bytes (-1: unknown)
// coded with k data shards: small files get shards just big enough to hold
// them in one stripe, large files get DefaultShardSize.
func ShardSizeFor(size int64, k int) int {
	if size < 0 || k < 1 {
		return DefaultShardSize
	}
	per := (size + SegmentOverhead + int64(k) - 1) / int64(k)
	per = (per + minShardSize - 1) / minShardSize * minShardSize
	return int(min(max(per, minShardSize), DefaultShardSize))
}

// SegmentPlainSize is how many plaintext bytes one stripe carries.
func SegmentPlainSize(k, shardSize int) int { return k*shardSize - SegmentOverhead }

// Quorum is the number of acknowledged shards a stripe needs for the upload
// to count: k for erasure coding, every replica for replication.
func Quorum(m Manifest) int {
	if m.Mode == "rep" {
		return m.N
	}
	return m.K
}

// Putter uploads files: it encrypts, erasure codes and places their shards.
type Putter struct {
	Catalog   *Catalog
	Transport Transport
	Config    TransferConfig
}

// PutRequest is one upload, new or resumed.
type PutRequest struct {
	// Manifest is the asset's manifest, already in the catalog.
	Manifest Manifest
	Key      AssetKey
	Prefix   NoncePrefix
	// Hosts are the live candidates, excluding full or inactive ones.
	Hosts []Candidate
	// WantHash, when set, is the plaintext hash the caller promised.
	WantHash string
}

// PutResult says what an upload did.
type PutResult struct {
	Size     int64
	FileHash string
	Stripes  int
	// Live holds the acknowledged shards per stripe.
	Live []int
	// Uploaded and Skipped count shards sent now and shards already
	// acknowledged by an earlier, interrupted attempt.
	Uploaded, Skipped int
}

// Put reads the plaintext from r and stores it as req.Manifest says. Shards
// acknowledged by an earlier attempt with the same content are not sent
// again. It returns ErrQuorum (with the result) when some stripe stays below
// quorum; the manifest then stays pending and a later Put resumes it.
func (p *Putter) Put(ctx context.Context, req PutRequest, r io.Reader) (PutResult, error) {
	cfg := p.Config.withDefaults()
	m := req.Manifest
	coder, err := coderFor(m)
	if err != nil {
		return PutResult{}, err
	}
	cipher, err := NewSegmentCipher(req.Key, req.Prefix, m.AssetID)
	if err != nil {
		return PutResult{}, err
	}
	prior, err := p.Catalog.Shards(ctx, m.AssetID)
	if err != nil {
		return PutResult{}, err
	}
	acked := make(map[[2]int]ShardRecord, len(prior))
	for _, rec := range prior {
		acked[[2]int{rec.Stripe, rec.Index}] = rec
	}

	br := bufio.NewReaderSize(r, 256<<10)
	segPlain := SegmentPlainSize(m.K, m.ShardSize)
	stripeBytes := m.N * m.ShardSize
	hasher := blake3.New()
	var res PutResult

	// Stripes are read, sealed and coded here, in place in one buffer each,
	// while the previous stripe's shards upload: two stripe buffers bound
	// the memory, and one semaphore bounds the shard transfers across both.
	bufs := make(chan []byte, stripesInFlight)
	for range stripesInFlight {
		bufs <- nil
	}
	slots := make(chan struct{}, cfg.Window)
	down := &downHosts{ids: map[string]bool{}}
	var mu sync.Mutex // guards res.Live, res.Uploaded, res.Skipped
	g, gctx := errgroup.WithContext(ctx)
	var readErr error
	for stripe := 0; ; stripe++ {
		var buf []byte
		select {
		case buf = <-bufs:
		case <-gctx.Done():
		}
		if gctx.Err() != nil {
			break
		}
		if cap(buf) < stripeBytes {
			buf = make([]byte, stripeBytes)
		}
		buf = buf[:stripeBytes]
		n, last, err := readSegment(br, buf[:segPlain], m.Size, res.Size)
		if err != nil {
			readErr = err
			bufs <- buf
			break
		}
		res.Size += int64(n)
		hasher.Write(buf[:n])
		sealed := cipher.Seal(buf[:0], buf[:n], uint64(stripe), last)
		shards, err := coder.EncodeBuffer(buf, len(sealed), m.ShardSize)
		if err != nil {
			readErr = fmt.Errorf("encode stripe %d: %w", stripe, err)
			bufs <- buf
			break
		}
		mu.Lock()
		res.Live = append(res.Live, 0)
		mu.Unlock()
		hosts := down.without(req.Hosts)
		g.Go(func() error {
			defer func() { bufs <- buf }()
			live, sent, skipped, err := p.putStripe(gctx, cfg, m, stripe, shards, hosts, acked, slots, down)
			mu.Lock()
			res.Live[stripe] = live
			res.Uploaded += sent
			res.Skipped += skipped
			mu.Unlock()
			return err
		})
		if last {
			res.Stripes = stripe + 1
			break
		}
	}
	// Let started stripes finish even when reading failed: what hosts
	// acknowledge is recorded, so a resumed put need not send it again.
	werr := g.Wait()
	if readErr != nil {
		// The reader's failure is the news; a cancelled upload follows from it.
		return res, readErr
	}
	if werr != nil {
		return res, werr
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	var below []string
	for stripe, live := range res.Live {
		if live < Quorum(m) {
			below = append(below, fmt.Sprintf("stripe %d has %d of %d", stripe, live, Quorum(m)))
		}
	}
	if m.Size >= 0 && res.Size != m.Size {
		return res, fmt.Errorf("%w: got %d bytes, %d were announced", ErrInvalid, res.Size, m.Size)
	}
	res.FileHash = hex.EncodeToString(hasher.Sum(nil))
	if req.WantHash != "" && res.FileHash != req.WantHash {
		return res, fmt.Errorf("%w: the file hashes to %s, not the announced %s", ErrHashMismatch, res.FileHash, req.WantHash)
	}
	if err := p.Catalog.Finish(ctx, m.AssetID, res.Size, res.FileHash, res.Stripes); err != nil {
		return res, err
	}
	if len(below) > 0 {
		return res, fmt.Errorf("%w: %s (too few live hosts answered; run the put again to resume)", ErrQuorum, strings.Join(below, ", "))
	}
	return res, nil
}

// readSegment reads the plaintext of the next stripe into buf: exactly the
// bytes the stripe must hold when the file's size is known (size >= 0; done
// bytes were read before), or as much as fits otherwise. last reports the
// file's final stripe. A file that ends early is ErrInterrupted, before
// anything of the short stripe is sealed, so a resumed upload re-creates
// every stripe exactly; one that goes on past its size is ErrTooLarge.
func readSegment(br *bufio.Reader, buf []byte, size, done int64) (n int, last bool, err error) {
	if size >= 0 {
		want := int(min(int64(len(buf)), size-done))
		n, err = io.ReadFull(br, buf[:want])
		if err != nil && want > 0 {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return n, false, fmt.Errorf("%w: the file ended after %d of %d bytes", ErrInterrupted, done+int64(n), size)
			}
			return n, false, fmt.Errorf("read file: %w", err)
		}
		if done+int64(n) < size {
			return n, false, nil
		}
		if _, perr := br.Peek(1); perr == nil {
			return n, true, fmt.Errorf("%w: the file is longer than the %d bytes announced", ErrTooLarge, size)
		} else if !errors.Is(perr, io.EOF) {
			return n, true, fmt.Errorf("read file: %w", perr)
		}
		return n, true, nil
	}
	n, err = io.ReadFull(br, buf)
	last = errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
	if err != nil && !last {
		return n, false, fmt.Errorf("read file: %w", err)
	}
	if !last {
		if _, perr := br.Peek(1); errors.Is(perr, io.EOF) {
			last = true
		} else if perr != nil {
			return n, false, fmt.Errorf("read file: %w", perr)
		}
	}
	return n, last, nil
}

func coderFor(m Manifest) (*Coder, error) {
	if m.Mode == "rep" {
		return NewReplicator(m.N)
	}
	return NewCoder(m.K, m.N)
}

// putStripe uploads the shards of one stripe that are not acknowledged yet,
// each to its placed host or, when that fails, to the next host in
// rendezvous order not already holding a shard of the stripe.
func (p *Putter) putStripe(ctx context.Context, cfg TransferConfig, m Manifest, stripe int, shards [][]byte,
	hosts []Candidate, acked map[[2]int]ShardRecord, slots chan struct{}, down *downHosts) (live, sent, skipped int, err error) {
	key := fmt.Sprintf("%s/%d", m.AssetID, stripe)
	placed, _ := Place(key, hosts, m.N)
	ranked := Rank(key, hosts)
	hashes := make([]string, len(shards))
	for i, s := range shards {
		sum := blake3.Sum256(s)
		hashes[i] = hex.EncodeToString(sum[:])
	}

	var mu sync.Mutex // guards used, live and acks
	used := map[string]bool{}
	var acks []AckedShard
	var todo []int
	for idx := range shards {
		if rec, ok := acked[[2]int{stripe, idx}]; ok && rec.Live && rec.Hash == hashes[idx] {
			used[rec.HostID] = true
			live++
			skipped++
			continue
		}
		todo = append(todo, idx)
	}
	if len(placed) == 0 {
		return live, 0, skipped, nil
	}
	// A resumed stripe's placement may name a host that already holds one
	// of its acknowledged shards: such a shard goes to the next host in
	// rendezvous order that holds none, while there is one.
	first := make(map[int]Candidate, len(todo))
	for _, idx := range todo {
		host := placed[idx%len(placed)]
		if used[host.ID] {
			if next, ok := nextHost(ranked, used); ok {
				host = next
			}
		}
		used[host.ID] = true
		first[idx] = host
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, idx := range todo {
		g.Go(func() error {
			// The audit challenges are made before the shard waits for a
			// transfer slot: their hash passes then overlap the uploads in
			// flight, instead of holding the slot after this shard's own.
			chs, err := NewChallenges(rand.Reader, shards[idx], ChallengesPerShard)
			if err != nil {
				return err
			}
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			case <-gctx.Done():
				return gctx.Err()
			}
			addr := ShardAddr{AssetID: m.AssetID, Stripe: stripe, Index: idx}
			host := first[idx]
			for attempt := 0; attempt <= cfg.Replacements; attempt++ {
				if attempt > 0 {
					mu.Lock()
					next, ok := nextHost(ranked, used)
					if ok {
						used[next.ID] = true
					}
					mu.Unlock()
					if !ok {
						return nil
					}
					host = next
				}
				err := retry(gctx, cfg, func() error {
					return putShardWithin(gctx, cfg, p.Transport, host, addr, shards[idx], hashes[idx])
				})
				if gctx.Err() != nil {
					return gctx.Err()
				}
				if errors.Is(err, ErrHostUnreachable) {
					down.add(host.ID)
				}
				if err != nil {
					continue
				}
				rec := ShardRecord{Stripe: stripe, Index: idx, Hash: hashes[idx], HostID: host.ID, Endpoint: host.Endpoint, Live: true}
				mu.Lock()
				acks = append(acks, AckedShard{Record: rec, Challenges: chs})
				used[host.ID] = true
				live++
				sent++
				mu.Unlock()
				return nil
			}
			return nil
		})
	}
	err = g.Wait()
	// What hosts acknowledged is recorded even when the stripe failed or
	// the put was cancelled, so a resumed put need not send it again.
	if rerr := p.Catalog.RecordShards(context.WithoutCancel(ctx), m.AssetID, acks); rerr != nil && err == nil {
		err = rerr
	}
	return live, sent, skipped, err
}

// downHosts remembers the hosts that stopped answering during a put, so
// later stripes go straight to others. It is safe for concurrent use.
type downHosts struct {
	// mu guards ids.
	mu  sync.Mutex
	ids map[string]bool
}

func (d *downHosts) add(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ids[id] = true
}

// without returns hosts minus the down ones (all of them if every host is down).
func (d *downHosts) without(hosts []Candidate) []Candidate {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.ids) == 0 {
		return hosts
	}
	var out []Candidate
	for _, h := range hosts {
		if !d.ids[h.ID] {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return hosts
	}
	return out
}

// nextHost returns the first host in rendezvous order not yet used.
func nextHost(ranked []Candidate, used map[string]bool) (Candidate, bool) {
	for _, h := range ranked {
		if !used[h.ID] {
			return h, true
		}
	}
	return Candidate{}, false
}
