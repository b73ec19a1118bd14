package node

import (
	"context"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/economy"
)

// The economy part's types, re-exported for the API and the dashboard.
type (
	TransferRequest     = economy.TransferRequest
	TxState             = economy.TxState
	Balances            = economy.Balances
	TransferFinal       = economy.TransferFinal
	TxProgress          = economy.TxProgress
	WaitingForWitnesses = economy.WaitingForWitnesses
)

// MaxMemo bounds a transfer's memo.
const MaxMemo = economy.MaxMemo

// States of a transaction (TxState.State).
const (
	TxPending   = economy.StatePending
	TxGathering = economy.StateGathering
	TxWaiting   = economy.StateWaiting
	TxFinal     = economy.StateFinal
	TxRefused   = economy.StateRefused
)

// Transfer sends credits from this node's account; see economy.Service.Transfer.
func (n *Node) Transfer(ctx context.Context, req TransferRequest) (TxState, error) {
	if err := n.checkRunning(); err != nil {
		return TxState{}, err
	}
	return n.economy.Transfer(ctx, req)
}

// Balances returns every account's balance from the final certificates.
func (n *Node) Balances(ctx context.Context) (Balances, error) { return n.economy.Balances(ctx) }

// Tx returns a transaction of the pool, or a final one.
func (n *Node) Tx(ctx context.Context, id [32]byte) (TxState, error) { return n.economy.Tx(ctx, id) }

// TxPool returns this node's transactions that are not final, newest first.
func (n *Node) TxPool(ctx context.Context) ([]TxState, error) { return n.economy.Pool(ctx) }

// WitnessTx asks the witnesses (or only one) to sign a pool transaction.
func (n *Node) WitnessTx(ctx context.Context, id [32]byte, only identity.NodeID) (TxState, error) {
	if err := n.checkRunning(); err != nil {
		return TxState{}, err
	}
	return n.economy.Witness(ctx, id, only)
}

// FinalizeTx forms, applies and spreads a pool transaction's certificate.
func (n *Node) FinalizeTx(ctx context.Context, id [32]byte) (TxState, error) {
	if err := n.checkRunning(); err != nil {
		return TxState{}, err
	}
	return n.economy.Finalize(ctx, id)
}

// SignAsWitness is this node's witness answering /gossip/tx_witness: the
// encoded vote for an encoded transaction.
func (n *Node) SignAsWitness(ctx context.Context, tx []byte, credits [][]byte) ([]byte, error) {
	if err := n.checkRunning(); err != nil {
		return nil, err
	}
	return n.economy.HandleWitness(ctx, tx, credits)
}

// MergeCertificates applies encoded certificates from another node.
func (n *Node) MergeCertificates(ctx context.Context, certs [][]byte) (applied, known int, err error) {
	if err := n.checkRunning(); err != nil {
		return 0, 0, err
	}
	return n.economy.Merge(ctx, certs)
}

// Certificates returns a page of this node's certificate log.
func (n *Node) Certificates(ctx context.Context, after int64, limit int) ([][]byte, int64, error) {
	return n.economy.Certificates(ctx, after, limit)
}

// upPeers returns the endpoints of the up peers by node ID.
func (n *Node) upPeers(ctx context.Context) map[identity.NodeID]string {
	ps, err := n.peers.List(ctx)
	if err != nil {
		return nil
	}
	out := make(map[identity.NodeID]string, len(ps))
	for _, p := range ps {
		if p.State == PeerUp {
			out[p.ID] = p.Endpoint
		}
	}
	return out
}
