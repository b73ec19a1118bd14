package assets

import (
	"context"
	"fmt"

	"github.com/offgrid-net/offgrid/storage"
)

// localFirst sends the shards this node hosts itself to its own shard
// store, and every other shard to the remote transport: a node never makes
// an HTTP round trip (signed, validated, replay-checked) to itself.
type localFirst struct {
	self          string
	local, remote storage.Transport
}

// LocalFirst returns a transport that routes shards for the host whose ID
// is self to local, and the rest to remote. remote may be nil (a node with
// no network): other hosts are then unreachable.
func LocalFirst(self string, local, remote storage.Transport) storage.Transport {
	return localFirst{self: self, local: local, remote: remote}
}

func (t localFirst) pick(host storage.Candidate) (storage.Transport, error) {
	if host.ID == t.self {
		return t.local, nil
	}
	if t.remote == nil {
		return nil, fmt.Errorf("%w: this node has no transport to other hosts", storage.ErrHostUnreachable)
	}
	return t.remote, nil
}

func (t localFirst) PutShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr, data []byte, hash string) error {
	tr, err := t.pick(host)
	if err != nil {
		return err
	}
	return tr.PutShard(ctx, host, addr, data, hash)
}

func (t localFirst) GetShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr, buf []byte) ([]byte, error) {
	tr, err := t.pick(host)
	if err != nil {
		return nil, err
	}
	return tr.GetShard(ctx, host, addr, buf)
}

func (t localFirst) StatShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr) (string, error) {
	tr, err := t.pick(host)
	if err != nil {
		return "", err
	}
	return tr.StatShard(ctx, host, addr)
}

var _ storage.Auditor = localFirst{}

// AuditShard implements storage.Auditor, routing as the other methods do;
// a transport that cannot audit answers ErrHostRefused.
func (t localFirst) AuditShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr, ask storage.AuditAsk) (string, error) {
	tr, err := t.pick(host)
	if err != nil {
		return "", err
	}
	au, ok := tr.(storage.Auditor)
	if !ok {
		return "", fmt.Errorf("%w: this transport cannot audit", storage.ErrHostRefused)
	}
	return au.AuditShard(ctx, host, addr, ask)
}

func (t localFirst) DeleteShard(ctx context.Context, host storage.Candidate, addr storage.ShardAddr) error {
	tr, err := t.pick(host)
	if err != nil {
		return err
	}
	return tr.DeleteShard(ctx, host, addr)
}

func (t localFirst) ClaimShards(ctx context.Context, host storage.Candidate, addrs []storage.ShardAddr) (int, error) {
	tr, err := t.pick(host)
	if err != nil {
		return 0, err
	}
	return tr.ClaimShards(ctx, host, addrs)
}
