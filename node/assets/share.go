package assets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/nodeerr"
	"github.com/offgrid-net/offgrid/storage"
)

// owns reports whether this node is m's owner (it stored the file), as
// opposed to a recipient that imported a share of it.
func (s *Service) owns(m storage.Manifest) bool { return m.Owner == string(s.deps.Keys.ID()) }

// Share returns a signed share manifest of one of this node's stored files
// for the node to: the shard locations and the file key wrapped to toBox,
// to's X25519 key (hex). Only that node can read the file with it.
func (s *Service) Share(ctx context.Context, id string, to identity.NodeID, toBox string) ([]byte, error) {
	if _, err := to.PublicKey(); err != nil {
		return nil, nodeerr.Invalidf("to: %v", err)
	}
	if to == s.deps.Keys.ID() {
		return nil, nodeerr.Invalidf("to names this node; share with another node")
	}
	box, err := hex.DecodeString(toBox)
	if err != nil || len(box) != 32 {
		return nil, nodeerr.Invalidf("box_key must be 64 hex digits")
	}
	m, err := s.catalog.Get(ctx, id)
	if err != nil {
		return nil, nodeerr.FromStorage(err)
	}
	if !s.owns(m) {
		return nil, fmt.Errorf("%w: %s was shared with this node; only its owner can share it", nodeerr.ErrConflict, id)
	}
	if m.Stripes == 0 || m.State == storage.StatePending {
		return nil, fmt.Errorf("%w: %s is still being uploaded", nodeerr.ErrConflict, id)
	}
	key, prefix, err := s.unwrapOwnKey(m)
	if err != nil {
		return nil, err
	}
	w, err := storage.WrapKey(rand.Reader, key, prefix, box, id)
	if err != nil {
		return nil, nodeerr.Invalidf("box_key: %v", err)
	}
	recs, err := s.catalog.Shards(ctx, id)
	if err != nil {
		return nil, err
	}
	sh := storage.Share{AssetID: id, Name: m.Name, Size: m.Size, FileHash: m.FileHash, Mode: m.Mode, K: m.K, N: m.N,
		ShardSize: m.ShardSize, Stripes: m.Stripes, Recipient: string(to), Key: w}
	for _, r := range recs {
		if r.Live {
			sh.Shards = append(sh.Shards, storage.ShareShard{Stripe: r.Stripe, Index: r.Index, Hash: r.Hash,
				HostID: r.HostID, Endpoint: r.Endpoint})
		}
	}
	signed, err := storage.SignShare(s.deps.Keys, sh)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", nodeerr.ErrConflict, err)
	}
	out, err := json.Marshal(signed)
	if err != nil {
		return nil, fmt.Errorf("encode share: %w", err)
	}
	s.log.Info("Asset shared", "asset", id, "to", to)
	return out, nil
}

// Import records a file another node shared with this one, from its share
// manifest; the file is then read from its hosts like the node's own. A
// manifest that is malformed (ErrInvalid), not signed by the owner it names
// (ErrBadSignature), or made for another node (ErrForbidden) is refused
// and nothing is recorded.
func (s *Service) Import(ctx context.Context, manifest []byte) (Asset, error) {
	sh, err := storage.DecodeShare(manifest)
	switch {
	case errors.Is(err, storage.ErrShareSignature):
		return Asset{}, fmt.Errorf("%w: %v", nodeerr.ErrBadSignature, err)
	case err != nil:
		return Asset{}, fmt.Errorf("%w: %v", nodeerr.ErrInvalid, err)
	}
	self := string(s.deps.Keys.ID())
	switch {
	case sh.Recipient != self:
		return Asset{}, fmt.Errorf("%w: the manifest was made for %s, not for this node (%s)", nodeerr.ErrForbidden, sh.Recipient, self)
	case sh.Key.Recipient != s.boxKey:
		return Asset{}, fmt.Errorf("%w: the file key is wrapped to another key than this node's", nodeerr.ErrForbidden)
	case sh.Owner == self:
		return Asset{}, nodeerr.Invalidf("the manifest is this node's own share of %s", sh.AssetID)
	}
	if _, _, err := storage.UnwrapKey(s.deps.Keys.BoxPrivate(), sh.Key, sh.AssetID); err != nil {
		return Asset{}, fmt.Errorf("%w: the file key does not open with this node's key: %v", nodeerr.ErrForbidden, err)
	}
	m := storage.Manifest{AssetID: sh.AssetID, Owner: sh.Owner, Name: sh.Name, Size: sh.Size, FileHash: sh.FileHash,
		Mode: sh.Mode, K: sh.K, N: sh.N, ShardSize: sh.ShardSize, Stripes: sh.Stripes, Keys: []storage.WrappedKey{sh.Key},
		State: storage.StatePending}
	if err := s.catalog.Create(ctx, m); err != nil {
		return Asset{}, nodeerr.FromStorage(err)
	}
	var recs []storage.ShardRecord
	for _, x := range sh.Shards {
		r := storage.ShardRecord{Stripe: x.Stripe, Index: x.Index, Hash: x.Hash, HostID: x.HostID, Endpoint: x.Endpoint, Live: true}
		if err := s.catalog.RecordShard(ctx, m.AssetID, r); err != nil {
			if derr := s.catalog.Forget(context.WithoutCancel(ctx), m.AssetID, false); derr != nil {
				s.log.Warn("Could not forget a half-imported file", "asset", m.AssetID, "err", derr)
			}
			return Asset{}, err
		}
		recs = append(recs, r)
	}
	state := storage.Health(m, storage.LiveCounts(m, recs), s.cfg.Transfer.Threshold(m.K, m.N))
	if err := s.catalog.SetState(ctx, m.AssetID, state); err != nil {
		return Asset{}, err
	}
	s.log.Info("Shared file imported", "asset", m.AssetID, "owner", sh.Owner, "name", sh.Name, "state", state)
	return s.publishAsset(ctx, m.AssetID)
}
