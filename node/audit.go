package node

import (
	"context"
	"fmt"

	"github.com/offgrid-net/offgrid/node/nodeerr"
	"github.com/offgrid-net/offgrid/storage"
)

// AuditShard answers an owner's audit of a shard this node hosts: it reads
// the shard (checking it against its hash, so a lost or corrupt shard is
// quarantined and ErrCorrupt or ErrNotFound returned) and returns the
// BLAKE3 of its bytes keyed with nonce (storage.AuditProof).
func (n *Node) AuditShard(ctx context.Context, assetID string, index int, nonce [32]byte) (string, error) {
	rc, _, err := n.OpenShard(ctx, assetID, index, "")
	if err != nil {
		return "", err
	}
	defer rc.Close()
	proof, err := storage.AuditProof(nonce, rc)
	if err != nil {
		return "", fmt.Errorf("audit %s/%d: %w", assetID, index, err)
	}
	return proof, nil
}

var _ storage.Auditor = localShards{}

// AuditShard implements storage.Auditor for the shards this node hosts
// itself.
func (l localShards) AuditShard(ctx context.Context, _ storage.Candidate, addr storage.ShardAddr, nonce [32]byte) (string, error) {
	proof, err := l.n.AuditShard(ctx, addr.HostAssetID(), addr.Index, nonce)
	if err != nil {
		return "", hostErr(nodeerr.FromStorage(err))
	}
	return proof, nil
}
