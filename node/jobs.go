package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// Bounds of a job's metrics; openapi.yaml's RunRequest states the same (a
// test compares them).
const (
	// MaxMetrics is the most metrics one job may report.
	MaxMetrics = 64
	// MaxMetricValue is the largest metric value; a metric is never
	// negative.
	MaxMetricValue = 1e12
)

// UnitsMetric is the job metric that sets a compute receipt's units:
// millions of tokens processed.
const UnitsMetric = "compute_tokens_m"

var jobIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// RunRequest asks the host to run a job.
type RunRequest struct {
	JobID   string
	Metrics map[string]float64
	// Consumer is the node that asked (a signed request), who pays. With
	// one the receipt is version 2 (consumer and unit price); without one
	// (the admin token) it is version 1 and nobody can be charged for it.
	Consumer identity.NodeID
}

// RunJob runs a job and signs a usage receipt for it. Jobs are metered by
// the caller's metrics for now (compute_tokens_m sets the units); the
// receipt is stored and published as ReceiptSigned.
func (n *Node) RunJob(ctx context.Context, req RunRequest) (ledger.Receipt, error) {
	if err := n.checkRunning(); err != nil {
		return ledger.Receipt{}, err
	}
	if !jobIDPattern.MatchString(req.JobID) {
		return ledger.Receipt{}, nodeerr.Invalidf("job_id must be 1-128 characters of A-Z a-z 0-9 . _ : -")
	}
	if len(req.Metrics) > MaxMetrics {
		return ledger.Receipt{}, nodeerr.Invalidf("at most %d metrics", MaxMetrics)
	}
	for k, v := range req.Metrics {
		if k == "" || len(k) > 64 {
			return ledger.Receipt{}, nodeerr.Invalidf("metric names must be 1-64 characters")
		}
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 || v > MaxMetricValue {
			return ledger.Receipt{}, nodeerr.Invalidf("metric %q must be a number between 0 and 1e12", k)
		}
	}
	a, err := n.Announce(ctx)
	if err != nil {
		return ledger.Receipt{}, err
	}
	if !a.Active {
		return ledger.Receipt{}, fmt.Errorf("%w: it runs no jobs", ErrInactive)
	}
	r, err := n.receipts.SignAndAppend(ctx, n.keys, n.newReceipt(ledger.Receipt{
		ResourceType: ledger.ResourceCompute,
		JobID:        req.JobID,
		Units:        int64(math.Round(req.Metrics[UnitsMetric] * fixed.Scale)),
		Metrics:      req.Metrics,
		IssuedAt:     n.cfg.Now().UnixMilli(),
	}, req.Consumer, a.Prices.Compute))
	if errors.Is(err, ledger.ErrDuplicateJob) {
		return ledger.Receipt{}, fmt.Errorf("%w: job %q already has a receipt", ErrConflict, req.JobID)
	}
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("sign receipt: %w", err)
	}
	n.metrics.receipts.Inc()
	n.log.Info("Receipt signed", "job", r.JobID, "seq", r.Seq)
	n.bus.Publish(ReceiptSigned{Receipt: r})
	return r, nil
}

// RecentReceipts returns up to limit receipts, newest first.
func (n *Node) RecentReceipts(ctx context.Context, limit int) ([]ledger.Receipt, error) {
	if limit < 1 || limit > 1000 {
		return nil, nodeerr.Invalidf("limit must be between 1 and 1000")
	}
	return n.receipts.Recent(ctx, limit)
}

// ExportReceipts returns the receipts with seq above sinceSeq (at most
// limit) as a Merkle batch with inclusion proofs.
func (n *Node) ExportReceipts(ctx context.Context, sinceSeq uint64, limit int) (ledger.Batch, error) {
	if limit < 1 || limit > 10000 {
		return ledger.Batch{}, nodeerr.Invalidf("limit must be between 1 and 10000")
	}
	rs, err := n.receipts.Since(ctx, sinceSeq, limit)
	if err != nil {
		return ledger.Batch{}, err
	}
	if len(rs) == 0 {
		// Nothing to export (a fresh node, or a caller that is up to date):
		// an empty batch, whose root is that of the empty tree.
		root := ledger.MerkleRoot(nil)
		return ledger.Batch{Version: ledger.BatchVersion, NodeID: n.info.ID, Root: hex.EncodeToString(root[:])}, nil
	}
	b, err := ledger.NewBatch(n.info.ID, rs)
	if err != nil {
		return ledger.Batch{}, fmt.Errorf("batch receipts: %w", err)
	}
	return b, nil
}
