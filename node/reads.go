package node

import "context"

// DownHosts returns the IDs of the peers the peer table marks down, so a
// get asks their shards only when the others cannot give enough.
func (h hostList) DownHosts(ctx context.Context) (map[string]bool, error) {
	ps, err := h.n.peers.List(ctx)
	if err != nil {
		return nil, err
	}
	down := map[string]bool{}
	for _, p := range ps {
		if p.State == PeerDown && p.ID != "" {
			down[string(p.ID)] = true
		}
	}
	return down, nil
}
