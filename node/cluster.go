package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/nodeerr"
	"github.com/offgrid-net/offgrid/node/trust"
)

// PendingNode is a non-member that was heard and waits to be admitted.
type PendingNode = trust.Pending

// ClusterChanged says a new cluster document was installed.
type ClusterChanged struct {
	Document cluster.Document
}

// Kind implements Event.
func (ClusterChanged) Kind() string { return "cluster" }

// Cluster returns the installed cluster document; ok is false when the
// node runs alone.
func (n *Node) Cluster() (d cluster.Document, ok bool) { return n.trust.Document() }

// ClusterProposal returns the change waiting for more admins' signatures.
func (n *Node) ClusterProposal() (cluster.Document, bool) { return n.trust.Proposal() }

// IsMember reports whether id is a member of the node's cluster. A node
// running alone has no members.
func (n *Node) IsMember(id identity.NodeID) bool { return n.trust.IsMember(id) }

// PendingNodes returns the non-members heard recently, newest first.
func (n *Node) PendingNodes() []PendingNode { return n.trust.PendingNodes() }

// InitCluster starts a cluster with this node as its first member. admins
// (default: this node) sign changes, threshold of them together. When this
// node is not enough to sign it, the document is a proposal: the other
// admins sign it (SignCluster) and it is installed here when it comes back
// signed (it spreads like any document). complete says it was installed.
func (n *Node) InitCluster(ctx context.Context, admins []identity.NodeID, threshold int) (d cluster.Document, complete bool, err error) {
	return n.InitClusterEconomy(ctx, admins, threshold, cluster.Economy{})
}

// InitClusterEconomy is InitCluster with an economy e (none when e has no
// witnesses): its witnesses are admitted as members too (named as they
// announced themselves, or by the end of their ID), and every witness
// must sign the document (SignCluster on its node) before it is valid,
// so with witnesses other than this node it is a proposal.
func (n *Node) InitClusterEconomy(ctx context.Context, admins []identity.NodeID, threshold int, e cluster.Economy) (d cluster.Document, complete bool, err error) {
	if err := n.checkRunning(); err != nil {
		return cluster.Document{}, false, err
	}
	if _, ok := n.trust.Document(); ok {
		return cluster.Document{}, false, fmt.Errorf("%w: this node is already in a cluster", ErrConflict)
	}
	if len(admins) == 0 {
		admins = []identity.NodeID{n.info.ID}
	}
	if threshold == 0 {
		threshold = 1
	}
	id, err := cluster.NewID(rand.Reader)
	if err != nil {
		return cluster.Document{}, false, err
	}
	members := []cluster.Member{{ID: n.info.ID, Name: n.info.Name}}
	for _, w := range e.Witnesses {
		if w.ID != n.info.ID {
			if _, err := w.ID.PublicKey(); err != nil {
				return cluster.Document{}, false, nodeerr.Invalidf("witness: %v", err)
			}
			members = append(members, cluster.Member{ID: w.ID, Name: n.pendingName(w.ID)})
		}
	}
	d, err = cluster.New(id, admins, threshold, members)
	if err != nil {
		return cluster.Document{}, false, nodeerr.Invalidf("%v", err)
	}
	if e.Enabled() {
		// WithEconomy checks and orders the economy; the document stays
		// the first version, which nobody has signed yet.
		if d, err = d.WithEconomy(e); err != nil {
			return cluster.Document{}, false, nodeerr.Invalidf("%v", err)
		}
		d.Serial = 1
	}
	if d.IsAdmin(n.info.ID) || d.Economy.Weight(n.info.ID) > 0 {
		if d, err = d.Sign(n.keys); err != nil {
			return cluster.Document{}, false, nodeerr.Invalidf("%v", err)
		}
	}
	if MissingSignatures(d) > 0 {
		n.trust.Propose(d)
		return d, false, nil
	}
	return d, true, n.trust.Install(ctx, d)
}

// AdmitNode admits id under name (or renames a member); see change. An
// empty name takes the pending node's, or the end of its ID.
func (n *Node) AdmitNode(ctx context.Context, id identity.NodeID, name string) (cluster.Document, bool, error) {
	if _, err := id.PublicKey(); err != nil {
		return cluster.Document{}, false, nodeerr.Invalidf("node ID: %v", err)
	}
	if name == "" {
		name = n.pendingName(id)
	}
	return n.change(ctx, func(d cluster.Document) (cluster.Document, error) { return d.WithMember(id, name) })
}

// pendingName is the name a pending node announced, or the end of its ID.
func (n *Node) pendingName(id identity.NodeID) string {
	name := string(id[len(id)-8:])
	for _, p := range n.trust.PendingNodes() {
		if p.ID == id && p.Name != "" && len(p.Name) <= cluster.MaxNameBytes {
			name = p.Name
		}
	}
	return name
}

// MissingSignatures is how many more signatures d needs: admins short of
// the threshold and, for the first version of an economy, its witnesses
// that have not signed it.
func MissingSignatures(d cluster.Document) int {
	n := d.Missing()
	if d.Serial == 1 && d.Economy.Enabled() {
		for _, w := range d.Economy.Witnesses {
			if !slices.ContainsFunc(d.Signatures, func(s cluster.Signature) bool { return s.Signer == w.ID }) {
				n++
			}
		}
	}
	return n
}

// RevokeNode removes id from the members (and admins) for good; see change.
func (n *Node) RevokeNode(ctx context.Context, id identity.NodeID) (cluster.Document, bool, error) {
	if _, err := id.PublicKey(); err != nil {
		return cluster.Document{}, false, nodeerr.Invalidf("node ID: %v", err)
	}
	return n.change(ctx, func(d cluster.Document) (cluster.Document, error) { return d.WithRevoked(id) })
}

// change derives the next document from the installed one and signs it
// with this node's key, which must be an admin's. When that reaches the
// threshold the document is installed (complete); otherwise it becomes the
// proposal other admins co-sign.
func (n *Node) change(ctx context.Context, next func(cluster.Document) (cluster.Document, error)) (cluster.Document, bool, error) {
	if err := n.checkRunning(); err != nil {
		return cluster.Document{}, false, err
	}
	cur, ok := n.trust.Document()
	if !ok {
		return cluster.Document{}, false, fmt.Errorf("%w: this node runs alone; start a cluster first (offgrid cluster init)", ErrConflict)
	}
	if !cur.IsAdmin(n.info.ID) {
		return cluster.Document{}, false, fmt.Errorf("%w: this node is not an admin of cluster %s", ErrConflict, cur.ID)
	}
	d, err := next(cur)
	if err != nil {
		return cluster.Document{}, false, nodeerr.Invalidf("%v", err)
	}
	if d, err = d.Sign(n.keys); err != nil {
		return cluster.Document{}, false, nodeerr.Invalidf("%v", err)
	}
	return n.installOrPropose(ctx, cur, d)
}

func (n *Node) installOrPropose(ctx context.Context, cur cluster.Document, d cluster.Document) (cluster.Document, bool, error) {
	if err := cluster.CheckSuccessor(cur, d); err != nil {
		if errors.Is(err, cluster.ErrNotSuccessor) && d.ID == cur.ID && d.Serial > cur.Serial || d.Verify() != nil {
			n.trust.Propose(d)
			return d, false, nil
		}
		return cluster.Document{}, false, fmt.Errorf("%w: %w", ErrConflict, err)
	}
	return d, true, n.trust.Install(ctx, d)
}

// SignCluster adds this node's signature (as an admin) to a proposed
// document, given as its canonical bytes, and installs it when that
// completes it. A node running alone signs only a first version (serial 1)
// naming it an admin.
func (n *Node) SignCluster(ctx context.Context, b []byte) (cluster.Document, bool, error) {
	if err := n.checkRunning(); err != nil {
		return cluster.Document{}, false, err
	}
	d, err := cluster.Parse(b)
	if err != nil {
		return cluster.Document{}, false, nodeerr.Invalidf("%v", err)
	}
	cur, ok := n.trust.Document()
	switch {
	case ok && (d.ID != cur.ID || d.Serial <= cur.Serial):
		return cluster.Document{}, false, fmt.Errorf("%w: not a proposal for the next version of cluster %s (serial > %d)", ErrConflict, cur.ID, cur.Serial)
	case ok && !cur.IsAdmin(n.info.ID) && !d.IsAdmin(n.info.ID) && d.Economy.Weight(n.info.ID) == 0:
		return cluster.Document{}, false, fmt.Errorf("%w: this node is not an admin of cluster %s nor a witness of its economy", ErrConflict, cur.ID)
	case !ok && (d.Serial != 1 || !d.IsAdmin(n.info.ID) && d.Economy.Weight(n.info.ID) == 0):
		return cluster.Document{}, false, fmt.Errorf("%w: this node runs alone; it signs only a new cluster naming it an admin or a witness", ErrConflict)
	}
	if d, err = d.Sign(n.keys); err != nil {
		return cluster.Document{}, false, nodeerr.Invalidf("%v", err)
	}
	if !ok {
		if MissingSignatures(d) > 0 {
			n.trust.Propose(d)
			return d, false, nil
		}
		return d, true, n.trust.Install(ctx, d)
	}
	return n.installOrPropose(ctx, cur, d)
}

// JoinCluster installs a document the operator fetched from a member (its
// canonical bytes): the first one, which must admit this node, or a
// successor of the installed one.
func (n *Node) JoinCluster(ctx context.Context, b []byte) (cluster.Document, error) {
	if err := n.checkRunning(); err != nil {
		return cluster.Document{}, err
	}
	d, err := cluster.Parse(b)
	if err != nil {
		return cluster.Document{}, nodeerr.Invalidf("%v", err)
	}
	if err := n.trust.Install(ctx, d); err != nil {
		return cluster.Document{}, err
	}
	return d, nil
}

// clusterSources are the nodes asked for the cluster document: peers up
// (members, by construction of the peer table) and static peers.
func (n *Node) clusterSources(ctx context.Context) []string {
	ps, err := n.peers.List(ctx)
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range ps {
		if p.State == PeerUp || p.Static {
			out = append(out, p.Endpoint)
		}
	}
	return out
}

// clusterChanged prunes the peers that are no longer members and tells
// subscribers.
func (n *Node) clusterChanged(ctx context.Context, d cluster.Document) {
	if err := n.peers.Prune(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("Peer prune failed", "err", err)
	}
	n.bus.Publish(ClusterChanged{Document: d})
}
