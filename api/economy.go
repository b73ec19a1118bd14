package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/api/genserver"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
)

func txDTO(t node.TxState) gen.TxState {
	out := gen.TxState{
		TxId:        hex.EncodeToString(t.ID[:]),
		Src:         t.Tx.Src,
		Dst:         t.Tx.Dst,
		Amount:      fixed.Format(t.Tx.Amount),
		Fee:         fixed.Format(t.Tx.Fee),
		Nonce:       int64(t.Tx.Nonce),
		Kind:        string(t.Tx.Kind),
		Epoch:       int64(t.Tx.Epoch),
		State:       gen.TxStateState(t.State),
		Weight:      int64(t.Weight),
		Needed:      int64(t.Needed),
		TotalWeight: int64(t.Total),
		Signers:     nodeIDs(t.Signers),
		Updated:     t.Updated,
	}
	if t.Err != "" {
		out.Error = &t.Err
	}
	if t.Certificate != nil {
		c := base64.StdEncoding.EncodeToString(t.Certificate.Encode())
		out.Certificate = &c
	}
	return out
}

func balancesDTO(self identity.NodeID, b node.Balances) gen.Balances {
	out := gen.Balances{
		ClusterId: b.Cluster.String(),
		Epoch:     int64(b.Epoch),
		Self:      string(self),
		Supply:    fixed.Format(b.Supply),
		Genesis:   fixed.Format(b.Genesis),
		Issued:    fixed.Format(b.Issued),
		Accounts:  []gen.AccountBalance{},
	}
	for _, a := range b.SortedAccounts() {
		out.Accounts = append(out.Accounts, gen.AccountBalance{Account: a, Balance: fixed.Format(b.Accounts[a])})
	}
	return out
}

// txID parses a transaction ID (the spec's pattern has checked its form).
func txID(s string) ([32]byte, error) {
	var id [32]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("%w: tx_id must be 64 hex digits", problem.ErrBadRequest)
	}
	copy(id[:], b)
	return id, nil
}

// decodeB64List decodes base64 fields (the spec's pattern has checked
// their alphabet).
func decodeB64List(field string, in []string) ([][]byte, error) {
	out := make([][]byte, len(in))
	for i, s := range in {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s[%d] is not base64", problem.ErrBadRequest, field, i)
		}
		out[i] = b
	}
	return out, nil
}

func (h *handlers) PostTransfer(ctx context.Context, req genserver.PostTransferRequestObject) (genserver.PostTransferResponseObject, error) {
	amount, err := parseDecimal("amount", req.Body.Amount)
	if err != nil {
		return nil, err
	}
	r := node.TransferRequest{Dst: req.Body.Dst, Amount: amount}
	if req.Body.Memo != nil {
		r.Memo = *req.Body.Memo
	}
	if req.Body.Manual != nil {
		r.Manual = *req.Body.Manual
	}
	t, err := h.node.Transfer(ctx, r)
	if err != nil {
		return nil, err
	}
	if t.State == node.TxFinal {
		return genserver.PostTransfer201JSONResponse{TxFinalJSONResponse: genserver.TxFinalJSONResponse(txDTO(t))}, nil
	}
	return genserver.PostTransfer202JSONResponse{TxInPoolJSONResponse: genserver.TxInPoolJSONResponse(txDTO(t))}, nil
}

func (h *handlers) GetBalances(ctx context.Context, _ genserver.GetBalancesRequestObject) (genserver.GetBalancesResponseObject, error) {
	b, err := h.node.Balances(ctx)
	if err != nil {
		return nil, err
	}
	return genserver.GetBalances200JSONResponse{BalancesAnswerJSONResponse: genserver.BalancesAnswerJSONResponse(balancesDTO(h.node.Info().ID, b))}, nil
}

func (h *handlers) GetGossipBalances(ctx context.Context, _ genserver.GetGossipBalancesRequestObject) (genserver.GetGossipBalancesResponseObject, error) {
	b, err := h.node.Balances(ctx)
	if err != nil {
		return nil, err
	}
	return genserver.GetGossipBalances200JSONResponse{BalancesAnswerJSONResponse: genserver.BalancesAnswerJSONResponse(balancesDTO(h.node.Info().ID, b))}, nil
}

func (h *handlers) GetTx(ctx context.Context, req genserver.GetTxRequestObject) (genserver.GetTxResponseObject, error) {
	id, err := txID(req.TxId)
	if err != nil {
		return nil, err
	}
	t, err := h.node.Tx(ctx, id)
	if err != nil {
		return nil, err
	}
	return genserver.GetTx200JSONResponse{TxAnswerJSONResponse: genserver.TxAnswerJSONResponse(txDTO(t))}, nil
}

func (h *handlers) WitnessTx(ctx context.Context, req genserver.WitnessTxRequestObject) (genserver.WitnessTxResponseObject, error) {
	id, err := txID(req.TxId)
	if err != nil {
		return nil, err
	}
	var only identity.NodeID
	if req.Body.Witness != nil {
		only = identity.NodeID(*req.Body.Witness)
	}
	t, err := h.node.WitnessTx(ctx, id, only)
	if err != nil {
		return nil, err
	}
	return genserver.WitnessTx200JSONResponse{TxAnswerJSONResponse: genserver.TxAnswerJSONResponse(txDTO(t))}, nil
}

func (h *handlers) FinalizeTx(ctx context.Context, req genserver.FinalizeTxRequestObject) (genserver.FinalizeTxResponseObject, error) {
	id, err := txID(req.TxId)
	if err != nil {
		return nil, err
	}
	t, err := h.node.FinalizeTx(ctx, id)
	if err != nil {
		return nil, err
	}
	return genserver.FinalizeTx200JSONResponse{TxAnswerJSONResponse: genserver.TxAnswerJSONResponse(txDTO(t))}, nil
}

func (h *handlers) GossipTxWitness(ctx context.Context, req genserver.GossipTxWitnessRequestObject) (genserver.GossipTxWitnessResponseObject, error) {
	tx, err := base64.StdEncoding.DecodeString(req.Body.Tx)
	if err != nil {
		return nil, fmt.Errorf("%w: tx is not base64", problem.ErrBadRequest)
	}
	var credits [][]byte
	if req.Body.Credits != nil {
		if credits, err = decodeB64List("credits", *req.Body.Credits); err != nil {
			return nil, err
		}
	}
	v, err := h.node.SignAsWitness(ctx, tx, credits)
	if err != nil {
		return nil, err
	}
	return genserver.GossipTxWitness200JSONResponse{Vote: base64.StdEncoding.EncodeToString(v)}, nil
}

func (h *handlers) GetTxPool(ctx context.Context, _ genserver.GetTxPoolRequestObject) (genserver.GetTxPoolResponseObject, error) {
	ts, err := h.node.TxPool(ctx)
	if err != nil {
		return nil, err
	}
	out := genserver.GetTxPool200JSONResponse{Txs: make([]gen.TxState, 0, len(ts))}
	for _, t := range ts {
		out.Txs = append(out.Txs, txDTO(t))
	}
	return out, nil
}

func (h *handlers) MergeBalances(ctx context.Context, req genserver.MergeBalancesRequestObject) (genserver.MergeBalancesResponseObject, error) {
	if req.Body.Balances != nil {
		return nil, fmt.Errorf("%w: balance snapshots are not merged: balances are recomputed from final certificates, "+
			"which carry the signatures of more than 2/3 of the witness weight and can be checked; numbers cannot. Send certificates", problem.ErrBadRequest)
	}
	if req.Body.Certificates == nil || len(*req.Body.Certificates) == 0 {
		return nil, fmt.Errorf("%w: no certificates", problem.ErrBadRequest)
	}
	certs, err := decodeB64List("certificates", *req.Body.Certificates)
	if err != nil {
		return nil, err
	}
	applied, known, err := h.node.MergeCertificates(ctx, certs)
	if err != nil {
		return nil, err
	}
	return genserver.MergeBalances200JSONResponse{Applied: applied, Known: known}, nil
}

func (h *handlers) GetCertificates(ctx context.Context, req genserver.GetCertificatesRequestObject) (genserver.GetCertificatesResponseObject, error) {
	after, limit := int64(0), 64
	if req.Params.After != nil {
		after = *req.Params.After
	}
	if req.Params.Limit != nil {
		limit = int(*req.Params.Limit)
	}
	certs, next, err := h.node.Certificates(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := genserver.GetCertificates200JSONResponse{Certificates: make([]string, len(certs)), Next: next}
	for i, c := range certs {
		out.Certificates[i] = base64.StdEncoding.EncodeToString(c)
	}
	return out, nil
}
