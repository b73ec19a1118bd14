package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/offgrid-net/offgrid/node/nodeerr"
	"github.com/offgrid-net/offgrid/storage"
)

// Shard describes a shard this node hosts.
type Shard = storage.Shard

// ShardAddress is where a host keeps a shard: its asset ID on the host
// (the file's ID and stripe) and its index.
type ShardAddress = storage.Addr

// StoreShard stores a shard another node streams from r, at most
// MaxShardBytes long. wantHash, when not empty, is the content hash the
// sender claims. storedBy names the caller (a node ID, or "admin"). At most
// StoreConcurrency uploads run at once; one more gets ErrBusy at once
// instead of waiting.
func (n *Node) StoreShard(ctx context.Context, assetID string, index int, r io.Reader, wantHash, storedBy string) (Shard, error) {
	if err := n.checkRunning(); err != nil {
		return Shard{}, err
	}
	if err := storage.ValidateAddress(assetID, index); err != nil {
		return Shard{}, nodeerr.FromStorage(err)
	}
	select {
	case n.storeSlots <- struct{}{}:
		defer func() { <-n.storeSlots }()
	default:
		n.metrics.storeBusy.Inc()
		return Shard{}, fmt.Errorf("%w: %d uploads already running", ErrBusy, cap(n.storeSlots))
	}
	return n.storeShard(ctx, assetID, index, r, wantHash, storedBy)
}

// StoreSignedShard is StoreShard for an upload whose sender signed the
// digest of its bytes: signedHash is that digest, and bytes that do not
// hash to it fail the signature (ErrBadSignature) rather than the shard's
// hash (ErrInvalid), because they are not the bytes the sender signed.
func (n *Node) StoreSignedShard(ctx context.Context, assetID string, index int, r io.Reader, signedHash, storedBy string) (Shard, error) {
	sh, err := n.StoreShard(ctx, assetID, index, r, signedHash, storedBy)
	if errors.Is(err, storage.ErrHashMismatch) {
		// %v: the error must not also match ErrInvalid.
		return Shard{}, fmt.Errorf("%w: the body is not the one signed (%v)", ErrBadSignature, err)
	}
	return sh, err
}

// storeShard stores a shard if the host is active, and reports it.
func (n *Node) storeShard(ctx context.Context, assetID string, index int, r io.Reader, wantHash, storedBy string) (Shard, error) {
	if !n.active(ctx) {
		return Shard{}, fmt.Errorf("%w: it stores no shards", ErrInactive)
	}
	sh, err := n.shards.Put(ctx, assetID, index, r, n.cfg.MaxShardBytes, wantHash, storedBy)
	if err != nil {
		return Shard{}, nodeerr.FromStorage(err)
	}
	if storedBy != string(n.info.ID) {
		n.traffic.received(storedBy, sh.Size)
	}
	n.metrics.shardsStored.Inc()
	n.metrics.shardBytes.Add(float64(sh.Size))
	n.bus.Publish(ShardStored{AssetID: sh.AssetID, Index: sh.Index, Size: sh.Size, Hash: sh.Hash})
	return sh, nil
}

// OpenShard returns the bytes of a stored shard after checking them against
// their hash. A shard that fails is quarantined and ErrCorrupt returned.
// The shard's size counts as bytes sent (the overview's traffic) to
// caller, the node ID of the node that asked ("" or a name that is not a
// node ID counts in the total only).
func (n *Node) OpenShard(ctx context.Context, assetID string, index int, caller string) (io.ReadCloser, Shard, error) {
	rc, sh, err := n.openShard(ctx, assetID, index)
	if err == nil {
		n.traffic.sent(caller, sh.Size)
	}
	return rc, sh, err
}

// openShard is OpenShard without counting traffic, for this node's own
// reads of the shards it hosts.
func (n *Node) openShard(ctx context.Context, assetID string, index int) (io.ReadCloser, Shard, error) {
	if err := n.checkRunning(); err != nil {
		return nil, Shard{}, err
	}
	rc, sh, err := n.shards.Open(ctx, assetID, index)
	if err != nil {
		if errors.Is(err, storage.ErrCorrupt) {
			n.shardLost(assetID, index, "read", err)
		}
		return nil, Shard{}, nodeerr.FromStorage(err)
	}
	return rc, sh, nil
}

// StatShard returns a stored shard's metadata without reading its bytes,
// after checking that its blob is on disk with the recorded size; a lost
// blob is quarantined and ErrCorrupt returned.
func (n *Node) StatShard(ctx context.Context, assetID string, index int) (Shard, error) {
	if err := n.checkRunning(); err != nil {
		return Shard{}, err
	}
	sh, err := n.shards.Stat(ctx, assetID, index)
	if err != nil {
		if errors.Is(err, storage.ErrCorrupt) {
			n.shardLost(assetID, index, "check", err)
		}
		return Shard{}, nodeerr.FromStorage(err)
	}
	return sh, nil
}

// shardLost counts, logs and announces a hosted shard that a check found
// missing or corrupt (the shard store has quarantined it).
func (n *Node) shardLost(assetID string, index int, foundBy string, err error) {
	n.metrics.shardsCorrupt.Inc()
	n.log.Warn("Hosted shard lost or corrupt; quarantined", "asset", assetID, "index", index, "found_by", foundBy, "err", err)
	n.bus.Publish(ShardLost{AssetID: assetID, Index: index, FoundBy: foundBy})
}

// localShards is the transport for the shards this node hosts itself: the
// same intake rules as a shard from another node (active host, size limit,
// hash check, event), with no HTTP, no signature and no upload slot (the
// put's own window bounds it). Errors are classified as a remote host's
// answers are.
type localShards struct{ n *Node }

var _ storage.Transport = localShards{}

// hostErr classifies this host's own error as the storage pipeline
// classifies a remote host's answer.
func hostErr(err error) error {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrCorrupt):
		return fmt.Errorf("%w: %v", storage.ErrNotFound, err)
	case errors.Is(err, ErrStopped):
		return fmt.Errorf("%w: %v", storage.ErrHostUnreachable, err)
	default:
		return fmt.Errorf("%w: %v", storage.ErrHostRefused, err)
	}
}

func (l localShards) PutShard(ctx context.Context, _ storage.Candidate, addr storage.ShardAddr, data []byte, hash string) error {
	if err := l.n.checkRunning(); err != nil {
		return hostErr(err)
	}
	if _, err := l.n.storeShard(ctx, addr.HostAssetID(), addr.Index, bytes.NewReader(data), hash, string(l.n.info.ID)); err != nil {
		return hostErr(err)
	}
	return nil
}

func (l localShards) GetShard(ctx context.Context, _ storage.Candidate, addr storage.ShardAddr, buf []byte) ([]byte, error) {
	rc, sh, err := l.n.openShard(ctx, addr.HostAssetID(), addr.Index)
	if err != nil {
		return nil, hostErr(err)
	}
	defer rc.Close()
	if sh.Size > int64(len(buf)) {
		return nil, fmt.Errorf("%w: shard of %d bytes, at most %d expected", storage.ErrHostRefused, sh.Size, len(buf))
	}
	data := buf[:sh.Size]
	if _, err := io.ReadFull(rc, data); err != nil {
		return nil, hostErr(fmt.Errorf("%w: read shard: %v", ErrCorrupt, err))
	}
	return data, nil
}

func (l localShards) StatShard(ctx context.Context, _ storage.Candidate, addr storage.ShardAddr) (string, error) {
	sh, err := l.n.StatShard(ctx, addr.HostAssetID(), addr.Index)
	if err != nil {
		return "", hostErr(err)
	}
	return sh.Hash, nil
}

func (l localShards) DeleteShard(ctx context.Context, _ storage.Candidate, addr storage.ShardAddr) error {
	if err := l.n.DeleteShard(ctx, addr.HostAssetID(), addr.Index, string(l.n.info.ID)); err != nil {
		return hostErr(err)
	}
	return nil
}

func (l localShards) ClaimShards(ctx context.Context, _ storage.Candidate, addrs []storage.ShardAddr) (int, error) {
	claimed, err := l.n.ClaimShards(ctx, string(l.n.info.ID), hostAddrs(addrs))
	if err != nil {
		return 0, hostErr(err)
	}
	return claimed, nil
}

// hostAddrs returns the addresses hosts store shards under.
func hostAddrs(addrs []storage.ShardAddr) []storage.Addr {
	out := make([]storage.Addr, len(addrs))
	for i, a := range addrs {
		out[i] = storage.Addr{AssetID: a.HostAssetID(), Index: a.Index}
	}
	return out
}

// AdminCaller is the name a shard stored with the admin token records as
// its storer; such shards are never collected.
const AdminCaller = "admin"

// DeleteShard drops a hosted shard at the request of caller: the node that
// stored it, or AdminCaller. Anyone else gets ErrForbidden and nothing
// changes.
func (n *Node) DeleteShard(ctx context.Context, assetID string, index int, caller string) error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	sh, err := n.shards.Stat(ctx, assetID, index)
	if err != nil {
		return nodeerr.FromStorage(err)
	}
	if caller != AdminCaller && caller != sh.StoredBy {
		return fmt.Errorf("%w: only the node that stored shard %s/%d, or the admin, may delete it", ErrForbidden, assetID, index)
	}
	if _, err := n.shards.Delete(ctx, assetID, index); err != nil {
		return nodeerr.FromStorage(err)
	}
	n.metrics.shardsDropped.Inc()
	n.log.Debug("Shard deleted at its owner's request", "asset", assetID, "index", index, "by", caller)
	return nil
}

// ClaimShards renews the lease of caller on the shards it stored at addrs
// (at most storage.MaxClaimBatch) and returns how many it renewed. Shards
// another node stored are left alone.
func (n *Node) ClaimShards(ctx context.Context, caller string, addrs []ShardAddress) (int, error) {
	if err := n.checkRunning(); err != nil {
		return 0, err
	}
	claimed, err := n.shards.Claim(ctx, caller, addrs)
	if err != nil {
		return 0, nodeerr.FromStorage(err)
	}
	return claimed, nil
}

// HostedShards returns how many shards this node holds and the bytes their
// blobs take on disk.
func (n *Node) HostedShards(ctx context.Context) (count int, bytes int64, err error) {
	return n.shards.Count(ctx)
}

// collectBatch bounds the shards one collection pass removes.
const collectBatch = 1024

// collectEvery is how often the node looks for shards whose lease ended:
// a tenth of the grace period, between 100 ms and an hour.
func collectEvery(grace time.Duration) time.Duration {
	return min(max(grace/10, 100*time.Millisecond), time.Hour)
}

// collectLoop drops, every collectEvery, the shards other nodes stored
// that nobody claimed for ShardGrace, until ctx ends. It collects nothing
// until the node itself has run for a whole grace period: while it was
// down no owner could claim anything.
func (n *Node) collectLoop(ctx context.Context) error {
	grace := n.cfg.ShardGrace
	t := time.NewTicker(collectEvery(grace))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := n.cfg.Now()
		if now.Sub(n.info.Started) < grace {
			continue
		}
		removed, err := n.shards.Collect(ctx, now.Add(-grace), []string{AdminCaller}, collectBatch)
		for _, sh := range removed {
			n.metrics.shardsCollected.Inc()
			n.log.Info("Shard collected: unclaimed for the grace period", "asset", sh.AssetID, "index", sh.Index,
				"stored_by", sh.StoredBy, "bytes", sh.Size)
		}
		if err != nil && ctx.Err() == nil {
			n.log.Warn("Shard collection failed", "err", err)
		}
	}
}
