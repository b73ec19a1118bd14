package node

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"regexp"

	"github.com/offgrid-net/offgrid/broker"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/jobs"
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
	r, err := n.appendReceipt(ctx, n.newReceipt(ledger.Receipt{
		ResourceType: ledger.ResourceCompute,
		JobID:        req.JobID,
		Units:        int64(math.Round(req.Metrics[UnitsMetric] * fixed.Scale)),
		Metrics:      req.Metrics,
		IssuedAt:     n.cfg.Now().UnixMilli(),
	}, req.Consumer, a.Prices.Compute))
	if errors.Is(err, ledger.ErrDuplicateJob) {
		return ledger.Receipt{}, fmt.Errorf("%w: job %q already has a receipt", ErrConflict, req.JobID)
	}
	return r, err
}

// appendReceipt signs and stores one of this node's receipts, and reports
// it.
func (n *Node) appendReceipt(ctx context.Context, r ledger.Receipt) (ledger.Receipt, error) {
	r, err := n.receipts.SignAndAppend(ctx, n.keys, r)
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("sign receipt: %w", err)
	}
	n.metrics.receipts.Inc()
	n.log.Info("Receipt signed", "job", r.JobID, "resource", r.ResourceType, "seq", r.Seq)
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

// jobDeps connects the jobs part to the node: the peer table for
// candidates, the announce for activity and price, the mesh, receipts.
func (n *Node) jobDeps(db *sql.DB, keys *identity.Keys, transport jobs.Transport) jobs.Deps {
	return jobs.Deps{
		DB:         db,
		Keys:       keys,
		Transport:  transport,
		Candidates: n.jobCandidates,
		Active:     n.active,
		UnitPrice: func(ctx context.Context) (int64, error) {
			a, err := n.Announce(ctx)
			return a.Prices.Compute, err
		},
		Mesh: func() (bool, int) {
			m := n.peers.Mesh()
			return m.MeshOK, len(m.Neighbors)
		},
		SignReceipt: func(ctx context.Context, r ledger.Receipt) (ledger.Receipt, error) {
			r.Version, r.ClusterID, r.IssuedAt = ledger.ReceiptVersion, n.receiptCluster(), n.cfg.Now().UnixMilli()
			return n.appendReceipt(ctx, r)
		},
		Payer:  jobPayer{n},
		Logger: n.cfg.Logger,
		Now:    n.cfg.Now,
	}
}

// jobCandidates are the peers up, active and known by ID: the hosts a job
// may go to (the peer table holds members only).
func (n *Node) jobCandidates(ctx context.Context) ([]jobs.Candidate, error) {
	ps, err := n.peers.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []jobs.Candidate
	for _, p := range ps {
		if p.State != PeerUp || !p.Active || p.ID == "" || p.ID == n.info.ID {
			continue
		}
		via := p.Via
		if via == "static" || via == "gossip" {
			// Polled or gossiped over IP: the Wi-Fi mesh.
			via = "udp"
		}
		out = append(out, jobs.Candidate{ID: p.ID.String(), Endpoint: p.Endpoint, Via: via, PathMetric: p.PathMetric})
	}
	return out, nil
}

// QuoteJob answers a broker's request for a job's price.
func (n *Node) QuoteJob(ctx context.Context, q jobs.QuoteRequest) (jobs.QuoteAnswer, error) {
	if err := n.checkRunning(); err != nil {
		return jobs.QuoteAnswer{}, err
	}
	return n.jobs.Quote(ctx, q)
}

// ExecJob accepts a job from sender to run on this host.
func (n *Node) ExecJob(ctx context.Context, sender string, req jobs.ExecRequest) error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	return n.jobs.Exec(ctx, sender, req)
}

// ExecStatus says how a job from sender goes on this host.
func (n *Node) ExecStatus(sender, jobID string) (jobs.RunStatus, error) {
	return n.jobs.Status(sender, jobID)
}

// ExecOutput returns the output of a job from sender that this host ran.
func (n *Node) ExecOutput(sender, jobID string) ([]byte, error) {
	return n.jobs.Output(sender, jobID)
}

// SubmitJob brokers a job to the mesh.
func (n *Node) SubmitJob(ctx context.Context, req jobs.SubmitRequest) (broker.Job, error) {
	if err := n.checkRunning(); err != nil {
		return broker.Job{}, err
	}
	return n.jobs.Submit(ctx, req)
}

// Job returns a brokered job.
func (n *Node) Job(ctx context.Context, id string) (broker.Job, error) { return n.jobs.Job(ctx, id) }

// Jobs returns up to limit brokered jobs, newest first.
func (n *Node) Jobs(ctx context.Context, limit int) ([]broker.Job, error) {
	return n.jobs.Jobs(ctx, limit)
}

// JobOutput returns a done job's verified output.
func (n *Node) JobOutput(ctx context.Context, id string) ([]byte, error) {
	return n.jobs.JobOutput(ctx, id)
}

// Reputation returns this node's own observations of hosts as signed
// records, for other nodes to merge.
func (n *Node) Reputation(ctx context.Context) ([]broker.RepRecord, error) {
	return n.jobs.Reputation(ctx)
}

// Reputations returns what this node knows of every host.
func (n *Node) Reputations(ctx context.Context) (map[string]broker.Reputation, error) {
	return n.jobs.Reputations(ctx)
}

// MergeReputation merges other observers' signed records; one forged or
// malformed record refuses them all.
func (n *Node) MergeReputation(ctx context.Context, rs []broker.RepRecord) (int, error) {
	return n.jobs.MergeReputation(ctx, rs)
}
