package web

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/node/events"
)

// fakeNode is a hand-written Node. Its events go through a real node.Bus,
// so feed tests exercise the real drop-slow-subscriber policy.
type fakeNode struct {
	bus   *events.Bus
	token string
	info  node.Info

	// mu guards the fields below.
	mu       sync.Mutex
	announce node.Announce
	receipts []ledger.Receipt
	peers    []node.Peer
	mesh     node.MeshMetrics
	// meshErr, when set, is returned by Mesh.
	meshErr error
	// peersErr, when set, is returned by Peers.
	peersErr       error
	setActiveCalls []bool
	updates        []node.AnnounceUpdate
	// updateErr, when set, is returned by UpdateAnnounce.
	updateErr error
	// announceGate, when set, makes Announce wait for it to be closed.
	announceGate chan struct{}

	// Storage: assets newest first, and their plaintext by ID.
	assets []node.Asset
	blobs  map[string][]byte
	// putOpts records every PutAsset call's options.
	putOpts []node.PutOptions
	// putErr, when set, is returned by PutAsset before it reads anything.
	putErr error
	// openErr, when set, is returned by OpenAsset.
	openErr error
	// failAfter, when >= 0, makes reads of an opened asset fail after that
	// many bytes.
	failAfter int64
	// putRead counts the bytes the running PutAsset has read so far.
	putRead atomic.Int64
}

var _ Node = (*fakeNode)(nil)

const fakeToken = "s3cret-admin-token"

const fakeID identity.NodeID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"

func newFakeNode(now func() time.Time) *fakeNode {
	started := now().Add(-(3*time.Hour + 25*time.Minute))
	return &fakeNode{
		blobs:     make(map[string][]byte),
		failAfter: -1,
		bus:       events.NewBus(now),
		token:     fakeToken,
		info: node.Info{
			ID:        fakeID,
			Name:      "river-pi",
			ClusterID: "valley-mesh",
			Endpoint:  "http://10.42.0.7:7420",
			VerifyKey: "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
			BoxKey:    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
			Epoch:     7,
			Started:   started,
		},
		announce: node.Announce{
			NodeID:           fakeID,
			Name:             "river-pi",
			Endpoint:         "http://10.42.0.7:7420",
			Active:           true,
			Prices:           node.Prices{Compute: 1_500_000, Storage: 250_000},
			MinOncallPercent: 20,
			BurstPercentMax:  80,
			UpdatedAt:        started,
		},
		receipts: []ledger.Receipt{
			fakeReceipt(2, ledger.ResourceStorage, now().Add(-10*time.Minute)),
			fakeReceipt(1, ledger.ResourceCompute, now().Add(-40*time.Minute)),
		},
		peers: []node.Peer{
			{Endpoint: "http://10.42.0.8:7420", ID: "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH", Name: "school-laptop", Via: "static", State: node.PeerUp, Active: true, LastSeen: now().Add(-12 * time.Second)},
			{Endpoint: "http://10.42.0.9:7420", Via: "static", State: node.PeerUnknown},
			{Endpoint: "http://10.42.0.12:7420", ID: "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf", Name: "clinic-nuc", Via: "static", State: node.PeerDown, LastSeen: now().Add(-47 * time.Minute)},
		},
		mesh: node.MeshMetrics{
			Source: "file", Proto: "batman-adv", MeshOK: true, InterfacesUp: 2, ReadAt: now(),
			Neighbors: []node.MeshNeighbor{
				{Address: "fe80::c8a3:1bff:fe22:4d01", Iface: "wlan0-mesh", Metric: 255},
				{Address: "fe80::7e4f:2aff:fe10:99b2", Iface: "wlan0-mesh", Metric: 187.5},
			},
			Routes: []node.MeshRoute{
				{Destination: "10.42.0.8", Via: "fe80::c8a3:1bff:fe22:4d01", Metric: 255},
				{Destination: "10.42.0.12", Via: "fe80::7e4f:2aff:fe10:99b2", Metric: 121.3333},
			},
		},
	}
}

func fakeReceipt(seq uint64, kind string, at time.Time) ledger.Receipt {
	return ledger.Receipt{
		Version:      ledger.ReceiptVersion,
		ClusterID:    "valley-mesh",
		ResourceType: kind,
		JobID:        fmt.Sprintf("job-%04d-7f3a9c2e", seq),
		Units:        int64(seq) * 1_250_000,
		Metrics:      map[string]float64{"cpu_seconds": 1.5},
		Seq:          seq,
		IssuedAt:     at.UnixMilli(),
		NodeID:       fakeID,
		VerifyKey:    "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
		Signature:    fmt.Sprintf("%02x9f1c2b7d4e0a5f6c8b3d2e1f0a9b8c7d6e5f4a3b2c1d0e", seq),
	}
}

func (f *fakeNode) Info() node.Info { return f.info }

func (f *fakeNode) Announce(ctx context.Context) (node.Announce, error) {
	f.mu.Lock()
	gate := f.announceGate
	f.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return node.Announce{}, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.announce, nil
}

func (f *fakeNode) SetActive(_ context.Context, active bool) (node.Announce, error) {
	f.mu.Lock()
	f.setActiveCalls = append(f.setActiveCalls, active)
	f.announce.Active = active
	a := f.announce
	f.mu.Unlock()
	f.bus.Publish(node.ToggleChanged{Active: active})
	return a, nil
}

func (f *fakeNode) UpdateAnnounce(_ context.Context, u node.AnnounceUpdate) (node.Announce, error) {
	f.mu.Lock()
	f.updates = append(f.updates, u)
	if f.updateErr != nil {
		err := f.updateErr
		f.mu.Unlock()
		return node.Announce{}, err
	}
	next := f.announce
	if u.ComputePrice != nil {
		next.Prices.Compute = *u.ComputePrice
	}
	if u.StoragePrice != nil {
		next.Prices.Storage = *u.StoragePrice
	}
	if u.MinOncallPercent != nil {
		next.MinOncallPercent = *u.MinOncallPercent
	}
	if u.BurstPercentMax != nil {
		next.BurstPercentMax = *u.BurstPercentMax
	}
	if next.Prices.Compute < 0 || next.Prices.Storage < 0 || next.MinOncallPercent < 0 ||
		next.MinOncallPercent > 100 || next.BurstPercentMax < 0 || next.BurstPercentMax > 100 {
		f.mu.Unlock()
		return node.Announce{}, fmt.Errorf("%w: value out of range", node.ErrInvalid)
	}
	f.announce = next
	f.mu.Unlock()
	f.bus.Publish(node.AnnounceChanged{Announce: next})
	return next, nil
}

func (f *fakeNode) RecentReceipts(_ context.Context, limit int) ([]ledger.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rs := f.receipts
	if len(rs) > limit {
		rs = rs[:limit]
	}
	return append([]ledger.Receipt(nil), rs...), nil
}

func (f *fakeNode) Peers(context.Context) ([]node.Peer, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.peersErr != nil {
		return nil, f.peersErr
	}
	return append([]node.Peer(nil), f.peers...), nil
}

func (f *fakeNode) Mesh(context.Context) (node.MeshMetrics, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.meshErr != nil {
		return node.MeshMetrics{}, f.meshErr
	}
	return f.mesh, nil
}

// setPeer adds p to the peer table, or replaces the entry with its
// endpoint, keeping the table sorted by endpoint, and publishes it, as the
// engine does when a beacon or a poll changes a peer.
func (f *fakeNode) setPeer(p node.Peer) {
	f.mu.Lock()
	out := make([]node.Peer, 0, len(f.peers)+1)
	for _, q := range f.peers {
		if q.Endpoint != p.Endpoint {
			out = append(out, q)
		}
	}
	out = append(out, p)
	slices.SortFunc(out, func(a, b node.Peer) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	f.peers = out
	f.mu.Unlock()
	f.bus.Publish(node.PeerChanged{Peer: p})
}

// setMesh replaces the mesh metrics and publishes them.
func (f *fakeNode) setMesh(m node.MeshMetrics) {
	f.mu.Lock()
	f.mesh = m
	f.mu.Unlock()
	f.bus.Publish(node.MeshChanged{Mesh: m})
}

func (f *fakeNode) Subscribe(buffer int) *node.Subscription { return f.bus.Subscribe(buffer) }

func (f *fakeNode) CheckAdminToken(token string) bool {
	return subtle.ConstantTimeCompare([]byte(token), []byte(f.token)) == 1
}

// addReceipt stores a new receipt and publishes it, as the engine does
// after a job.
func (f *fakeNode) addReceipt(rc ledger.Receipt) {
	f.mu.Lock()
	f.receipts = append([]ledger.Receipt{rc}, f.receipts...)
	f.mu.Unlock()
	f.bus.Publish(node.ReceiptSigned{Receipt: rc})
}

func (f *fakeNode) calls() (setActive []bool, updates []node.AnnounceUpdate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.setActiveCalls...), append([]node.AnnounceUpdate(nil), f.updates...)
}

func (f *fakeNode) currentAnnounce() node.Announce {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.announce
}

// fakeShardSize is the fake's shard size: stripes hold k of them.
const fakeShardSize = 256 << 10

// PutAsset reads r in small chunks, as the engine does, keeping the bytes
// (fine in a fake). The asset is listed as pending while it reads, with an
// AssetChanged event per MiB, then as stored.
func (f *fakeNode) PutAsset(ctx context.Context, r io.Reader, opts node.PutOptions) (node.Asset, error) {
	f.mu.Lock()
	f.putOpts = append(f.putOpts, opts)
	err := f.putErr
	f.mu.Unlock()
	if err != nil {
		return node.Asset{}, err
	}
	a := node.Asset{Name: opts.Name, Mode: opts.Mode, K: opts.K, N: opts.N, ShardSize: fakeShardSize,
		CreatedAt: time.Now(), State: node.AssetPending}
	switch {
	case opts.Mode == "rep":
		a.K, a.N = 1, cmp.Or(opts.R, 5)
	case opts.K == 0 && opts.N == 0:
		a.K, a.N, a.Adaptive = 12, 20, true
	case opts.K == 0 || opts.N == 0 || opts.K >= opts.N:
		return node.Asset{}, fmt.Errorf("%w: k (%d) must be less than n (%d), both set", node.ErrInvalid, opts.K, opts.N)
	}
	var idb [12]byte
	_, _ = rand.Read(idb[:])
	a.ID = hex.EncodeToString(idb[:])
	f.putRead.Store(0)
	var buf bytes.Buffer
	chunk := make([]byte, 32<<10)
	nextEvent := int64(1 << 20)
	for {
		if err := ctx.Err(); err != nil {
			return node.Asset{}, err
		}
		n, err := r.Read(chunk)
		buf.Write(chunk[:n])
		read := f.putRead.Add(int64(n))
		if read >= nextEvent {
			// Stripes written so far have all n shards; the one being
			// written has none yet.
			nextEvent += 1 << 20
			a.Size = read
			full := int(read / int64(a.K*fakeShardSize))
			a.StripeShards = make([]int, full+1)
			for i := range full {
				a.StripeShards[i] = a.N
			}
			a.Stripes = full + 1
			f.setAsset(a, nil)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.dropAsset(a.ID)
			return node.Asset{}, fmt.Errorf("read plaintext: %w", err)
		}
	}
	if opts.Size >= 0 && int64(buf.Len()) != opts.Size {
		f.dropAsset(a.ID)
		return node.Asset{}, fmt.Errorf("%w: got %d bytes, size said %d", node.ErrInvalid, buf.Len(), opts.Size)
	}
	sum := sha256.Sum256(buf.Bytes())
	a.FileHash = hex.EncodeToString(sum[:])
	a.Size = int64(buf.Len())
	a.Stripes = max(1, int((a.Size+int64(a.K*fakeShardSize)-1)/int64(a.K*fakeShardSize)))
	a.StripeShards = make([]int, a.Stripes)
	for i := range a.StripeShards {
		a.StripeShards[i] = a.N
	}
	a.Hosts = a.N
	a.State = node.AssetStored
	a.UpdatedAt = time.Now()
	f.setAsset(a, buf.Bytes())
	return a, nil
}

// setAsset lists a (replacing an older version) and publishes it; data,
// when not nil, is its plaintext.
func (f *fakeNode) setAsset(a node.Asset, data []byte) {
	f.mu.Lock()
	out := []node.Asset{a}
	for _, b := range f.assets {
		if b.ID != a.ID {
			out = append(out, b)
		}
	}
	f.assets = out
	if data != nil {
		f.blobs[a.ID] = data
	}
	f.mu.Unlock()
	f.bus.Publish(node.AssetChanged{Asset: a})
}

func (f *fakeNode) dropAsset(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := f.assets[:0:0]
	for _, b := range f.assets {
		if b.ID != id {
			out = append(out, b)
		}
	}
	f.assets = out
	delete(f.blobs, id)
}

func (f *fakeNode) Assets(context.Context) ([]node.Asset, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]node.Asset(nil), f.assets...), nil
}

func (f *fakeNode) OpenAsset(_ context.Context, id string) (io.ReadCloser, node.Asset, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.openErr != nil {
		return nil, node.Asset{}, f.openErr
	}
	data, ok := f.blobs[id]
	if !ok {
		return nil, node.Asset{}, fmt.Errorf("asset %s: %w", id, node.ErrNotFound)
	}
	var a node.Asset
	for _, b := range f.assets {
		if b.ID == id {
			a = b
		}
	}
	var r io.Reader = bytes.NewReader(data)
	if f.failAfter >= 0 {
		r = io.MultiReader(io.LimitReader(r, f.failAfter), errReader{fmt.Errorf("stripe 3: %w: 11 of the 12 shards it needs", node.ErrUnavailable)})
	}
	return io.NopCloser(r), a, nil
}

// errReader fails every read with err.
type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// putCalls returns the options of every PutAsset call so far.
func (f *fakeNode) putCalls() []node.PutOptions {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]node.PutOptions(nil), f.putOpts...)
}

// addAsset lists a stored file with the given plaintext, without events.
func (f *fakeNode) addAsset(a node.Asset, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.assets = append([]node.Asset{a}, f.assets...)
	if data != nil {
		f.blobs[a.ID] = data
	}
}
