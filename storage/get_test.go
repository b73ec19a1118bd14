package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/internal/testutil"
)

// hostMode is how an in-process host behaves.
type hostMode int

const (
	hostOK     hostMode = iota
	hostDead            // refuses at once, as a killed process's closed port
	hostFrozen          // never answers until the request is cancelled, as a SIGSTOPped host
	hostLiar            // answers with one byte of the shard flipped: a rotten disk or a lying host
)

// memTransport is an in-process set of hosts keeping shards in memory.
type memTransport struct {
	// mu guards every field below.
	mu     sync.Mutex
	shards map[string][]byte // host ID + address -> bytes
	modes  map[string]hostMode
	gets   map[string]int // GetShard calls per host
	// delay is how long a healthy host takes to answer.
	delay time.Duration
	// inFlight counts running GetShard calls per stripe; maxInFlight and
	// maxStripes are the most calls and stripes running at once.
	inFlight                map[int]int
	maxInFlight, maxStripes int
}

func newMemTransport() *memTransport {
	return &memTransport{shards: map[string][]byte{}, modes: map[string]hostMode{}, gets: map[string]int{}, inFlight: map[int]int{}}
}

func memKey(host Candidate, addr ShardAddr) string {
	return fmt.Sprintf("%s|%s|%d", host.ID, addr.HostAssetID(), addr.Index)
}

// resetCalls forgets the GetShard calls counted so far.
func (t *memTransport) resetCalls() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.gets)
}

func (t *memTransport) set(id string, mode hostMode) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.modes[id] = mode
}

func (t *memTransport) calls(id string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gets[id]
}

func (t *memTransport) PutShard(ctx context.Context, host Candidate, addr ShardAddr, data []byte, _ string) error {
	t.mu.Lock()
	mode := t.modes[host.ID]
	t.mu.Unlock()
	switch mode {
	case hostDead:
		return fmt.Errorf("%w: connection refused", ErrHostUnreachable)
	case hostFrozen:
		<-ctx.Done()
		return ctx.Err()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.shards[memKey(host, addr)] = bytes.Clone(data)
	return nil
}

func (t *memTransport) GetShard(ctx context.Context, host Candidate, addr ShardAddr, buf []byte) ([]byte, error) {
	t.mu.Lock()
	t.gets[host.ID]++
	mode, data := t.modes[host.ID], t.shards[memKey(host, addr)]
	t.inFlight[addr.Stripe]++
	total := 0
	for _, c := range t.inFlight {
		total += c
	}
	t.maxInFlight, t.maxStripes = max(t.maxInFlight, total), max(t.maxStripes, len(t.inFlight))
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.inFlight[addr.Stripe]--; t.inFlight[addr.Stripe] == 0 {
			delete(t.inFlight, addr.Stripe)
		}
	}()
	switch mode {
	case hostDead:
		return nil, fmt.Errorf("%w: connection refused", ErrHostUnreachable)
	case hostFrozen:
		<-ctx.Done()
		return nil, fmt.Errorf("%w: %v", ErrHostUnreachable, ctx.Err())
	}
	if data == nil {
		return nil, fmt.Errorf("%w: no such shard", ErrNotFound)
	}
	if err := sleep(ctx, t.delay); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHostUnreachable, err)
	}
	if len(data) > len(buf) {
		return nil, fmt.Errorf("%w: shard of %d bytes, at most %d expected", ErrHostRefused, len(data), len(buf))
	}
	data = buf[:copy(buf, data)]
	if mode == hostLiar {
		data[len(data)/2] ^= 0x40
	}
	return data, nil
}

func (t *memTransport) StatShard(context.Context, Candidate, ShardAddr) (string, error) {
	return "", fmt.Errorf("%w: not used", ErrHostRefused)
}

func (t *memTransport) DeleteShard(context.Context, Candidate, ShardAddr) error {
	return fmt.Errorf("%w: not used", ErrHostRefused)
}

func (t *memTransport) ClaimShards(context.Context, Candidate, []ShardAddr) (int, error) {
	return 0, fmt.Errorf("%w: not used", ErrHostRefused)
}

// memHosts names n in-process hosts, host-00 on.
func memHosts(n int) []Candidate {
	hosts := make([]Candidate, n)
	for i := range hosts {
		hosts[i] = Candidate{ID: fmt.Sprintf("host-%02d", i), Endpoint: fmt.Sprintf("mem://%d", i), Weight: 1}
	}
	return hosts
}

// storedFile puts size random bytes with k/n coding on hosts in-process
// hosts and returns what a get needs.
type storedFile struct {
	cat    *Catalog
	plain  []byte
	m      Manifest
	recs   []ShardRecord
	key    AssetKey
	prefix NoncePrefix
}

func putFile(t *testing.T, tr Transport, hosts []Candidate, k, n, shardSize int, size int) storedFile {
	t.Helper()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	cat, err := OpenCatalog(t.Context(), db, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	key, prefix, err := NewAssetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, size)
	rand.Read(plain)
	m := Manifest{AssetID: "aget", Owner: "owner", Size: int64(size), Mode: "ec", K: k, N: n, ShardSize: shardSize, State: StatePending}
	if err := cat.Create(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	p := &Putter{Catalog: cat, Transport: tr}
	res, err := p.Put(t.Context(), PutRequest{Manifest: m, Key: key, Prefix: prefix, Hosts: hosts}, bytes.NewReader(plain))
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	m.Stripes, m.FileHash = res.Stripes, res.FileHash
	recs, err := cat.Shards(t.Context(), m.AssetID)
	if err != nil {
		t.Fatal(err)
	}
	return storedFile{cat: cat, plain: plain, m: m, recs: recs, key: key, prefix: prefix}
}

func TestGetNeverHangsOnOneHost(t *testing.T) {
	testutil.CheckGoroutines(t)
	const k, n, shardSize = 12, 20, 64 << 10
	cfg := TransferConfig{ShardTimeoutBase: 3 * time.Second, MinLinkRate: 1 << 30, HedgeDelay: 50 * time.Millisecond}
	deadline := cfg.ShardDeadline(shardSize)
	tests := []struct {
		name string
		// frozen, dead: hosts (by position in hosts) that freeze or refuse.
		frozen, dead []int
		// peerDown: the hosts the peer table marks down.
		peerDown []int
		// maxCalls bounds the requests each dead or frozen host gets.
		maxCalls int
	}{
		{name: "frozen host of the first data shard", frozen: []int{0}, maxCalls: 1},
		{name: "frozen hosts of several data shards", frozen: []int{0, 3, 7}, maxCalls: 1},
		{name: "as many frozen hosts as the window", frozen: []int{0, 1, 2, 3, 4, 5, 6, 7}, maxCalls: 1},
		{name: "8 dead hosts the peer table does not know about", dead: []int{0, 1, 2, 3, 4, 5, 6, 7}, maxCalls: 1},
		{name: "8 dead hosts the peer table marks down", dead: []int{0, 1, 2, 3, 4, 5, 6, 7},
			peerDown: []int{0, 1, 2, 3, 4, 5, 6, 7}, maxCalls: 0},
		{name: "7 dead and 1 frozen", dead: []int{1, 2, 3, 4, 5, 6, 7}, frozen: []int{0}, maxCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newMemTransport()
			hosts := memHosts(n)
			sf := putFile(t, tr, hosts, k, n, shardSize, 5*(k*shardSize-SegmentOverhead)+1000)
			// Name the hosts by the shard they hold in stripe 0, so "the first
			// data shard" means the one a get asks first.
			byShard := make([]string, n)
			for _, r := range sf.recs {
				if r.Stripe == 0 {
					byShard[r.Index] = r.HostID
				}
			}
			down := map[string]bool{}
			get := func() time.Duration {
				t.Helper()
				f := &Fetcher{Transport: tr, Config: cfg}
				ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
				defer cancel()
				start := time.Now()
				rd, err := f.Open(ctx, sf.m, sf.recs, sf.key, sf.prefix, func(id string) bool { return down[id] })
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				got, err := io.ReadAll(rd)
				rd.Close()
				elapsed := time.Since(start)
				if err != nil {
					t.Fatalf("read after %s: %v", elapsed, err)
				}
				if !bytes.Equal(got, sf.plain) {
					t.Fatal("the file read back differs from the one stored")
				}
				return elapsed
			}
			// The same get with every host well, on the same (possibly
			// loaded) machine, is the baseline.
			healthy := get()
			for _, i := range tt.frozen {
				tr.set(byShard[i], hostFrozen)
			}
			for _, i := range tt.dead {
				tr.set(byShard[i], hostDead)
			}
			for _, i := range tt.peerDown {
				down[byShard[i]] = true
			}
			tr.resetCalls()
			// A frozen host costs at most one per-shard deadline over the
			// healthy get (in fact only the hedge delay).
			if elapsed := get(); elapsed > healthy+deadline {
				t.Errorf("get of %d stripes took %s, want under the healthy get's %s plus one shard deadline (%s)",
					sf.m.Stripes, elapsed, healthy, deadline)
			}
			for _, i := range append(append([]int{}, tt.dead...), tt.frozen...) {
				if c := tr.calls(byShard[i]); c > tt.maxCalls {
					t.Errorf("host of shard %d was asked %d times in a %d-stripe get, want at most %d (spares first)",
						i, c, sf.m.Stripes, tt.maxCalls)
				}
			}
		})
	}
}

// TestGetReadsAroundWrongBytes: shards are taken unhashed and the stripe's
// AEAD tag proves them, so a host serving wrong bytes of the right length
// makes its stripe fetch again with every shard checked. That finds the
// host, reports it once and avoids it for the rest of the read, and the
// file comes back whole. With more liars than spares the read fails: it
// never hands out wrong bytes.
func TestGetReadsAroundWrongBytes(t *testing.T) {
	testutil.CheckGoroutines(t)
	const k, n, shardSize = 4, 6, 16 << 10
	tests := []struct {
		name    string
		liars   int
		wantErr bool
	}{
		{name: "one liar", liars: 1},
		{name: "as many liars as spares", liars: n - k},
		{name: "more liars than spares", liars: n - k + 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newMemTransport()
			hosts := memHosts(n)
			sf := putFile(t, tr, hosts, k, n, shardSize, 8*(k*shardSize-SegmentOverhead))
			// The liars hold the first data shards of stripe 0, so the
			// first stripe needs them.
			liars := map[string]bool{}
			for _, r := range sf.recs {
				if r.Stripe == 0 && r.Index < tt.liars {
					tr.set(r.HostID, hostLiar)
					liars[r.HostID] = true
				}
			}
			var mu sync.Mutex
			reported := map[string]int{}
			f := &Fetcher{Transport: tr, OnCorrupt: func(_ ShardAddr, host Candidate) {
				mu.Lock()
				defer mu.Unlock()
				reported[host.ID]++
			}}
			got, err := func() ([]byte, error) {
				rd, err := f.Open(t.Context(), sf.m, sf.recs, sf.key, sf.prefix, nil)
				if err != nil {
					return nil, err
				}
				defer rd.Close()
				return io.ReadAll(rd)
			}()
			if tt.wantErr {
				if err == nil {
					t.Fatal("read with more lying hosts than spares succeeded")
				}
				if !errors.Is(err, ErrTooFewShards) {
					t.Errorf("read = %v, want ErrTooFewShards", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if !bytes.Equal(got, sf.plain) {
				t.Fatal("the file read back differs from the one stored")
			}
			for id := range liars {
				if reported[id] != 1 {
					t.Errorf("liar %s reported %d times, want once (then avoided)", id, reported[id])
				}
				if c := tr.calls(id); c > 2 {
					t.Errorf("liar %s asked %d times in a %d-stripe read, want at most 2", id, c, sf.m.Stripes)
				}
			}
			for id, c := range reported {
				if !liars[id] {
					t.Errorf("honest host %s reported %d times", id, c)
				}
			}
		})
	}
}

func TestGetFailsWhenTooFewHostsAnswer(t *testing.T) {
	testutil.CheckGoroutines(t)
	const k, n, shardSize = 4, 6, 16 << 10
	cfg := TransferConfig{ShardTimeoutBase: 300 * time.Millisecond, MinLinkRate: 1 << 30, HedgeDelay: 20 * time.Millisecond,
		Retries: 1, BackoffBase: time.Millisecond, BackoffMax: time.Millisecond}
	tr := newMemTransport()
	hosts := memHosts(n)
	sf := putFile(t, tr, hosts, k, n, shardSize, 20_000)
	// Three hosts gone of six: no k shards. The get must give up after the
	// spares and one retry round, each bounded by the shard deadline.
	tr.set(hosts[0].ID, hostFrozen)
	tr.set(hosts[1].ID, hostDead)
	tr.set(hosts[2].ID, hostFrozen)
	f := &Fetcher{Transport: tr, Config: cfg}
	start := time.Now()
	_, err := f.Open(t.Context(), sf.m, sf.recs, sf.key, sf.prefix, nil)
	if err == nil {
		t.Fatal("Open with 3 of 6 hosts gone succeeded, want ErrTooFewShards")
	}
	if !errors.Is(err, ErrTooFewShards) {
		t.Fatalf("Open = %v, want ErrTooFewShards", err)
	}
	if elapsed, limit := time.Since(start), 2*(cfg.ShardDeadline(shardSize)+50*time.Millisecond)+2*time.Second; elapsed > limit {
		t.Errorf("giving up took %s, want under %s (two rounds of deadlines)", elapsed, limit)
	}
}

// TestReadAheadSharesOneWindow: a read fetches the stripes after the one
// being read at once, their requests sharing one window of Window: never
// more than Window requests run, and the window is used whole although
// it is smaller than k.
func TestReadAheadSharesOneWindow(t *testing.T) {
	testutil.CheckGoroutines(t)
	const k, n, shardSize, window = 4, 6, 16 << 10, 3
	tr := newMemTransport()
	hosts := memHosts(n)
	sf := putFile(t, tr, hosts, k, n, shardSize, 8*(k*shardSize-SegmentOverhead))
	tr.delay = 10 * time.Millisecond
	// No hedges: a slow request gives its token back, which would let
	// more than the window run.
	f := &Fetcher{Transport: tr, Config: TransferConfig{Window: window, HedgeDelay: time.Hour}}
	rd, err := f.Open(t.Context(), sf.m, sf.recs, sf.key, sf.prefix, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var got bytes.Buffer
	if _, err := io.Copy(&got, rd); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), sf.plain) {
		t.Fatal("the file read back differs from the one stored")
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.maxInFlight != window {
		t.Errorf("at most %d shard requests ran at once, want the window, %d", tr.maxInFlight, window)
	}
	if tr.maxStripes < 2 {
		t.Errorf("requests of at most %d stripe ran at once, want the next stripes fetched beside the current one", tr.maxStripes)
	}
}

// TestPutBoundsEachShard: a host that takes a shard upload and never
// answers costs the put one shard deadline per attempt, after which the
// shard goes to another host; the put does not wait for the transport's
// own limits.
func TestPutBoundsEachShard(t *testing.T) {
	testutil.CheckGoroutines(t)
	const k, n, shardSize = 4, 6, 16 << 10
	cfg := TransferConfig{ShardTimeoutBase: 200 * time.Millisecond, MinLinkRate: 1 << 30, Retries: -1}
	tr := newMemTransport()
	hosts := memHosts(n + 1)
	tr.set(hosts[0].ID, hostFrozen)
	db, err := sqlitedb.Open(t.Context(), filepath.Join(t.TempDir(), "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cat, err := OpenCatalog(t.Context(), db, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	key, prefix, err := NewAssetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, 3*(k*shardSize-SegmentOverhead))
	rand.Read(plain)
	m := Manifest{AssetID: "abound", Owner: "owner", Size: int64(len(plain)), Mode: "ec", K: k, N: n, ShardSize: shardSize, State: StatePending}
	if err := cat.Create(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	start := time.Now()
	res, err := (&Putter{Catalog: cat, Transport: tr, Config: cfg}).Put(ctx, PutRequest{Manifest: m, Key: key, Prefix: prefix, Hosts: hosts},
		bytes.NewReader(plain))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	for stripe, live := range res.Live {
		if live != n {
			t.Errorf("stripe %d has %d shards stored, want %d (the frozen host's on a spare)", stripe, live, n)
		}
	}
	// The frozen host is tried once (then it is known down): one deadline,
	// plus generous room for a loaded machine.
	if limit := cfg.ShardDeadline(shardSize) + 5*time.Second; elapsed > limit {
		t.Errorf("put took %s, want under %s", elapsed, limit)
	}
}
