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
	// Live holds, per stripe, the shards readable now after the repair:
	// live records on hosts that are up.
	Live []int
	// Rebuilt counts shards rebuilt and placed on hosts; Unplaced counts
	// shards rebuilt that no host took.
	Rebuilt, Unplaced int
	// MarkedDead counts shard records found dead (host gone or bad hash).
	MarkedDead int
	// Revived counts shards found dead before whose host is back and
	// still holds them under their hash (see Repair).
	Revived int
}

// maxRevivals bounds the hosts one repair pass of an asset asks whether
// they still hold shards marked dead (a host that lost its disk is asked
// again on every pass until its shards are rebuilt elsewhere).
const maxRevivals = 64

// Repair checks every stripe of an asset. A shard is live when its host is
// among hosts (the hosts up now). A shard whose host is not up is kept, not
// marked dead, while away says the host is within its grace period: a host
// that reboots or loses its link for a few minutes still holds its shards,
// and marking them dead at once would rebuild them elsewhere on every
// flap, and would call a file lost after the whole mesh lost power
// together. Its stripe counts as degraded meanwhile (RepairResult.Live)
// but is not rebuilt for it. A forced repair (asked for by the operator)
// does not wait: it marks every shard whose host is not up dead, and also
// asks each host whether it still has its shard under the right hash.
//
// A stripe short of n first asks the hosts of its shards marked dead
// before that are up again (at most maxRevivals a pass) to prove they
// still hold them (Prove: an audit challenge, or a read of the whole shard
// when none is left), and each one proven counts live again: hardly any
// bytes move, and a stripe that had fallen below k, which no rebuild can
// restore, comes back. That is how a file returns after its hosts were
// gone longer than the grace period. A host's word that it has a shard
// (StatShard) is not enough here: a host whose disk returned other bytes,
// or one that lies, would make a lost file look whole.
// Hosts whose placement weight failed audits lowered (Weight below 1) are
// not asked: their shards are rebuilt elsewhere instead.
//
// A stripe with fewer live shards than the repair threshold is restored
// from any k shards and its missing shards rebuilt onto hosts that hold no
// shard of the stripe yet (or, when every live host has one, onto the
// hosts holding the fewest), each checked on the host after upload.
// A forced repair rebuilds every stripe below n.
func (r *Repairer) Repair(ctx context.Context, m Manifest, hosts []Candidate, away func(hostID string) bool, force bool) (RepairResult, error) {
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
	absent := map[int]int{} // per stripe: shards kept on away hosts
	stat := func(host Candidate, rec ShardRecord) (bool, error) {
		addr := ShardAddr{AssetID: m.AssetID, Stripe: rec.Stripe, Index: rec.Index}
		var hash string
		err := retry(ctx, cfg, func() error {
			var err error
			hash, err = r.Fetcher.Transport.StatShard(ctx, host, addr)
			return err
		})
		return err == nil && hash == rec.Hash, ctx.Err()
	}
	for i := range recs {
		rec := &recs[i]
		live := rec.Live
		host, up := alive[rec.HostID]
		switch {
		case !live:
		case !up && !force && away != nil && away(rec.HostID):
			absent[rec.Stripe]++
		case !up:
			live = false
		case force:
			if live, err = stat(host, *rec); err != nil {
				return res, err
			}
		}
		if live != rec.Live {
			if err := r.Catalog.SetLive(ctx, m.AssetID, rec.Stripe, rec.Index, live); err != nil {
				return res, err
			}
			res.MarkedDead++
			rec.Live = live
		}
	}
	threshold := cfg.Threshold(m.K, m.N)
	if force {
		threshold = m.N
	}
	held := LiveCounts(m, recs)
	asked := 0
	for i := range recs {
		rec := &recs[i]
		host, up := alive[rec.HostID]
		if asked == maxRevivals {
			break
		}
		if rec.Live || !up || host.Weight < 1 || held[rec.Stripe] >= m.N {
			continue
		}
		asked++
		pctx, cancel := context.WithTimeout(ctx, cfg.ShardDeadline(m.ShardSize))
		err := Prove(pctx, r.Catalog, r.Fetcher, m, *rec, host)
		cancel()
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if err != nil {
			continue
		}
		if err := r.Catalog.SetLive(ctx, m.AssetID, rec.Stripe, rec.Index, true); err != nil {
			return res, err
		}
		rec.Live = true
		held[rec.Stripe]++
		res.Revived++
	}
	var failed []error
	for stripe, n := range held {
		if n >= threshold || n >= m.N {
			continue
		}
		rebuilt, unplaced, err := r.repairStripe(ctx, cfg, m, stripe, recs, hosts)
		held[stripe] += rebuilt
		res.Rebuilt += rebuilt
		res.Unplaced += unplaced
		if err != nil {
			failed = append(failed, err)
		}
	}
	res.Live = held
	for stripe, n := range absent {
		res.Live[stripe] -= n
	}
	return res, errors.Join(failed...)
}

func (r *Repairer) repairStripe(ctx context.Context, cfg TransferConfig, m Manifest, stripe int, recs []ShardRecord,
	hosts []Candidate) (rebuilt, unplaced int, err error) {
	// Hosts not up are asked last (their shards may be kept as away).
	up := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		up[h.ID] = true
	}
	shards, err := r.Fetcher.FetchStripe(ctx, m, stripe, recs, true, func(id string) bool { return !up[id] }, nil, nil)
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
			if err := r.Catalog.RecordShards(ctx, m.AssetID, []AckedShard{{Record: rec, Challenges: chs}}); err != nil {
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
