package node

import (
	"context"
	"io"
	"time"

	"github.com/offgrid-net/offgrid/identity"

	"github.com/offgrid-net/offgrid/storage"
)

// PutAsset stores the plaintext read from r across the mesh: encrypted on
// this node, erasure coded (or replicated) and placed on distinct live hosts.
// An interrupted put of the same content (same ContentHash) resumes.
func (n *Node) PutAsset(ctx context.Context, r io.Reader, opts PutOptions) (Asset, error) {
	if err := n.checkRunning(); err != nil {
		return Asset{}, err
	}
	return n.assets.Put(ctx, r, opts)
}

// StoredAsset returns the file PutAsset with opts would answer "already
// stored" with, without a body; an error wrapping ErrNotFound when that
// put would upload.
func (n *Node) StoredAsset(ctx context.Context, opts PutOptions) (Asset, error) {
	if err := n.checkRunning(); err != nil {
		return Asset{}, err
	}
	return n.assets.Stored(ctx, opts)
}

// Assets returns the files this node stored, newest first.
func (n *Node) Assets(ctx context.Context) ([]Asset, error) {
	return n.assets.List(ctx)
}

// AssetsWithContent returns the stored files whose content hashes to
// fileHash, newest first.
func (n *Node) AssetsWithContent(ctx context.Context, fileHash string) ([]Asset, error) {
	return n.assets.WithContent(ctx, fileHash)
}

// Asset returns one stored file.
func (n *Node) Asset(ctx context.Context, id string) (Asset, error) {
	return n.assets.Get(ctx, id)
}

// AssetDetail returns one stored file and where each of its shards is:
// the host holding it and whether it was live when last checked.
func (n *Node) AssetDetail(ctx context.Context, id string) (Asset, []ShardPlace, error) {
	return n.assets.Detail(ctx, id)
}

// OpenAsset returns the plaintext of a stored file as a stream. The first
// stripe is fetched before it returns, so an unavailable file is reported
// here (ErrUnavailable, saying which stripe lacks how many shards); later
// stripes are fetched as the stream is read.
func (n *Node) OpenAsset(ctx context.Context, id string) (io.ReadCloser, Asset, error) {
	if err := n.checkRunning(); err != nil {
		return nil, Asset{}, err
	}
	return n.assets.Open(ctx, id)
}

// RepairAsset checks every shard of an asset on its host and rebuilds the
// stripes below the repair threshold onto other live hosts.
func (n *Node) RepairAsset(ctx context.Context, id string) (RepairReport, error) {
	if err := n.checkRunning(); err != nil {
		return RepairReport{}, err
	}
	return n.assets.Repair(ctx, id)
}

// DeleteAsset forgets a file at once and asks every host of its shards to
// drop them; hosts that do not answer are asked again on the repair loop's
// schedule, and collect the shards anyway after their grace period.
func (n *Node) DeleteAsset(ctx context.Context, id string) (DeleteReport, error) {
	if err := n.checkRunning(); err != nil {
		return DeleteReport{}, err
	}
	return n.assets.Delete(ctx, id)
}

// ShareAsset returns a signed share manifest (JSON) of one of this node's
// files for the node to, whose X25519 key is toBox (hex): a read
// capability only that node can use.
func (n *Node) ShareAsset(ctx context.Context, id string, to identity.NodeID, toBox string) ([]byte, error) {
	if err := n.checkRunning(); err != nil {
		return nil, err
	}
	return n.assets.Share(ctx, id, to, toBox)
}

// ImportAsset records a file another node shared with this one from its
// share manifest; OpenAsset then reads it from its hosts.
func (n *Node) ImportAsset(ctx context.Context, manifest []byte) (Asset, error) {
	if err := n.checkRunning(); err != nil {
		return Asset{}, err
	}
	return n.assets.Import(ctx, manifest)
}

// hostList gives the asset service the hosts it may place shards on.
type hostList struct{ n *Node }

// Candidates returns this node when it is active and every peer that is up,
// active and a member of the cluster.
func (h hostList) Candidates(ctx context.Context) ([]storage.Candidate, error) {
	n := h.n
	var out []storage.Candidate
	a, err := n.Announce(ctx)
	if err != nil {
		return nil, err
	}
	if a.Active {
		out = append(out, storage.Candidate{ID: string(n.info.ID), Endpoint: n.info.Endpoint, Name: n.info.Name, Weight: 1})
	}
	ps, err := n.peers.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if p.State == PeerUp && p.Active && p.ID != "" && p.ID != n.info.ID && n.trust.IsMember(p.ID) {
			out = append(out, storage.Candidate{ID: string(p.ID), Endpoint: p.Endpoint, Name: p.Name, Weight: 1})
		}
	}
	return out, nil
}

// Members returns the cluster's other members, each with the last time
// this node saw it up: zero for one up now, else never earlier than when
// this node started.
func (h hostList) Members(ctx context.Context) (map[string]time.Time, error) {
	n := h.n
	doc, ok := n.trust.Document()
	if !ok {
		return nil, nil
	}
	out := make(map[string]time.Time, len(doc.Members))
	for _, m := range doc.Members {
		if m.ID != n.info.ID {
			out[string(m.ID)] = n.started
		}
	}
	ps, err := n.peers.List(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		since, ok := out[string(p.ID)]
		switch {
		case !ok:
		case p.State == PeerUp || since.IsZero():
			out[string(p.ID)] = time.Time{}
		case p.LastSeen.After(since):
			out[string(p.ID)] = p.LastSeen
		}
	}
	return out, nil
}
