package api

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/api/genserver"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// runJob runs a job here, or with host on that host for this node. A
// signed caller is the receipt's consumer; host is for the admin only (a
// node may not make this node ask a third one).
func (h *handlers) runJob(ctx context.Context, run node.RunRequest, host *string) (ledger.Receipt, error) {
	c, _ := CallerFrom(ctx)
	if host != nil {
		if !c.Admin {
			return ledger.Receipt{}, fmt.Errorf("%w: only the admin may run a job on another host", node.ErrForbidden)
		}
		return h.node.RunOn(ctx, *host, run)
	}
	if !c.Admin {
		run.Consumer = c.Node
	}
	return h.node.RunJob(ctx, run)
}

func (h *handlers) AcceptReceipt(ctx context.Context, req genserver.AcceptReceiptRequestObject) (genserver.AcceptReceiptResponseObject, error) {
	r, err := receiptFromDTO(*req.Body)
	if err != nil {
		return nil, err
	}
	c, _ := CallerFrom(ctx)
	if err := h.node.AcceptReceipt(ctx, c.Node, r); err != nil {
		return nil, err
	}
	return genserver.AcceptReceipt204Response{}, nil
}

func (h *handlers) BillReceipts(ctx context.Context, req genserver.BillReceiptsRequestObject) (genserver.BillReceiptsResponseObject, error) {
	rs := make([]ledger.Receipt, len(req.Body.Receipts))
	for i, dto := range req.Body.Receipts {
		r, err := receiptFromDTO(dto)
		if err != nil {
			return nil, fmt.Errorf("receipt %d: %w", i, err)
		}
		rs[i] = r
	}
	c, _ := CallerFrom(ctx)
	added, err := h.node.Bill(ctx, c.Node, rs)
	if err != nil {
		return nil, err
	}
	return genserver.BillReceipts200JSONResponse{Added: added}, nil
}

func (h *handlers) StorageReceipt(ctx context.Context, req genserver.StorageReceiptRequestObject) (genserver.StorageReceiptResponseObject, error) {
	c, _ := CallerFrom(ctx)
	r, err := h.node.SignStorageReceipt(ctx, c.Node, node.StorageBill{
		Window: ledger.StorageWindow{Start: req.Body.WindowStart, Seconds: req.Body.WindowSeconds},
		Bytes:  req.Body.Bytes,
	})
	if err != nil {
		return nil, err
	}
	return genserver.StorageReceipt200JSONResponse{Status: gen.RunResultStatusOk, Receipt: receiptDTO(r)}, nil
}

func (h *handlers) GetOwed(ctx context.Context, req genserver.GetOwedRequestObject) (genserver.GetOwedResponseObject, error) {
	limit := 100
	if req.Params.Limit != nil {
		limit = *req.Params.Limit
	}
	owed, total, err := h.node.Owed(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := genserver.GetOwed200JSONResponse{Total: fixed.Format(total), Receipts: make([]gen.OwedReceipt, len(owed))}
	for i, o := range owed {
		out.Receipts[i] = gen.OwedReceipt{Id: hex.EncodeToString(o.ID[:]), Reward: fixed.Format(o.Reward), Pending: o.Pending,
			Receipt: receiptDTO(o.Receipt)}
	}
	return out, nil
}

func (h *handlers) Settle(ctx context.Context, req genserver.SettleRequestObject) (genserver.SettleResponseObject, error) {
	limit := node.MaxSettle
	if req.Body != nil && req.Body.Limit != nil {
		limit = *req.Body.Limit
	}
	res, err := h.node.Settle(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := genserver.Settle200JSONResponse{Receipts: res.Receipts, Amount: fixed.Format(res.Amount), Fees: fixed.Format(res.Fees),
		Txs: make([]gen.TxState, len(res.Txs))}
	for i, t := range res.Txs {
		out.Txs[i] = txDTO(t)
	}
	return out, nil
}

// receiptFromDTO decodes a receipt from the API strictly, as the ledger
// reads one (the wire forms are the same JSON).
func receiptFromDTO(dto gen.Receipt) (ledger.Receipt, error) {
	b, err := json.Marshal(dto)
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("encode receipt: %w", err)
	}
	r, err := ledger.DecodeReceipt(b)
	if err != nil {
		return ledger.Receipt{}, nodeerr.Invalidf("%v", err)
	}
	return r, nil
}

func receiptConsumer(r ledger.Receipt) *gen.NodeID {
	if r.ConsumerID == "" {
		return nil
	}
	id := string(r.ConsumerID)
	return &id
}

func receiptPrice(r ledger.Receipt) *gen.Decimal {
	if r.Version == ledger.ReceiptVersion {
		return nil
	}
	p := fixed.Format(r.UnitPrice)
	return &p
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
