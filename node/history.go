package node

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/history"
	"github.com/offgrid-net/offgrid/storage"
)

// Usage is the node's storage and network figures at one time.
type Usage = history.Usage

// traffic counts shard bytes through the node since it started, in all
// and per peer.
type traffic struct {
	in, out atomic.Int64

	// mu guards byPeer: node ID -> bytes exchanged with that peer, at most
	// maxTrafficPeers entries (a node beyond that still counts in the
	// totals).
	mu     sync.Mutex
	byPeer map[identity.NodeID]*PeerTraffic
}

// maxTrafficPeers bounds the peers whose traffic is counted one by one: as
// many as the members gossip tracks.
const maxTrafficPeers = 4096

// PeerTraffic is the shard bytes exchanged with one peer since this node
// started.
type PeerTraffic struct {
	// Sent is shard bytes this node sent the peer (uploads to it, shards it
	// fetched from here); Received the shard bytes it got from the peer.
	Sent, Received int64
}

// sent counts n bytes sent to peer.
func (t *traffic) sent(peer string, n int64) {
	t.out.Add(n)
	t.forPeer(peer, func(p *PeerTraffic) { p.Sent += n })
}

// received counts n bytes received from peer.
func (t *traffic) received(peer string, n int64) {
	t.in.Add(n)
	t.forPeer(peer, func(p *PeerTraffic) { p.Received += n })
}

// forPeer applies add to peer's counters. A caller that is not a node (an
// operator with the admin token, "unknown") has no per-peer counter.
func (t *traffic) forPeer(peer string, add func(*PeerTraffic)) {
	if n := len(peer); n == 0 || n > maxNodeIDLen {
		return
	}
	id := identity.NodeID(peer)
	if _, err := id.PublicKey(); err != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.byPeer[id]
	if !ok {
		if len(t.byPeer) >= maxTrafficPeers {
			return
		}
		if t.byPeer == nil {
			t.byPeer = map[identity.NodeID]*PeerTraffic{}
		}
		p = &PeerTraffic{}
		t.byPeer[id] = p
	}
	add(p)
}

// of returns the bytes exchanged with peer.
func (t *traffic) of(peer identity.NodeID) PeerTraffic {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.byPeer[peer]; ok {
		return *p
	}
	return PeerTraffic{}
}

// maxNodeIDLen bounds a node ID worth parsing (a did:key of an Ed25519 key
// is 56 characters).
const maxNodeIDLen = 128

// countingTransport counts the shard bytes this node moves to and from
// other hosts.
type countingTransport struct {
	storage.Transport
	t *traffic
}

func (c countingTransport) PutShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr, data []byte, hash string) error {
	err := c.Transport.PutShard(ctx, host, addr, data, hash)
	if err == nil {
		c.t.sent(host.ID, int64(len(data)))
	}
	return err
}

var _ storage.Auditor = countingTransport{}

// AuditShard passes an audit on: the embedded Transport does not show the
// remote transport's Auditor, and without it no remote shard was ever
// audited by challenge (each audit failed with "cannot audit").
func (c countingTransport) AuditShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr, ask storage.AuditAsk) (string, error) {
	au, ok := c.Transport.(storage.Auditor)
	if !ok {
		return "", fmt.Errorf("%w: this transport cannot audit", storage.ErrHostRefused)
	}
	return au.AuditShard(ctx, host, addr, ask)
}

func (c countingTransport) GetShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr, buf []byte) ([]byte, error) {
	data, err := c.Transport.GetShard(ctx, host, addr, buf)
	c.t.received(host.ID, int64(len(data)))
	return data, err
}

// Usage returns the node's figures now (traffic since it started).
func (n *Node) Usage(ctx context.Context) (Usage, error) {
	u := Usage{At: n.cfg.Now(), BytesIn: n.traffic.in.Load(), BytesOut: n.traffic.out.Load()}
	ps, err := n.Peers(ctx)
	if err != nil {
		return Usage{}, err
	}
	u.PeersTotal = len(ps)
	for _, p := range ps {
		if p.State == PeerUp {
			u.PeersUp++
		}
	}
	if u.ShardsHosted, u.HostedBytes, err = n.shards.CountOthers(ctx, string(n.info.ID)); err != nil {
		return Usage{}, err
	}
	files, err := n.assets.List(ctx)
	if err != nil {
		return Usage{}, err
	}
	u.FilesOwned = len(files)
	for _, f := range files {
		if f.State == AssetStored {
			u.FilesHealthy++
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(n.cfg.DataDir, &st); err == nil {
		bsize := int64(st.Bsize) //nolint:unconvert // int32 on some platforms
		u.DiskUsed = (int64(st.Blocks) - int64(st.Bfree)) * bsize
		u.DiskFree = int64(st.Bavail) * bsize
	}
	return u, nil
}

// History returns the recorded samples taken at or after since, oldest
// first.
func (n *Node) History(ctx context.Context, since time.Time) ([]Usage, error) {
	return n.history.Since(ctx, since)
}

// RecordHistory records one sample now (see history.Recorder.Record).
func (n *Node) RecordHistory(ctx context.Context) error { return n.history.Record(ctx) }
