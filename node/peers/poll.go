package peers

import (
	"context"
	"net"
	"sync/atomic"
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

// startupPoll is the wait after the first poll round while some static
// peer has not answered yet; it doubles each round up to PollInterval.
const startupPoll = 250 * time.Millisecond

// pollPeers asks every static peer for its announce at once, then each
// PollInterval until ctx ends. Nodes of a mesh often start together, so a
// peer may not listen yet when this node first asks: until a round finds
// every static peer up, rounds come faster (startupPoll, doubling up to
// PollInterval), so that a put issued right after start finds the hosts
// that came up a moment later instead of the few that were first.
func (s *Service) pollPeers(ctx context.Context) {
	wait := min(startupPoll, s.cfg.PollInterval)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s.pollOnce(ctx) {
			wait = s.cfg.PollInterval
		}
		t.Reset(wait)
		wait = min(2*wait, s.cfg.PollInterval)
	}
}

// pollOnce polls every static peer and reports whether all of them answered.
func (s *Service) pollOnce(ctx context.Context) (allUp bool) {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(maxPollConcurrency)
	peers, err := s.table.list(ctx)
	if err != nil {
		s.log.Warn("Peer poll skipped", "err", err)
		return false
	}
	var down atomic.Int32
	for _, p := range peers {
		if !p.Static {
			continue
		}
		g.Go(func() error {
			obs, rtt := s.pollPeer(gctx, p.Endpoint)
			if gctx.Err() != nil {
				return nil
			}
			if rtt > 0 {
				if err := s.table.setRTT(gctx, p.Endpoint, "", rtt, "poll"); err != nil {
					s.log.Warn("Peer round-trip time not recorded", "peer", p.Endpoint, "err", err)
				}
			}
			if obs.State != StateUp {
				down.Add(1)
			}
			s.observe(gctx, obs)
			return nil
		})
	}
	g.Wait()
	return ctx.Err() == nil && down.Load() == 0
}

// pollPeer asks the static peer at endpoint for its announce and returns
// what it found and, when the peer answered, the request's round trip
// (measured on the wall clock, whatever deps.Now says, because it is a
// duration on this machine).
func (s *Service) pollPeer(ctx context.Context, endpoint string) (Peer, time.Duration) {
	down := Peer{Endpoint: endpoint, Via: "static", State: StateDown}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.PollTimeout)
	defer cancel()
	start := time.Now()
	a, err := s.deps.Fetcher.FetchAnnounce(ctx, endpoint)
	rtt := time.Since(start)
	if err != nil {
		s.log.Debug("Peer poll failed", "peer", endpoint, "err", err)
		return down, 0
	}
	if _, err := a.ID.PublicKey(); err != nil {
		s.log.Debug("Peer sent a bad node ID", "peer", endpoint)
		return down, 0
	}
	return Peer{
		Endpoint: endpoint,
		ID:       a.ID,
		Name:     a.Name,
		Via:      "static",
		State:    StateUp,
		Active:   a.Active,
		LastSeen: s.deps.Now().UTC(),
	}, rtt
}
