package peerclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
)

// maxRunAnswer bounds the answer to POST /run and POST /receipts/storage:
// one receipt and its envelope.
const maxRunAnswer = ledger.MaxReceiptJSON + 1<<10

// Receipts runs jobs on hosts, hands them acceptances and bills consumers,
// signing every request with the node's key. It is safe for concurrent use.
type Receipts struct {
	doer   gen.HttpRequestDoer
	signer *identity.RequestSigner
}

var _ node.ReceiptPeers = (*Receipts)(nil)

// NewReceipts returns the settlement transport over doer, which should
// carry its own overall timeout.
func NewReceipts(doer gen.HttpRequestDoer, signer *identity.RequestSigner) *Receipts {
	return &Receipts{doer: doer, signer: signer}
}

// Run implements node.ReceiptPeers.
func (c *Receipts) Run(ctx context.Context, endpoint string, req node.RunRequest) (ledger.Receipt, error) {
	body := gen.RunRequest{JobId: req.JobID}
	if len(req.Metrics) > 0 {
		body.Metrics = &req.Metrics
	}
	return c.receipt(ctx, endpoint, "/run", body)
}

// StorageReceipt implements node.ReceiptPeers. A host's refusal of the
// window (409) wraps node.ErrConflict: asked again, it answers the same.
func (c *Receipts) StorageReceipt(ctx context.Context, endpoint string, bill node.StorageBill) (ledger.Receipt, error) {
	r, err := c.receipt(ctx, endpoint, "/receipts/storage", gen.StorageBillRequest{
		WindowStart: bill.Window.Start, WindowSeconds: bill.Window.Seconds, Bytes: bill.Bytes})
	if se := (*statusError)(nil); errors.As(err, &se) && se.status == http.StatusConflict {
		return ledger.Receipt{}, fmt.Errorf("%w: %w", node.ErrConflict, err)
	}
	return r, err
}

// receipt posts body to path and returns the host's signed receipt from
// the answer.
func (c *Receipts) receipt(ctx context.Context, endpoint, path string, body any) (ledger.Receipt, error) {
	answer, err := c.post(ctx, endpoint, path, body, http.StatusOK, maxRunAnswer)
	if err != nil {
		return ledger.Receipt{}, err
	}
	var res struct {
		Receipt json.RawMessage `json:"receipt"`
	}
	if err := json.Unmarshal(answer, &res); err != nil {
		return ledger.Receipt{}, fmt.Errorf("%s answer: %w", path, err)
	}
	r, err := ledger.DecodeReceipt(res.Receipt)
	if err != nil {
		return ledger.Receipt{}, fmt.Errorf("%s answer: %w", path, err)
	}
	if err := r.Verify(); err != nil {
		return ledger.Receipt{}, fmt.Errorf("%s answer: %w", path, err)
	}
	return r, nil
}

// Accept implements node.ReceiptPeers.
func (c *Receipts) Accept(ctx context.Context, endpoint string, r ledger.Receipt) error {
	_, err := c.post(ctx, endpoint, "/receipts/accept", r, http.StatusNoContent, 4<<10)
	return err
}

// Bill implements node.ReceiptPeers.
func (c *Receipts) Bill(ctx context.Context, endpoint string, rs []ledger.Receipt) error {
	_, err := c.post(ctx, endpoint, "/receipts/bill", struct {
		Receipts []ledger.Receipt `json:"receipts"`
	}{rs}, http.StatusOK, 4<<10)
	return err
}

// post sends body, signed, to path and returns the answer (at most limit
// bytes) when the status is want, and a *statusError when it is not.
func (c *Receipts) post(ctx context.Context, endpoint, path string, body any, want int, limit int64) ([]byte, error) {
	status, answer, err := postSigned(ctx, c.doer, c.signer, endpoint, path, body, limit)
	if err != nil {
		return nil, err
	}
	if status != want {
		return nil, &statusError{status, fmt.Sprintf("%s%s: status %d: %s", strings.TrimRight(endpoint, "/"), path, status, problemDetail(answer))}
	}
	return answer, nil
}

// statusError is a peer's answer with a status other than the one asked
// for.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }
