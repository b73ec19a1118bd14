package node

import (
	"context"
	"fmt"

	"github.com/offgrid-net/offgrid/node/peers"
)

// PeerDetail is one peer with the storage exchanged with it.
type PeerDetail struct {
	Peer Peer
	// HeldForUs counts the live shards of this node's files the peer holds,
	// and their bytes.
	HeldForUs      int
	HeldForUsBytes int64
	// HeldForThem counts the shards this node stores for the peer, and
	// their bytes.
	HeldForThem      int
	HeldForThemBytes int64
	// Traffic is the shard bytes exchanged with the peer since this node
	// started.
	Traffic PeerTraffic
	// Timeline is the peer's states over the last PeerTimelineWindow,
	// oldest first.
	Timeline []PeerStateSpan
}

// PeerTimelineWindow is how far back a peer's state timeline reaches.
const PeerTimelineWindow = peers.TimelineWindow

// PeerDetail returns the peer whose node ID or endpoint is key, with the
// shards each side holds for the other. An unknown key gives ErrNotFound.
func (n *Node) PeerDetail(ctx context.Context, key string) (PeerDetail, error) {
	ps, err := n.Peers(ctx)
	if err != nil {
		return PeerDetail{}, err
	}
	for _, p := range ps {
		if (p.ID != "" && string(p.ID) == key) || p.Endpoint == key {
			d := PeerDetail{Peer: p, Traffic: n.traffic.of(p.ID)}
			if d.Timeline, err = n.peers.Timeline(ctx, p.Endpoint); err != nil {
				return PeerDetail{}, err
			}
			if p.ID == "" {
				// Shards are recorded by node ID: none yet before first contact.
				return d, nil
			}
			if d.HeldForUs, d.HeldForUsBytes, err = n.assets.OnHost(ctx, string(p.ID)); err != nil {
				return PeerDetail{}, err
			}
			if d.HeldForThem, d.HeldForThemBytes, err = n.shards.CountStoredBy(ctx, string(p.ID)); err != nil {
				return PeerDetail{}, err
			}
			return d, nil
		}
	}
	return PeerDetail{}, fmt.Errorf("%w: no peer %q", ErrNotFound, key)
}
