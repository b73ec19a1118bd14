package node

import (
	"context"
	"errors"
	"fmt"

	"github.com/offgrid-net/offgrid/identity"
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
