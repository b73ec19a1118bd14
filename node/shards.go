package node

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/offgrid-net/offgrid/storage"
)

// StoreShard stores a shard streamed from r, at most MaxShardBytes long.
// wantHash, when not empty, is the content hash the sender claims. storedBy
// names the caller (a node ID, or "admin"). At most StoreConcurrency uploads
// run at once; one more gets ErrBusy at once instead of waiting.
func (n *Node) StoreShard(ctx context.Context, assetID string, index int, r io.Reader, wantHash, storedBy string) (Shard, error) {
	if err := n.checkRunning(); err != nil {
		return Shard{}, err
	}
	if err := storage.ValidateAddress(assetID, index); err != nil {
		return Shard{}, storageErr(err)
	}
	select {
	case n.storeSlots <- struct{}{}:
		defer func() { <-n.storeSlots }()
	default:
		n.metrics.storeBusy.Inc()
		return Shard{}, fmt.Errorf("%w: %d uploads already running", ErrBusy, cap(n.storeSlots))
	}
	a, err := n.Announce(ctx)
	if err != nil {
		return Shard{}, err
	}
	if !a.Active {
		return Shard{}, fmt.Errorf("%w: it stores no shards", ErrInactive)
	}
	sh, err := n.shards.Put(ctx, assetID, index, r, n.cfg.MaxShardBytes, wantHash, storedBy)
	if err != nil {
		return Shard{}, storageErr(err)
	}
	out := shardFrom(sh)
	n.metrics.shardsStored.Inc()
	n.metrics.shardBytes.Add(float64(sh.Size))
	n.bus.Publish(ShardStored{AssetID: out.AssetID, Index: out.Index, Size: out.Size, Hash: out.Hash})
	return out, nil
}

// OpenShard returns the bytes of a stored shard after checking them against
// their hash. A shard that fails is quarantined and ErrCorrupt returned.
func (n *Node) OpenShard(ctx context.Context, assetID string, index int) (io.ReadCloser, Shard, error) {
	if err := n.checkRunning(); err != nil {
		return nil, Shard{}, err
	}
	rc, sh, err := n.shards.Open(ctx, assetID, index)
	if err != nil {
		if errors.Is(err, storage.ErrCorrupt) {
			n.metrics.shardsCorrupt.Inc()
			n.log.Warn("Stored shard failed its integrity check", "asset", assetID, "index", index, "err", err)
		}
		return nil, Shard{}, storageErr(err)
	}
	return rc, shardFrom(sh), nil
}

func shardFrom(sh storage.Shard) Shard {
	return Shard{AssetID: sh.AssetID, Index: sh.Index, Size: sh.Size, Hash: sh.Hash, StoredAt: sh.StoredAt}
}

// StatShard returns a stored shard's metadata without reading its bytes.
func (n *Node) StatShard(ctx context.Context, assetID string, index int) (Shard, error) {
	if err := n.checkRunning(); err != nil {
		return Shard{}, err
	}
	sh, err := n.shards.Stat(ctx, assetID, index)
	if err != nil {
		return Shard{}, storageErr(err)
	}
	return shardFrom(sh), nil
}
