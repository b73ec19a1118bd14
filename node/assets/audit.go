package assets

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/offgrid-net/offgrid/internal/periodic"
	"github.com/offgrid-net/offgrid/storage"
)

// Audit outcomes, the values of offgrid_shard_audits_total's result label.
const (
	AuditPass  = "pass"  // the host proved it holds the shard
	AuditFail  = "fail"  // the host lost the shard or answered wrong: the shard is marked dead
	AuditError = "error" // no answer (host busy or unreachable): nothing concluded
)

// AuditCounter counts audits by outcome. It must be safe for concurrent
// use (a prometheus.CounterVec's WithLabelValues(...).Inc() fits).
type AuditCounter func(result string)

// RunAudits audits the node's hosts every AuditInterval until ctx ends,
// then returns nil. Each round picks up to AuditShards random live shards
// of each stored file, at most AuditMax in all, and challenges their hosts
// (AuditRound).
func (s *Service) RunAudits(ctx context.Context) error {
	return periodic.Run(ctx, s.cfg.AuditInterval, func(ctx context.Context) {
		if _, err := s.AuditRound(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("Audit round failed", "err", err)
		}
	})
}

// AuditReport says what an audit round did.
type AuditReport struct {
	Passed, Failed, Errors int
	// Repaired counts the files repaired after a failed audit.
	Repaired int
}

// AuditRound runs one round of audits. A shard whose host cannot prove it
// holds it is marked dead and counted against the host (lowering its
// placement weight); its file is then repaired at once, checking every
// shard, so the lost shards are rebuilt on other hosts.
func (s *Service) AuditRound(ctx context.Context) (AuditReport, error) {
	var rep AuditReport
	ms, err := s.catalog.List(ctx)
	if err != nil {
		return rep, err
	}
	hosts, err := s.deps.Hosts.Candidates(ctx)
	if err != nil {
		return rep, err
	}
	up := make(map[string]storage.Candidate, len(hosts))
	for _, h := range hosts {
		up[h.ID] = h
	}
	budget := s.cfg.AuditMax
	for _, m := range ms {
		if budget <= 0 || ctx.Err() != nil {
			break
		}
		if m.Stripes == 0 || m.State == storage.StatePending {
			continue
		}
		recs, err := s.catalog.Shards(ctx, m.AssetID)
		if err != nil {
			return rep, err
		}
		// Shards on hosts that are down are repair's business; audit the rest.
		var cands []storage.ShardRecord
		for _, r := range recs {
			if _, ok := up[r.HostID]; ok && r.Live {
				cands = append(cands, r)
			}
		}
		rand.Shuffle(len(cands), func(i, j int) { cands[i], cands[j] = cands[j], cands[i] })
		failed := 0
		for _, r := range cands[:min(len(cands), s.cfg.AuditShards, budget)] {
			budget--
			result := s.auditShard(ctx, m, r, up[r.HostID])
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			if s.deps.Audits != nil {
				s.deps.Audits(result)
			}
			switch result {
			case AuditPass:
				rep.Passed++
			case AuditFail:
				rep.Failed++
				failed++
			default:
				rep.Errors++
			}
		}
		if failed == 0 {
			continue
		}
		if _, err := s.repairOne(ctx, m, nil, true); err != nil && ctx.Err() == nil {
			s.log.Warn("Repair after a failed audit incomplete", "asset", m.AssetID, "err", err)
		}
		rep.Repaired++
		if _, err := s.publishAsset(ctx, m.AssetID); err != nil && ctx.Err() == nil {
			s.log.Warn("Could not report an audited asset", "asset", m.AssetID, "err", err)
		}
	}
	return rep, nil
}

// auditShard challenges one shard's host (storage.Prove) and records the
// outcome.
func (s *Service) auditShard(ctx context.Context, m storage.Manifest, r storage.ShardRecord, host storage.Candidate) string {
	deadline := s.cfg.Transfer.ShardDeadline(m.ShardSize)
	actx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	err := storage.Prove(actx, s.catalog, s.fetcher, m, r, host)
	switch {
	case err == nil:
		if rerr := s.catalog.RecordAudit(ctx, r.HostID, m.AssetID, true); rerr != nil {
			s.log.Warn("Could not record an audit", "host", host.Endpoint, "err", rerr)
		}
		return AuditPass
	case ctx.Err() != nil:
		return AuditError
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrHashMismatch), errors.Is(err, storage.ErrWrongProof):
		s.log.Warn("Host failed an audit; shard marked dead", "asset", m.AssetID, "stripe", r.Stripe, "index", r.Index,
			"host", host.Endpoint, "err", err)
		if derr := s.catalog.SetLive(ctx, m.AssetID, r.Stripe, r.Index, false); derr != nil {
			s.log.Warn("Could not mark a shard dead", "asset", m.AssetID, "err", derr)
		}
		if rerr := s.catalog.RecordAudit(ctx, r.HostID, m.AssetID, false); rerr != nil {
			s.log.Warn("Could not record an audit", "host", host.Endpoint, "err", rerr)
		}
		s.deps.Events.Publish(ShardCorrupt{AssetID: m.AssetID, Stripe: r.Stripe, Index: r.Index, Host: host.Endpoint})
		return AuditFail
	default:
		s.log.Debug("Audit got no answer", "asset", m.AssetID, "host", host.Endpoint, "err", err)
		return AuditError
	}
}

// auditWeighted lowers the placement weight of the hosts that failed
// audits (storage.AuditWeight), so puts and repairs choose them less.
type auditWeighted struct {
	inner   Hosts
	catalog *storage.Catalog
}

func (w auditWeighted) Members(ctx context.Context) (map[string]time.Time, error) {
	return w.inner.Members(ctx)
}

func (w auditWeighted) Candidates(ctx context.Context) ([]storage.Candidate, error) {
	hosts, err := w.inner.Candidates(ctx)
	if err != nil {
		return nil, err
	}
	failed, err := w.catalog.FailedAudits(ctx)
	if err != nil {
		return nil, err
	}
	for i := range hosts {
		if n := failed[hosts[i].ID]; n > 0 {
			hosts[i].Weight *= storage.AuditWeight(n)
		}
	}
	return hosts, nil
}
