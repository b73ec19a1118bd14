package assets

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/offgrid-net/offgrid/node/nodeerr"
	"github.com/offgrid-net/offgrid/storage"
)

// deletionBatch bounds the pending deletions one pass tries.
const deletionBatch = 1024

// deleteWait bounds how long a delete waits for the hosts to answer; the
// deletions still running then stay pending for the next pass.
const deleteWait = 30 * time.Second

// DeleteReport says what a delete did.
type DeleteReport struct {
	// Dropped is how many shards their hosts dropped (or no longer had).
	Dropped int
	// Pending is how many shards wait for a host that did not answer;
	// they are retried on the repair loop's schedule, and the host
	// collects them anyway after its grace period.
	Pending int
}

// Delete forgets a file at once and asks every host of its shards to drop
// them (a file shared with this node is only forgotten: its owner's shards
// are not this node's to drop). Hosts that do not answer are asked again later (the deletions are
// kept in storage_deletions). A file whose upload is running is refused
// with ErrConflict.
func (s *Service) Delete(ctx context.Context, id string) (DeleteReport, error) {
	m, err := s.catalog.Get(ctx, id)
	if err != nil {
		return DeleteReport{}, nodeerr.FromStorage(err)
	}
	if m.FileHash != "" {
		release, err := s.claimUpload(m.FileHash)
		if err != nil {
			return DeleteReport{}, fmt.Errorf("%w: the file is being uploaded; delete it when the put ends", nodeerr.ErrConflict)
		}
		defer release()
	}
	if err := s.catalog.Forget(ctx, id, s.owns(m)); err != nil {
		return DeleteReport{}, nodeerr.FromStorage(err)
	}
	s.log.Info("Asset deleted", "asset", id, "name", m.Name)
	s.deps.Events.Publish(AssetDeleted{ID: id, Name: m.Name})
	// The file is gone for the owner whatever the hosts answer; the rest
	// is cleanup, which a client that hangs up must not cut short, but a
	// host that does not answer must not hold up either.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteWait)
	defer cancel()
	dropped, pending := s.dropPending(dctx, id)
	return DeleteReport{Dropped: dropped, Pending: pending}, nil
}

// retryDeletions asks hosts again to drop the shards of deleted files.
func (s *Service) retryDeletions(ctx context.Context) {
	s.dropPending(ctx, "")
}

// dropPending tries up to deletionBatch pending deletions (only those of
// asset when it is not empty), Window at a time, and returns how many
// ended and how many stay pending. A host that does not answer once is not
// asked again in the same pass.
func (s *Service) dropPending(ctx context.Context, asset string) (dropped, pending int) {
	ds, err := s.catalog.PendingDeletions(ctx, asset, s.deps.Now().Add(-s.deps.ShardGrace), deletionBatch)
	if err != nil {
		s.log.Warn("Could not read pending shard deletions", "err", err)
		return 0, 0
	}
	endpoints := s.endpoints(ctx)
	var (
		// mu guards dropped and down.
		mu   sync.Mutex
		down = map[string]bool{}
		wg   sync.WaitGroup
		sem  = make(chan struct{}, s.cfg.Transfer.Window)
	)
	isDown := func(hostID string) bool {
		mu.Lock()
		defer mu.Unlock()
		return down[hostID]
	}
	for _, d := range ds {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		if isDown(d.HostID) {
			<-sem
			continue
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			host := storage.Candidate{ID: d.HostID, Endpoint: d.Endpoint}
			if ep, ok := endpoints[d.HostID]; ok {
				host.Endpoint = ep
			}
			err := s.deps.Transport.DeleteShard(ctx, host, d.Addr)
			// Done when the host dropped it, had none, or refuses for good
			// (it would refuse again); a host that did not answer is asked
			// again on the next pass.
			done := err == nil || errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrHostRefused)
			if errors.Is(err, storage.ErrHostRefused) {
				s.log.Warn("Host refused to delete a shard; it will collect it after its grace period",
					"asset", d.Addr.AssetID, "stripe", d.Addr.Stripe, "index", d.Addr.Index, "host", host.Endpoint, "err", err)
			}
			if uerr := s.catalog.DeletionDone(context.WithoutCancel(ctx), d, done); uerr != nil {
				s.log.Warn("Could not record a shard deletion", "err", uerr)
			}
			mu.Lock()
			defer mu.Unlock()
			if done {
				dropped++
			} else {
				down[d.HostID] = true
			}
		}()
	}
	wg.Wait()
	// Everything not dropped (failed, skipped, not tried) stays queued.
	return dropped, len(ds) - dropped
}

// endpoints returns the current endpoint of every candidate host by ID: a
// host may have moved since it took a shard.
func (s *Service) endpoints(ctx context.Context) map[string]string {
	out := map[string]string{}
	hosts, err := s.deps.Hosts.Candidates(ctx)
	if err != nil {
		return out
	}
	for _, h := range hosts {
		out[h.ID] = h.Endpoint
	}
	return out
}

// claimAll renews the node's lease on every shard of its files (pending
// uploads included), in batches of at most storage.MaxClaimBatch per host.
// A host that does not answer is left for the next pass: its grace period
// is many claim intervals long.
func (s *Service) claimAll(ctx context.Context) {
	ms, err := s.catalog.List(ctx)
	if err != nil {
		s.log.Warn("Claim scan failed", "err", err)
		return
	}
	endpoints := s.endpoints(ctx)
	type hostBatch struct {
		host  storage.Candidate
		addrs []storage.ShardAddr
	}
	batches := map[string]*hostBatch{}
	failed := map[string]bool{}
	flush := func(b *hostBatch) {
		if len(b.addrs) == 0 || failed[b.host.ID] {
			b.addrs = b.addrs[:0]
			return
		}
		n, err := s.deps.Transport.ClaimShards(ctx, b.host, b.addrs)
		switch {
		case err != nil:
			failed[b.host.ID] = true
			if ctx.Err() == nil {
				s.log.Info("Could not claim shards; will try at the next claim", "host", b.host.Endpoint, "err", err)
			}
		case n < len(b.addrs):
			s.log.Warn("Host no longer has some of this node's shards", "host", b.host.Endpoint,
				"claimed", n, "sent", len(b.addrs))
		}
		b.addrs = b.addrs[:0]
	}
	for _, m := range ms {
		if !s.owns(m) {
			continue // a file shared with this node: its owner claims it
		}
		recs, err := s.catalog.Shards(ctx, m.AssetID)
		if err != nil {
			s.log.Warn("Claim scan failed", "asset", m.AssetID, "err", err)
			continue
		}
		for _, r := range recs {
			if ctx.Err() != nil {
				return
			}
			b := batches[r.HostID]
			if b == nil {
				b = &hostBatch{host: storage.Candidate{ID: r.HostID, Endpoint: r.Endpoint}}
				if ep, ok := endpoints[r.HostID]; ok {
					b.host.Endpoint = ep
				}
				batches[r.HostID] = b
			}
			b.addrs = append(b.addrs, storage.ShardAddr{AssetID: m.AssetID, Stripe: r.Stripe, Index: r.Index})
			if len(b.addrs) == storage.MaxClaimBatch {
				flush(b)
			}
		}
	}
	for _, b := range batches {
		flush(b)
	}
}
