package peers

import (
	"context"
	"net"
	"time"

	"golang.org/x/sync/errgroup"
)

// maxPollConcurrency bounds how many peers are polled at once.
const maxPollConcurrency = 8

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

// pollPeers asks every static peer for its announce at once and then each
// PollInterval until ctx ends.
func (s *Service) pollPeers(ctx context.Context) {
	t := time.NewTicker(s.cfg.PollInterval)
	defer t.Stop()
	for {
		s.pollOnce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Service) pollOnce(ctx context.Context) {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(maxPollConcurrency)
	peers, err := s.table.list(ctx)
	if err != nil {
		s.log.Warn("Peer poll skipped", "err", err)
		return
	}
	for _, p := range peers {
		if !p.Static {
			continue
		}
		g.Go(func() error {
			obs := s.pollPeer(ctx, p.Endpoint)
			if ctx.Err() != nil {
				return nil
			}
			s.observe(ctx, obs)
			return nil
		})
	}
	g.Wait()
}

func (s *Service) pollPeer(ctx context.Context, endpoint string) Peer {
	down := Peer{Endpoint: endpoint, Via: "static", State: StateDown}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PollTimeout)
	defer cancel()
	a, err := s.deps.Fetcher.FetchAnnounce(ctx, endpoint)
	if err != nil {
		s.log.Debug("Peer poll failed", "peer", endpoint, "err", err)
		return down
	}
	if _, err := a.ID.PublicKey(); err != nil {
		s.log.Debug("Peer sent a bad node ID", "peer", endpoint)
		return down
	}
	return Peer{
		Endpoint: endpoint,
		ID:       a.ID,
		Name:     a.Name,
		Via:      "static",
		State:    StateUp,
		Active:   a.Active,
		LastSeen: s.deps.Now().UTC(),
	}
}
