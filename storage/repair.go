package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/zeebo/blake3"
)

// Repairer keeps a node's own assets at full redundancy.
type Repairer struct {
	Catalog *Catalog
	Fetcher *Fetcher
	Config  TransferConfig
}

// RepairResult says what a repair found and did.
type RepairResult struct {
	// Live holds, per stripe, the live shards after the repair.
	Live []int
	// Rebuilt counts shards rebuilt and placed on hosts; Unplaced counts
	// shards rebuilt that no host took.
	Rebuilt, Unplaced int
	// MarkedDead counts shard records found dead (host gone or bad hash).
	MarkedDead int
}

// Repair checks every stripe of an asset. A shard is live when its host is
// among hosts (the live candidates). A stripe with fewer live shards than the repair
// threshold is restored from any k shards and its missing shards rebuilt
// onto hosts that hold no shard of the stripe yet (or, when every live host
// has one, onto the hosts holding the fewest), each checked on the host
// after upload. A forced repair also asks each host whether it still has
// its shard under the right hash, and rebuilds every stripe below n.
func (r *Repairer) Repair(ctx context.Context, m Manifest, hosts []Candidate, force bool) (RepairResult, error) {
	cfg := r.Config.withDefaults()
	recs, err := r.Catalog.Shards(ctx, m.AssetID)
	if err != nil {
		return RepairResult{}, err
	}
	alive := make(map[string]Candidate, len(hosts))
	for _, h := range hosts {
		alive[h.ID] = h
	}
	var res RepairResult
	for i := range recs {
		rec := &recs[i]
		live := rec.Live
		if _, ok := alive[rec.HostID]; !ok {
			live = false
		} else if force && live {
			addr := ShardAddr{AssetID: m.AssetID, Stripe: rec.Stripe, Index: rec.Index}
			var hash string
			err := retry(ctx, cfg, func() error {
				var err error
				hash, err = r.Fetcher.Transport.StatShard(ctx, alive[rec.HostID], addr)
				return err
			})
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			live = err == nil && hash == rec.Hash
		}
		if live != rec.Live {
			if err := r.Catalog.SetLive(ctx, m.AssetID, rec.Stripe, rec.Index, live); err != nil {
				return res, err
			}
			if !live {
				res.MarkedDead++
			}
			rec.Live = live
		}
	}
	res.Live = LiveCounts(m, recs)
	threshold := cfg.Threshold(m.K, m.N)
	if force {
		threshold = m.N
	}
	var failed []error
	for stripe, live := range res.Live {
		if live >= threshold || live >= m.N {
			continue
		}
		rebuilt, unplaced, err := r.repairStripe(ctx, cfg, m, stripe, recs, hosts)
		res.Live[stripe] += rebuilt
		res.Rebuilt += rebuilt
		res.Unplaced += unplaced
		if err != nil {
			failed = append(failed, err)
		}
	}
	return res, errors.Join(failed...)
}

func (r *Repairer) repairStripe(ctx context.Context, cfg TransferConfig, m Manifest, stripe int, recs []ShardRecord,
	hosts []Candidate) (rebuilt, unplaced int, err error) {
	shards, err := r.Fetcher.FetchStripe(ctx, m, stripe, recs, true, nil, nil, nil)
	if err != nil {
		return 0, 0, err
	}
	byIndex := map[int]ShardRecord{}
	perHost := map[string]int{}
	for _, rec := range recs {
		if rec.Stripe != stripe {
			continue
		}
		byIndex[rec.Index] = rec
		if rec.Live {
			perHost[rec.HostID]++
		}
	}
	ranked := Rank(fmt.Sprintf("%s/%d", m.AssetID, stripe), hosts)
	if len(ranked) == 0 {
		return 0, 0, fmt.Errorf("repair stripe %d: no live hosts", stripe)
	}
	for idx, data := range shards {
		if rec, ok := byIndex[idx]; ok && rec.Live {
			continue
		}
		sum := blake3.Sum256(data)
		hash := hex.EncodeToString(sum[:])
		if rec, ok := byIndex[idx]; ok && rec.Hash != hash {
			return rebuilt, unplaced, fmt.Errorf("%w: rebuilt shard %d of stripe %d does not match its record", ErrCorrupt, idx, stripe)
		}
		addr := ShardAddr{AssetID: m.AssetID, Stripe: stripe, Index: idx}
		placed := false
		for _, host := range leastLoaded(ranked, perHost) {
			err := retry(ctx, cfg, func() error { return putShardWithin(ctx, cfg, r.Fetcher.Transport, host, addr, data, hash) })
			if err == nil {
				var got string
				got, err = r.Fetcher.Transport.StatShard(ctx, host, addr)
				if err == nil && got != hash {
					err = fmt.Errorf("%w: host reports %s", ErrHashMismatch, got)
				}
			}
			if ctx.Err() != nil {
				return rebuilt, unplaced, ctx.Err()
			}
			if err != nil {
				continue
			}
			rec := ShardRecord{Stripe: stripe, Index: idx, Hash: hash, HostID: host.ID, Endpoint: host.Endpoint, Live: true}
			chs, err := NewChallenges(rand.Reader, data, ChallengesPerShard)
			if err != nil {
				return rebuilt, unplaced, err
			}
			if err := r.Catalog.RecordShardChallenged(ctx, m.AssetID, rec, chs); err != nil {
				return rebuilt, unplaced, err
			}
			perHost[host.ID]++
			rebuilt++
			placed = true
			break
		}
		if !placed {
			unplaced++
		}
	}
	return rebuilt, unplaced, nil
}

// leastLoaded orders hosts by how many shards of the stripe they hold,
// keeping rendezvous order among equals.
func leastLoaded(ranked []Candidate, perHost map[string]int) []Candidate {
	out := make([]Candidate, 0, len(ranked))
	for load := 0; len(out) < len(ranked); load++ {
		for _, h := range ranked {
			if perHost[h.ID] == load {
				out = append(out, h)
			}
		}
		if load > 256 {
			break
		}
	}
	return out
}
