package node

import (
	"context"
)

// Peers returns the peer table, sorted by endpoint, with each peer's mesh
// path.
func (n *Node) Peers(ctx context.Context) ([]Peer, error) {
	if err := n.checkRunning(); err != nil {
		return nil, err
	}
	return n.peers.List(ctx)
}

// Mesh returns the last mesh health read from batctl, babeld or the
// metrics file (source "none" before the first read or when none answers).
func (n *Node) Mesh(ctx context.Context) (MeshMetrics, error) {
	if err := n.checkRunning(); err != nil {
		return MeshMetrics{}, err
	}
	return n.peers.Mesh(), nil
}
