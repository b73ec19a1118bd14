package assets

import "context"

// PeerStates tells a get which hosts the peer table marks down. It must be
// safe for concurrent use.
type PeerStates interface {
	// DownHosts returns the IDs of the hosts marked down.
	DownHosts(ctx context.Context) (map[string]bool, error)
}

// downHosts returns the hosts a get should ask last; with no PeerStates,
// or when the peer table cannot be read, none (the get still works, it
// only loses the hint).
func (s *Service) downHosts(ctx context.Context) func(hostID string) bool {
	if s.deps.PeerStates == nil {
		return nil
	}
	down, err := s.deps.PeerStates.DownHosts(ctx)
	if err != nil {
		s.log.Warn("Could not read the peer table; the get asks every host in shard order", "err", err)
		return nil
	}
	return func(id string) bool { return down[id] }
}
