package node

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/periodic"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/storage"
)

// The history table has its own migrations (component "node-history"), so
// it numbers its versions apart from the node's other tables.
//
//go:embed historydb/migrations/*.sql
var historyFiles embed.FS

// HistoryConfig configures the node's recorded history (the dashboard's
// overview charts).
type HistoryConfig struct {
	// Interval is how often a sample is recorded. Default 1 minute;
	// negative: never (tests record samples when they choose).
	Interval time.Duration
	// Keep is how long samples are kept; older ones are deleted at each
	// sample. Default 7 days.
	Keep time.Duration
}

// Defaults of HistoryConfig.
const (
	DefaultHistoryInterval = time.Minute
	DefaultHistoryKeep     = 7 * 24 * time.Hour
)

// Usage is the node's storage and network figures at one time.
type Usage struct {
	At time.Time
	// PeersUp counts the peers that are up, of PeersTotal known.
	PeersUp, PeersTotal int
	// BytesIn and BytesOut are shard bytes received and sent: for a
	// sample, during its interval; for Usage, since the node started.
	BytesIn, BytesOut int64
	// ShardsHosted counts the shards this node stores for other nodes,
	// HostedBytes their size.
	ShardsHosted int
	HostedBytes  int64
	// FilesOwned counts this node's own files, FilesHealthy those stored
	// with every stripe above its repair threshold.
	FilesOwned, FilesHealthy int
	// DiskUsed and DiskFree are the data directory's file system's used
	// bytes and bytes free for the node (0 when it cannot be read).
	DiskUsed, DiskFree int64
}

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

func (c countingTransport) GetShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr, maxSize int) ([]byte, error) {
	data, err := c.Transport.GetShard(ctx, host, addr, maxSize)
	c.t.received(host.ID, int64(len(data)))
	return data, err
}

// migrateHistory creates the history table.
func migrateHistory(ctx context.Context, n *Node) error {
	sub, err := fs.Sub(historyFiles, "historydb")
	if err != nil {
		return fmt.Errorf("history migrations: %w", err)
	}
	return sqlitedb.Migrate(ctx, n.db, "node-history", sub)
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
	rows, err := n.db.QueryContext(ctx, `SELECT at, peers_up, peers_total, bytes_in, bytes_out, shards_hosted,
		hosted_bytes, files_owned, files_healthy, disk_used, disk_free FROM node_history WHERE at >= ? ORDER BY at`,
		since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read history: %w", err)
	}
	defer rows.Close()
	var out []Usage
	for rows.Next() {
		var u Usage
		var at int64
		if err := rows.Scan(&at, &u.PeersUp, &u.PeersTotal, &u.BytesIn, &u.BytesOut, &u.ShardsHosted,
			&u.HostedBytes, &u.FilesOwned, &u.FilesHealthy, &u.DiskUsed, &u.DiskFree); err != nil {
			return nil, fmt.Errorf("read history: %w", err)
		}
		u.At = time.UnixMilli(at).UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}

// historyRecorder records samples; it remembers the traffic counters at
// the last sample so each row holds the bytes of its own interval.
type historyRecorder struct {
	lastIn, lastOut int64
}

// RecordHistory records one sample now and deletes the samples older than
// History.Keep. Run calls it every History.Interval; tests call it to
// record samples at the times they choose.
func (n *Node) RecordHistory(ctx context.Context) error {
	n.historyMu.Lock()
	defer n.historyMu.Unlock()
	u, err := n.Usage(ctx)
	if err != nil {
		return err
	}
	in, out := u.BytesIn, u.BytesOut
	u.BytesIn, u.BytesOut = in-n.history.lastIn, out-n.history.lastOut
	return sqlitedb.InTx(ctx, n.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO node_history(at, peers_up, peers_total, bytes_in,
			bytes_out, shards_hosted, hosted_bytes, files_owned, files_healthy, disk_used, disk_free)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, u.At.UnixMilli(), u.PeersUp, u.PeersTotal, u.BytesIn, u.BytesOut,
			u.ShardsHosted, u.HostedBytes, u.FilesOwned, u.FilesHealthy, u.DiskUsed, u.DiskFree); err != nil {
			return fmt.Errorf("record history: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM node_history WHERE at < ?`,
			u.At.Add(-n.cfg.History.Keep).UnixMilli()); err != nil {
			return fmt.Errorf("trim history: %w", err)
		}
		n.history.lastIn, n.history.lastOut = in, out
		return nil
	})
}

// runHistory records a sample every History.Interval until ctx ends. A
// failed sample is logged and the next one tried.
func (n *Node) runHistory(ctx context.Context) error {
	return periodic.Run(ctx, n.cfg.History.Interval, func(ctx context.Context) {
		if err := n.RecordHistory(ctx); err != nil && ctx.Err() == nil {
			n.log.Warn("Record history sample", "err", err)
		}
	})
}
