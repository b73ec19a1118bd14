package web

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"

	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
)

// walletView is the data of the wallet page's cards.
type walletView struct {
	Self     string
	Balances node.Balances
	Pool     []node.TxState
	Owed     owedView
	// Err says why the economy could not be read (e.g. no economy in the
	// cluster document).
	Err string
}

// transferForm is the transfer form's state.
type transferForm struct {
	Dst, Amount, Memo string
	// Summary is why nothing was sent; Sent is the transfer just made.
	Summary string
	Sent    *node.TxState
}

// wallet serves the wallet page: balances, the transfer form, the pool
// with each transaction's witness weight (live), and the economy feed.
func (h *Handler) wallet(w http.ResponseWriter, r *http.Request) {
	v := h.walletViewFor(r.Context())
	h.renderPage(w, r, http.StatusOK, "Wallet", navWallet, walletBody(v, transferForm{}, h.feedHistoryFor(viewWallet)))
}

// walletPart serves the balances and pool cards (their Refresh button).
func (h *Handler) walletPart(w http.ResponseWriter, r *http.Request) {
	h.renderPart(w, r, http.StatusOK, "Wallet", walletCards(h.walletViewFor(r.Context()), false))
}

// walletViewFor reads the balances and the pool under the node call
// timeout.
func (h *Handler) walletViewFor(ctx context.Context) walletView {
	ctx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
	defer cancel()
	v := walletView{Self: string(h.node.Info().ID), Owed: h.owedViewFor(ctx)}
	b, err := h.node.Balances(ctx)
	if err == nil {
		v.Balances = b
		v.Pool, err = h.node.TxPool(ctx)
	}
	if err != nil {
		v.Err = "The wallet could not be read."
		if c := problem.Classify(err); c.Public {
			v.Err = "The wallet could not be read: " + sentence(c.Reason)
		} else {
			h.log.Warn("Read wallet for dashboard", "err", err)
		}
	}
	return v
}

// transfer sends the transfer form. A bad field or a refusal brings the
// form back with 422 and nothing sent.
func (h *Handler) transfer(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f := transferForm{Dst: strings.TrimSpace(r.PostForm.Get("dst")), Amount: strings.TrimSpace(r.PostForm.Get("amount")),
		Memo: r.PostForm.Get("memo")}
	amount, err := fixed.Parse(f.Amount)
	switch {
	case f.Dst != "system" && !strings.HasPrefix(f.Dst, "did:key:z"):
		f.Summary = "The destination must be a node ID (did:key:z…) or system."
	case err != nil || amount <= 0:
		f.Summary = "The amount must be a positive number of credits with at most six decimals, such as 2.5."
	case len(f.Memo) > node.MaxMemo:
		f.Summary = fmt.Sprintf("The memo may have at most %d bytes.", node.MaxMemo)
	}
	if f.Summary == "" {
		ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
		t, err := h.node.Transfer(ctx, node.TransferRequest{Dst: f.Dst, Amount: amount, Memo: f.Memo})
		cancel()
		if err != nil {
			c := problem.Classify(err)
			f.Summary = "The transfer was not sent."
			if c.Public {
				f.Summary = "The transfer was not sent: " + sentence(c.Reason)
			} else {
				h.log.Warn("Transfer from dashboard", "err", err)
			}
		} else {
			f = transferForm{Sent: &t}
		}
	}
	status := http.StatusOK
	if f.Summary != "" {
		status = http.StatusUnprocessableEntity
	}
	if !isHTMX(r) {
		if status == http.StatusOK {
			http.Redirect(w, r, "/wallet", http.StatusSeeOther)
			return
		}
		h.renderPage(w, r, status, "Wallet", navWallet, walletBody(h.walletViewFor(r.Context()), f, h.feedHistoryFor(viewWallet)))
		return
	}
	h.render(w, r, status, transferResult(f, h.walletViewFor(r.Context())))
}

// txShort is a transaction ID's start, for lists.
func txShort(id [32]byte) string { return hex.EncodeToString(id[:6]) }

// txStateLabel words a transaction's state for people.
func txStateLabel(s string) string {
	switch s {
	case node.TxWaiting:
		return "waiting for witnesses"
	case node.TxGathering:
		return "asking witnesses"
	case node.TxPending:
		return "pending (manual)"
	}
	return s
}

// accountLabel shortens a node ID; system stays.
func accountLabel(a string) string {
	if strings.HasPrefix(a, "did:key:") {
		return "…" + a[len(a)-8:]
	}
	return a
}

// workLabel names what a receipt pays for: its job (shortened to n
// characters), or the window of a storage receipt.
func workLabel(r ledger.Receipt, n int) string {
	if w, _, ok := ledger.StorageWindowOf(r.JobID); ok && r.ResourceType == ledger.ResourceStorage {
		return "storage " + w.String()
	}
	return short(r.JobID, n)
}

// transferText is the live feed's line for a final transfer.
func transferText(e node.TransferFinal) string {
	return fmt.Sprintf("Final: %s credits from %s to %s (fee %s, nonce %d, tx %s).",
		fixed.Format(e.Amount), accountLabel(e.Src), accountLabel(e.Dst), fixed.Format(e.Fee), e.Nonce, txShort(e.TxID))
}

// waitingText is the live feed's line for a transfer short of witnesses.
func waitingText(e node.WaitingForWitnesses) string {
	t := fmt.Sprintf("Waiting for witnesses: tx %s has weight %d, a certificate needs %d; retried automatically.",
		txShort(e.TxID), e.Weight, e.Needed)
	if e.Reason != "" {
		t += " " + e.Reason
	}
	return t
}
