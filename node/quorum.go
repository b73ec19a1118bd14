package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/nodeerr"
	"github.com/offgrid-net/offgrid/quorum"
)

// Quorum types (package quorum).
type (
	QuorumKind   = quorum.Kind
	QuorumStatus = quorum.Status
	QuorumPolicy = quorum.Policy
	QuorumDecay  = quorum.Decay
)

// quorumFeed feeds the quorum store each node's weight from the node's own
// view: the transport its peer entry was last heard on. Reputation is 1
// until the broker records one (quorum.FedWeight takes it).
type quorumFeed struct{ n *Node }

func (f quorumFeed) FedWeight(node string) (float64, bool) {
	ps, err := f.n.peers.List(context.Background())
	if err != nil {
		return 0, false
	}
	for _, p := range ps {
		if string(p.ID) == node && p.Via != "" {
			return quorum.FedWeight(p.Via, 1), true
		}
	}
	return 0, false
}

// quorumErr maps the quorum store's errors onto the engine's.
func quorumErr(err error) error {
	switch {
	case errors.Is(err, quorum.ErrInvalid):
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	case errors.Is(err, quorum.ErrNotFound):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, quorum.ErrFull):
		return fmt.Errorf("%w: %w", ErrBusy, err)
	}
	return nodeerr.FromStorage(err)
}

// CreateQuorum opens a quorum of kind needing required weight.
func (n *Node) CreateQuorum(ctx context.Context, kind QuorumKind, id string, required float64) (QuorumStatus, error) {
	if err := n.checkRunning(); err != nil {
		return QuorumStatus{}, err
	}
	if err := n.quorum.Create(ctx, kind, id, required); err != nil {
		return QuorumStatus{}, quorumErr(err)
	}
	st, err := n.quorum.Status(ctx, kind, id)
	return st, quorumErr(err)
}

// AckQuorum records node's ack (empty: this node's).
func (n *Node) AckQuorum(ctx context.Context, kind QuorumKind, id string, node identity.NodeID) (QuorumStatus, error) {
	if err := n.checkRunning(); err != nil {
		return QuorumStatus{}, err
	}
	if node == "" {
		node = n.info.ID
	}
	st, err := n.quorum.Ack(ctx, kind, id, string(node))
	return st, quorumErr(err)
}

// Quorum returns a quorum's state now.
func (n *Node) Quorum(ctx context.Context, kind QuorumKind, id string) (QuorumStatus, error) {
	st, err := n.quorum.Status(ctx, kind, id)
	return st, quorumErr(err)
}

// Quorums returns up to limit (1-1000) quorums of kind, newest first.
func (n *Node) Quorums(ctx context.Context, kind QuorumKind, limit int) ([]QuorumStatus, error) {
	if limit < 1 || limit > 1000 {
		return nil, nodeerr.Invalidf("limit must be between 1 and 1000")
	}
	l, err := n.quorum.List(ctx, kind, limit)
	return l, quorumErr(err)
}

// QuorumPolicy returns the quorum policy.
func (n *Node) QuorumPolicy() QuorumPolicy { return n.quorum.Policy() }

// SetQuorumPolicy replaces the quorum policy.
func (n *Node) SetQuorumPolicy(ctx context.Context, p QuorumPolicy) error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	return quorumErr(n.quorum.SetPolicy(ctx, p))
}
