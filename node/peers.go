package node

import (
	"context"
	"fmt"
	"net"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/identity"
)

// PeerChanged says a peer came up, went down or changed its announce.
type PeerChanged struct {
	Peer Peer
}

// Kind implements Event.
func (PeerChanged) Kind() string { return "peer" }

// maxPollConcurrency bounds how many peers are polled at once.
const maxPollConcurrency = 8

// Peers returns the peer table, sorted by endpoint.
func (n *Node) Peers(ctx context.Context) ([]Peer, error) {
	if err := n.checkRunning(); err != nil {
		return nil, err
	}
	peers, err := n.peers.list(ctx)
	if err != nil {
		return nil, err
	}
	n.mesh.mu.Lock()
	mesh := n.mesh.last
	n.mesh.mu.Unlock()
	for i := range peers {
		peers[i].MeshNeighbor, peers[i].PathMetric = meshPath(mesh, endpointHost(peers[i].Endpoint))
	}
	return peers, nil
}

// meshPath says whether host is a mesh neighbour and the route metric to it
// (-1: no route known).
func meshPath(m MeshMetrics, host string) (neighbor bool, metric float64) {
	metric = -1
	ip := net.ParseIP(host)
	if ip == nil {
		return false, -1
	}
	for _, nb := range m.Neighbors {
		if a := net.ParseIP(nb.Address); a != nil && a.Equal(ip) {
			neighbor, metric = true, nb.Metric
		}
	}
	for _, r := range m.Routes {
		dest := r.Destination
		if _, cidr, err := net.ParseCIDR(dest); err == nil {
			if cidr.Contains(ip) {
				return neighbor, r.Metric
			}
			continue
		}
		if a := net.ParseIP(dest); a != nil && a.Equal(ip) {
			return neighbor, r.Metric
		}
	}
	return neighbor, metric
}

// pollPeers asks every static peer for its announce each PeerPollInterval
// until ctx ends.
func (n *Node) pollPeers(ctx context.Context) {
	t := time.NewTicker(n.cfg.PeerPollInterval)
	defer t.Stop()
	for {
		n.pollOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) pollOnce(ctx context.Context) {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(maxPollConcurrency)
	peers, err := n.peers.list(ctx)
	if err != nil {
		n.log.Warn("Peer poll skipped", "err", err)
		return
	}
	for _, p := range peers {
		if !p.Static {
			continue
		}
		g.Go(func() error {
			obs := n.pollPeer(ctx, p.Endpoint)
			if ctx.Err() != nil {
				return nil
			}
			n.observe(ctx, obs)
			return nil
		})
	}
	g.Wait()
}

// observe merges one observation of a peer from any source into the peer
// table and tells subscribers when something changed. A peer going down
// triggers an early repair pass.
func (n *Node) observe(ctx context.Context, obs Peer) {
	stored, changed, err := n.peers.update(ctx, obs)
	if err != nil {
		if ctx.Err() == nil {
			n.log.Warn("Peer table update failed", "peer", obs.Endpoint, "err", err)
		}
		return
	}
	if !changed {
		return
	}
	n.log.Info("Peer changed", "peer", stored.Endpoint, "state", string(stored.State), "via", stored.Via)
	n.bus.Publish(PeerChanged{Peer: stored})
	if stored.State == PeerDown {
		select {
		case n.repairNow <- struct{}{}:
		default: // a pass is already due
		}
	}
	n.countPeersUp(ctx)
}

func (n *Node) countPeersUp(ctx context.Context) {
	peers, err := n.peers.list(ctx)
	if err != nil {
		return
	}
	up := 0
	for _, p := range peers {
		if p.State == PeerUp {
			up++
		}
	}
	n.metrics.peersUp.Set(float64(up))
}

func (n *Node) pollPeer(ctx context.Context, endpoint string) Peer {
	down := Peer{Endpoint: endpoint, Via: "static", State: PeerDown}
	ctx, cancel := context.WithTimeout(ctx, n.cfg.PeerTimeout)
	defer cancel()
	c, err := gen.NewClientWithResponses(endpoint, gen.WithHTTPClient(n.cfg.PeerClient))
	if err != nil {
		n.log.Warn("Bad peer endpoint", "peer", endpoint, "err", err)
		return down
	}
	resp, err := c.GetAnnounceWithResponse(ctx)
	if err != nil || resp.JSON200 == nil {
		n.log.Debug("Peer poll failed", "peer", endpoint, "err", pollErr(err, resp))
		return down
	}
	a := resp.JSON200
	if _, err := identity.NodeID(a.NodeId).PublicKey(); err != nil {
		n.log.Debug("Peer sent a bad node ID", "peer", endpoint)
		return down
	}
	return Peer{
		Endpoint: endpoint,
		ID:       identity.NodeID(a.NodeId),
		Name:     a.Name,
		Via:      "static",
		State:    PeerUp,
		Active:   a.Active,
		LastSeen: n.cfg.Now().UTC(),
	}
}

func pollErr(err error, resp *gen.GetAnnounceResponse) error {
	if err != nil {
		return err
	}
	return fmt.Errorf("status %d", resp.StatusCode())
}
