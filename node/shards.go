package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/offgrid-net/offgrid/node/nodeerr"
	"github.com/offgrid-net/offgrid/storage"
)

// Shard describes a shard this node hosts.
type Shard = storage.Shard

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
		n.traffic.in.Add(sh.Size)
	}
	n.metrics.shardsStored.Inc()
	n.metrics.shardBytes.Add(float64(sh.Size))
	n.bus.Publish(ShardStored{AssetID: sh.AssetID, Index: sh.Index, Size: sh.Size, Hash: sh.Hash})
	return sh, nil
}

// OpenShard returns the bytes of a stored shard after checking them against
// their hash. A shard that fails is quarantined and ErrCorrupt returned.
// The shard's size counts as bytes sent (the overview's traffic).
func (n *Node) OpenShard(ctx context.Context, assetID string, index int) (io.ReadCloser, Shard, error) {
	rc, sh, err := n.openShard(ctx, assetID, index)
	if err == nil {
		n.traffic.out.Add(sh.Size)
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
			n.metrics.shardsCorrupt.Inc()
			n.log.Warn("Stored shard failed its integrity check", "asset", assetID, "index", index, "err", err)
		}
		return nil, Shard{}, nodeerr.FromStorage(err)
	}
	return rc, sh, nil
}

// StatShard returns a stored shard's metadata without reading its bytes.
func (n *Node) StatShard(ctx context.Context, assetID string, index int) (Shard, error) {
	if err := n.checkRunning(); err != nil {
		return Shard{}, err
	}
	sh, err := n.shards.Stat(ctx, assetID, index)
	if err != nil {
		return Shard{}, nodeerr.FromStorage(err)
	}
	return sh, nil
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

func (l localShards) GetShard(ctx context.Context, _ storage.Candidate, addr storage.ShardAddr, maxSize int) ([]byte, error) {
	rc, sh, err := l.n.openShard(ctx, addr.HostAssetID(), addr.Index)
	if err != nil {
		return nil, hostErr(err)
	}
	defer rc.Close()
	if sh.Size > int64(maxSize) {
		return nil, fmt.Errorf("%w: shard of %d bytes, at most %d expected", storage.ErrHostRefused, sh.Size, maxSize)
	}
	data := make([]byte, sh.Size)
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
