package assets

import (
	"context"
	"time"

	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// ShardPlace says where one shard of a stored file is: the host that
// acknowledged it and whether it was live when last checked (at put, on a
// failed fetch, or by repair).
type ShardPlace struct {
	Stripe, Index int
	HostID        string
	Endpoint      string
	Live          bool
}

// Detail returns one stored file with the place of every shard it has a
// record of, by stripe and index. A shard never acknowledged by any host
// has no record.
func (s *Service) Detail(ctx context.Context, id string) (Asset, []ShardPlace, error) {
	m, err := s.catalog.Get(ctx, id)
	if err != nil {
		return Asset{}, nil, nodeerr.FromStorage(err)
	}
	a, err := s.assetOf(ctx, m, s.downHosts(ctx))
	if err != nil {
		return Asset{}, nil, err
	}
	recs, err := s.catalog.Shards(ctx, id)
	if err != nil {
		return Asset{}, nil, err
	}
	out := make([]ShardPlace, 0, len(recs))
	for _, r := range recs {
		out = append(out, ShardPlace{Stripe: r.Stripe, Index: r.Index, HostID: r.HostID, Endpoint: r.Endpoint, Live: r.Live})
	}
	return a, out, nil
}

// OnHost returns how many live shards of this node's files a host holds
// and their total size.
func (s *Service) OnHost(ctx context.Context, hostID string) (int, int64, error) {
	return s.catalog.OnHost(ctx, hostID)
}

// Holdings returns, for each of n instants first, first+step, ..., per
// host, the bytes of this node's live shards that reached the host at or
// before that instant.
func (s *Service) Holdings(ctx context.Context, first time.Time, step time.Duration, n int) ([]map[string]int64, error) {
	return s.catalog.Holdings(ctx, first, step, n)
}
