package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/node/economy"
	"github.com/offgrid-net/offgrid/node/jobs"
)

// JobPaid says this node signed the payment of a host for a job it
// brokered (the transfer then gathers its witnesses like any other).
type JobPaid struct {
	JobID  string
	Host   identity.NodeID
	Amount int64
	TxID   string
}

// Kind implements Event.
func (JobPaid) Kind() string { return "job_paid" }

// jobPayer pays the hosts of the jobs this node brokers from its economy
// account: one transfer per majority host with the memo "job <id>". A
// transfer, not a kind a witness must validate, because only the payer can
// be hurt by a double payment and the payer alone guards against it: the
// (job, host) row is written in the SQLite transaction that signs the
// transfer, and a job ID lives only in this node's database, so no job is
// accepted, and paid, again once that database is gone.
type jobPayer struct{ n *Node }

var _ jobs.Payer = jobPayer{}

// CanPay implements jobs.Payer. Without an economy every job may run
// (unpaid).
func (p jobPayer) CanPay(ctx context.Context, amount int64, payments int) error {
	err := p.n.economy.CanSpend(ctx, amount, payments)
	if errors.Is(err, economy.ErrNoEconomy) {
		return nil
	}
	return err
}

// Pay implements jobs.Payer.
func (p jobPayer) Pay(ctx context.Context, host string, amount int64, jobID string) error {
	id, fresh, err := p.n.economy.PayJob(ctx, jobID, host, amount)
	if errors.Is(err, economy.ErrNoEconomy) {
		return fmt.Errorf("%w: %w", jobs.ErrNoEconomy, err)
	}
	if err != nil {
		return err
	}
	if fresh {
		p.n.log.Info("Job host paid", "job", jobID, "host", host, "amount", fixed.Format(amount))
		p.n.bus.Publish(JobPaid{JobID: jobID, Host: identity.NodeID(host), Amount: amount, TxID: fmt.Sprintf("%x", id)})
	}
	return nil
}
