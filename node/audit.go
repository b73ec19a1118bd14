package node

import (
	"context"
	"fmt"

	"github.com/offgrid-net/offgrid/node/nodeerr"
	"github.com/offgrid-net/offgrid/storage"
)

// AuditShard answers an owner's audit of a shard this node hosts: it opens
// the shard (checking it against its hash, so a lost or corrupt shard is
// quarantined and ErrCorrupt or ErrNotFound returned) and returns the
// BLAKE3 of the asked range of its bytes keyed with the nonce
// (storage.AuditProof). A range beyond the shard is ErrInvalid.
func (n *Node) AuditShard(ctx context.Context, assetID string, index int, ask storage.AuditAsk) (string, error) {
	if err := storage.ValidateAuditAsk(ask); err != nil {
		return "", nodeerr.FromStorage(err)
	}
	rc, _, err := n.OpenShard(ctx, assetID, index, "")
	if err != nil {
		return "", err
	}
	defer rc.Close()
	proof, err := storage.AuditProof(ask, rc)
	if err != nil {
		return "", fmt.Errorf("audit %s/%d: %w", assetID, index, nodeerr.FromStorage(err))
	}
	return proof, nil
}

var _ storage.Auditor = localShards{}

// AuditShard implements storage.Auditor for the shards this node hosts
// itself.
func (l localShards) AuditShard(ctx context.Context, _ storage.Candidate, addr storage.ShardAddr, ask storage.AuditAsk) (string, error) {
	proof, err := l.n.AuditShard(ctx, addr.HostAssetID(), addr.Index, ask)
	if err != nil {
		return "", hostErr(nodeerr.FromStorage(err))
	}
	return proof, nil
}
