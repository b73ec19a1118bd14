package node

import (
	"context"
	"errors"
	"fmt"
	"math"

	econ "github.com/offgrid-net/offgrid/economy"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/internal/periodic"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// ReceiptAccepted says a consumer accepted one of this node's receipts, so
// it may be paid.
type ReceiptAccepted struct {
	Receipt ledger.Receipt
}

// Kind implements Event.
func (ReceiptAccepted) Kind() string { return "receipt_accepted" }

// receiptCluster is the cluster label receipts carry: the installed cluster
// document's ID, or the configured label while the node runs alone.
func (n *Node) receiptCluster() string {
	if d, ok := n.trust.Document(); ok {
		return d.ID.String()
	}
	return n.cfg.ClusterID
}

// newReceipt fills in the fields every receipt of this node shares: the
// version, the cluster and, when a consumer asked, the consumer and the unit
// price that make it version 2.
func (n *Node) newReceipt(r ledger.Receipt, consumer identity.NodeID, unitPrice int64) ledger.Receipt {
	r.Version = ledger.ReceiptVersion
	r.ClusterID = n.receiptCluster()
	if consumer != "" {
		r.Version = ledger.ReceiptVersion2
		r.ConsumerID = consumer
		r.UnitPrice = unitPrice
	}
	return r
}

// AcceptReceipt stores a consumer's acceptance of one of this node's
// receipts: caller must be the receipt's consumer, and r the stored receipt
// carrying its acceptance. Accepting again changes nothing.
func (n *Node) AcceptReceipt(ctx context.Context, caller identity.NodeID, r ledger.Receipt) error {
	if err := n.checkRunning(); err != nil {
		return err
	}
	if r.NodeID != n.info.ID {
		return nodeerr.Invalidf("the receipt was signed by %s, not by this node", r.NodeID)
	}
	if caller != r.ConsumerID {
		return fmt.Errorf("%w: only the receipt's consumer %s may accept it", ErrForbidden, r.ConsumerID)
	}
	err := n.receipts.Accept(ctx, r)
	switch {
	case errors.Is(err, ledger.ErrUnknownReceipt):
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	case errors.Is(err, ledger.ErrBadAcceptance), errors.Is(err, ledger.ErrBadSignature), errors.Is(err, ledger.ErrInvalidReceipt):
		return nodeerr.Invalidf("%v", err)
	case err != nil:
		return err
	}
	n.log.Info("Receipt accepted", "seq", r.Seq, "consumer", r.ConsumerID)
	n.bus.Publish(ReceiptAccepted{Receipt: r})
	return nil
}

// Owed is an accepted receipt this node has not paid with a final payment.
type Owed = econ.Owed

// ReceiptPeers reaches other hosts for settlement. Implementations must be
// safe for concurrent use, honour ctx and bound what they read.
type ReceiptPeers interface {
	// Run asks the host at endpoint to run a job (a signed request: this
	// node is the consumer) and returns its receipt.
	Run(ctx context.Context, endpoint string, req RunRequest) (ledger.Receipt, error)
	// Accept hands the host at endpoint this node's acceptance of its
	// receipt.
	Accept(ctx context.Context, endpoint string, r ledger.Receipt) error
	// Bill hands the consumer at endpoint accepted receipts it owes for.
	Bill(ctx context.Context, endpoint string, rs []ledger.Receipt) error
	// StorageReceipt asks the host at endpoint (a signed request: this
	// node is the owner) for its receipt for keeping this node's shards.
	// The host's refusal of the window wraps ErrConflict.
	StorageReceipt(ctx context.Context, endpoint string, bill StorageBill) (ledger.Receipt, error)
}

// Bounds of settlement through the API.
const (
	// MaxBill is the most receipts one bill carries (openapi.yaml's
	// BillRequest.receipts maxItems).
	MaxBill = 100
	// MaxSettle is the most receipts one Settle call pays.
	MaxSettle = 1000
	// billConsumers is how many consumers one auto-settle round bills.
	billConsumers = 16
)

// settlement is the node's part in settlement: the consumer's owed
// receipts and payments, and the witness's paid-receipt index.
type settlement struct {
	settler *econ.Settler
	paid    *econ.PaidIndex
	remote  ReceiptPeers
}

// certSource is the paid-receipt index's view of the economy ledger, found
// when it is needed: the ledger opens with the cluster's economy, after
// the node is built.
type certSource struct{ n *Node }

func (c certSource) Certificates(ctx context.Context, after int64, limit int) ([]econ.Certificate, int64, error) {
	return c.n.economy.LedgerCertificates(ctx, after, limit)
}

// validators are what this node's witness consults for transactions other
// than transfers: the paid-receipt index for settlements. Issuance and
// job payments have no validator yet, so the witness refuses them.
func (n *Node) validators() econ.Validator {
	return econ.Validators{econ.KindSettle: n.settle.paid}
}

func (n *Node) openSettlement(ctx context.Context, remote ReceiptPeers) error {
	settler, err := econ.OpenSettler(ctx, n.db, n.keys)
	if err != nil {
		return err
	}
	paid, err := econ.OpenPaidIndex(ctx, n.db, certSource{n})
	if err != nil {
		return err
	}
	n.settle = settlement{settler: settler, paid: paid, remote: remote}
	return nil
}

// Settled says this node signed payments for receipts it owed.
type Settled struct {
	Receipts int
	Amount   int64
	Fees     int64
	Txs      []TxState
}

// Kind implements Event.
func (Settled) Kind() string { return "settled" }

// ReceiptsBilled says a host sent this node receipts it owes for.
type ReceiptsBilled struct {
	Host  identity.NodeID
	Added int
}

// Kind implements Event.
func (ReceiptsBilled) Kind() string { return "receipts_billed" }

// SettleResult is what one Settle call did.
type SettleResult struct {
	// Receipts is how many receipts the new payments pay.
	Receipts int
	// Amount and Fees are what the new payments move (micro-credits).
	Amount, Fees int64
	// Txs are the new payments and those signed earlier that are not
	// final yet, with their witness progress.
	Txs []TxState
}

// Settle takes the storage receipts of the windows that ended since each
// host last billed this node (see billStorage), then pays up to limit of
// the newest accepted receipts this node owes, in batched transactions to
// their hosts and to the system account (see economy.Settler.Settle), and
// asks the witnesses for them. A receipt is put into a payment at most
// once, however often Settle runs; payments signed before a crash are sent
// again, never replaced. When the node cannot pay, the answer is
// ErrConflict naming the amounts and the receipts stay owed.
func (n *Node) Settle(ctx context.Context, limit int) (SettleResult, error) {
	if err := n.checkRunning(); err != nil {
		return SettleResult{}, err
	}
	if limit < 1 || limit > MaxSettle {
		return SettleResult{}, nodeerr.Invalidf("limit must be between 1 and %d", MaxSettle)
	}
	// A host that cannot bill its window now is asked again next time;
	// it does not stop the payment of what is owed.
	if _, err := n.billStorage(ctx); err != nil && ctx.Err() == nil {
		n.log.Warn("Storage billing failed", "err", err)
	}
	if l, err := n.economy.Ledger(ctx); err == nil {
		if _, err := n.settle.settler.Finalize(ctx, l); err != nil {
			return SettleResult{}, err
		}
	}
	owed, _, err := n.settle.settler.Owed(ctx, 1)
	if err != nil {
		return SettleResult{}, err
	}
	if len(owed) == 0 {
		return SettleResult{}, nil // nothing owed, nothing waiting: no economy needed
	}
	var res econ.Settlement
	_, err = n.economy.Pay(ctx, func(ctx context.Context, com econ.Committee, funds econ.Funds, pool econ.PoolFunc) ([]econ.Tx, error) {
		var err error
		res, err = n.settle.settler.Settle(ctx, com, funds, limit, pool)
		return res.New, err
	})
	if errors.Is(err, econ.ErrCannotPay) {
		return SettleResult{}, fmt.Errorf("%w: %w", ErrConflict, err)
	}
	if err != nil {
		return SettleResult{}, err
	}
	// Every payment not final yet, new or signed before (a restart), as
	// the pool sees it now.
	txs := make([]TxState, 0, len(res.Pending))
	for _, t := range res.Pending {
		st, err := n.economy.Tx(ctx, t.Hash())
		if err != nil {
			return SettleResult{}, err
		}
		txs = append(txs, st)
	}
	out := SettleResult{Receipts: res.Receipts, Amount: res.Amount, Fees: res.Fees, Txs: txs}
	if res.Receipts > 0 {
		n.log.Info("Receipts settled", "receipts", res.Receipts, "amount", fixed.Format(res.Amount), "txs", len(res.New))
		n.bus.Publish(Settled{Receipts: res.Receipts, Amount: res.Amount, Fees: res.Fees, Txs: txs})
	}
	return out, nil
}

// Owed returns up to limit receipts this node accepted and has not paid
// for with a final payment, newest first, and the sum of their rewards.
func (n *Node) Owed(ctx context.Context, limit int) ([]Owed, int64, error) {
	if limit < 1 || limit > MaxSettle {
		return nil, 0, nodeerr.Invalidf("limit must be between 1 and %d", MaxSettle)
	}
	if l, err := n.economy.Ledger(ctx); err == nil {
		if _, err := n.settle.settler.Finalize(ctx, l); err != nil {
			return nil, 0, err
		}
	}
	return n.settle.settler.Owed(ctx, limit)
}

// Bill records receipts a host says this node owes for: each must be a
// receipt this node accepted (its own acceptance signature proves it).
// Receipts already known change nothing. It returns how many were new.
func (n *Node) Bill(ctx context.Context, host identity.NodeID, rs []ledger.Receipt) (int, error) {
	if err := n.checkRunning(); err != nil {
		return 0, err
	}
	if len(rs) == 0 || len(rs) > MaxBill {
		return 0, nodeerr.Invalidf("a bill carries 1 to %d receipts", MaxBill)
	}
	for _, r := range rs {
		if r.NodeID != host {
			return 0, fmt.Errorf("%w: %s sent a receipt of %s", ErrForbidden, host, r.NodeID)
		}
	}
	added, err := n.settle.settler.AddOwed(ctx, rs)
	switch {
	case errors.Is(err, econ.ErrNotConsumer):
		return 0, nodeerr.Invalidf("%v", err)
	case errors.Is(err, econ.ErrOwedFull):
		return 0, fmt.Errorf("%w: %w", ErrBusy, err)
	case err != nil:
		return 0, err
	}
	if added > 0 {
		n.log.Info("Receipts billed", "host", host, "added", added)
		n.bus.Publish(ReceiptsBilled{Host: host, Added: added})
	}
	return added, nil
}

// RunOn asks the host at endpoint to run a job for this node, checks the
// receipt (this node is its consumer, the units are what the job's metrics
// say), accepts it, records it as owed and hands the acceptance back to the
// host. The receipt is owed even when the host cannot be told: the next
// bill or settlement carries it.
func (n *Node) RunOn(ctx context.Context, endpoint string, req RunRequest) (ledger.Receipt, error) {
	if err := n.checkRunning(); err != nil {
		return ledger.Receipt{}, err
	}
	if n.settle.remote == nil {
		return ledger.Receipt{}, fmt.Errorf("%w: this node reaches no other host", ErrUnavailable)
	}
	if !jobIDPattern.MatchString(req.JobID) {
		return ledger.Receipt{}, nodeerr.Invalidf("job_id must be 1-128 characters of A-Z a-z 0-9 . _ : -")
	}
	r, err := n.settle.remote.Run(ctx, endpoint, RunRequest{JobID: req.JobID, Metrics: req.Metrics})
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("%w: run on %s: %w", ErrUnavailable, endpoint, err)
	}
	want := int64(math.Round(req.Metrics[UnitsMetric] * fixed.Scale))
	switch {
	case r.ConsumerID != n.info.ID:
		return ledger.Receipt{}, fmt.Errorf("%w: the host's receipt names consumer %q, not this node", ErrConflict, r.ConsumerID)
	case r.JobID != req.JobID || r.Units != want:
		return ledger.Receipt{}, fmt.Errorf("%w: the host's receipt is for job %q, %s units; asked %q, %s units",
			ErrConflict, r.JobID, fixed.Format(r.Units), req.JobID, fixed.Format(want))
	}
	acc, err := ledger.Accept(n.keys, r)
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("%w: %w", ErrConflict, err)
	}
	if _, err := n.settle.settler.AddOwed(ctx, []ledger.Receipt{acc}); err != nil {
		return ledger.Receipt{}, err
	}
	if err := n.settle.remote.Accept(ctx, endpoint, acc); err != nil {
		n.log.Warn("Telling the host of an acceptance failed", "host", r.NodeID, "seq", r.Seq, "err", err)
	}
	return acc, nil
}

// settleLoop settles every SettleInterval until ctx ends.
func (n *Node) settleLoop(ctx context.Context) error {
	if n.cfg.SettleInterval < 0 {
		return nil
	}
	return periodic.Run(ctx, n.cfg.SettleInterval, n.autoSettle)
}

// autoSettle is one round: as a host, bill the consumers that are up with
// their newest accepted receipts; as an owner of files, take the storage
// receipts of the last window; as a consumer, pay what is owed.
func (n *Node) autoSettle(ctx context.Context) {
	if n.settle.remote != nil {
		up := n.upPeers(ctx)
		consumers, err := n.receipts.Consumers(ctx, billConsumers)
		if err != nil {
			n.log.Warn("Listing consumers failed", "err", err)
		}
		for _, c := range consumers {
			endpoint, ok := up[c]
			if !ok {
				continue
			}
			rs, err := n.receipts.Accepted(ctx, c, MaxBill)
			if err == nil {
				err = n.settle.remote.Bill(ctx, endpoint, rs)
			}
			if err != nil && ctx.Err() == nil {
				n.log.Warn("Billing a consumer failed", "consumer", c, "err", err)
			}
		}
	}
	if _, err := n.Settle(ctx, MaxSettle); err != nil && ctx.Err() == nil {
		n.log.Warn("Auto-settle failed", "err", err)
	}
}
