package node

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
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

// peerTable is the node's view of its peers, keyed by endpoint.
type peerTable struct {
	// mu guards peers.
	mu    sync.Mutex
	peers map[string]Peer
}

func newPeerTable(static []string) *peerTable {
	t := &peerTable{peers: make(map[string]Peer)}
	for _, ep := range static {
		ep = strings.TrimRight(ep, "/")
		t.peers[ep] = Peer{Endpoint: ep, Via: "static", State: PeerUnknown}
	}
	return t
}

// update applies an observation and returns the peer as now stored (a down
// peer keeps the identity learned earlier) and whether anything a user
// would notice (state, identity, activity) changed.
func (t *peerTable) update(p Peer) (stored Peer, changed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.peers[p.Endpoint]
	if p.State == PeerDown {
		// Keep what we learned; only the state changes.
		p.ID, p.Name, p.Active, p.LastSeen = old.ID, old.Name, old.Active, old.LastSeen
	}
	t.peers[p.Endpoint] = p
	return p, old.State != p.State || old.ID != p.ID || old.Name != p.Name || old.Active != p.Active
}

func (t *peerTable) list() []Peer {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Peer, 0, len(t.peers))
	for _, p := range t.peers {
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Peer) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	return out
}

// Peers returns the peer table, sorted by endpoint.
func (n *Node) Peers(ctx context.Context) ([]Peer, error) {
	if err := n.checkRunning(); err != nil {
		return nil, err
	}
	return n.peers.list(), nil
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
	for _, p := range n.peers.list() {
		g.Go(func() error {
			obs := n.pollPeer(ctx, p.Endpoint)
			if ctx.Err() != nil {
				return nil
			}
			if stored, changed := n.peers.update(obs); changed {
				n.log.Info("Peer changed", "peer", obs.Endpoint, "state", string(obs.State))
				n.bus.Publish(PeerChanged{Peer: stored})
				if obs.State == PeerDown {
					select {
					case n.repairNow <- struct{}{}:
					default: // a pass is already due
					}
				}
			}
			return nil
		})
	}
	g.Wait()
	up := 0
	for _, p := range n.peers.list() {
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
