package node

import (
	"context"

	"github.com/offgrid-net/offgrid/internal/periodic"
	"github.com/offgrid-net/offgrid/storage"
)

// scrubBatch bounds how many shards one scrub step re-reads (and so how
// long it holds the disk) before it checks for cancellation again.
const scrubBatch = 64

// scrubLoop re-reads every shard this node hosts each ScrubInterval (ZFS
// scrub style), quarantining the ones whose blob is missing or corrupt, so
// a lost shard answers 410 before its owner needs it. It returns nil when
// ctx ends.
func (n *Node) scrubLoop(ctx context.Context) error {
	return periodic.Run(ctx, n.cfg.ScrubInterval, func(ctx context.Context) {
		checked, bad, err := n.Scrub(ctx)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			n.log.Warn("Shard scrub failed", "err", err)
		case bad > 0:
			n.log.Warn("Shard scrub quarantined shards", "checked", checked, "bad", bad)
		default:
			n.log.Info("Shard scrub passed", "checked", checked)
		}
	})
}

// Scrub runs one full pass over the shards this node hosts: every blob is
// re-read and checked against its hash; a missing or corrupt one is
// quarantined (later reads answer ErrCorrupt, then ErrNotFound) and
// counted in offgrid_shards_corrupt_total. It returns how many shards it
// checked and how many failed.
func (n *Node) Scrub(ctx context.Context) (checked, bad int, err error) {
	if err := n.checkRunning(); err != nil {
		return 0, 0, err
	}
	var cur storage.ScrubCursor
	for {
		res, err := n.shards.Scrub(ctx, cur, scrubBatch)
		checked += res.Checked
		for _, sh := range res.Bad {
			bad++
			n.shardLost(sh.AssetID, sh.Index, "scrub", nil)
		}
		n.metrics.shardsScrubbed.Add(float64(res.Checked))
		if err != nil || res.Done {
			return checked, bad, err
		}
		cur = res.Next
	}
}
