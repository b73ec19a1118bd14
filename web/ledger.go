package web

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/problem"
)

// ledgerBlocksShown bounds the blocks the ledger page lists.
const ledgerBlocksShown = 100

// proofRow is one receipt of the selected block with what the browser
// needs to check its inclusion: the leaf data (canonical bytes and raw
// signature, hex), its index, the tree size, the audit path and the root.
type proofRow struct {
	Receipt ledger.Receipt
	Leaf    string
	Index   int
	Size    int
	Proof   string
	Root    string
}

// ledgerView is the data of the ledger page.
type ledgerView struct {
	Count    int
	Blocks   []ledger.StoredBlock
	Selected *ledger.Block
	Proofs   []proofRow
	Err      string
}

func (h *Handler) ledgerPage(w http.ResponseWriter, r *http.Request) {
	h.renderPage(w, r, http.StatusOK, "Ledger", navLedger, ledgerBody(h.ledgerView(r.Context(), r.URL.Query().Get("block"))))
}

func (h *Handler) ledgerView(ctx context.Context, selected string) ledgerView {
	ctx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
	defer cancel()
	var v ledgerView
	bs, count, err := h.node.RecentBlocks(ctx, 0, ledgerBlocksShown)
	if err != nil {
		return ledgerView{Err: h.publicErr("The blocks could not be read", err)}
	}
	v.Blocks, v.Count = bs, count
	if selected == "" && len(bs) > 0 {
		selected = bs[0].Block.Name().String()
	}
	if selected == "" {
		return v
	}
	b, err := h.node.Block(ctx, selected)
	if err != nil {
		v.Err = h.publicErr("The block could not be read", err)
		return v
	}
	v.Selected = &b
	for i, rc := range b.Receipts {
		msg, err := rc.CanonicalBytes()
		if err != nil {
			v.Err = h.publicErr("A receipt of the block could not be encoded", err)
			return v
		}
		sig, _ := hex.DecodeString(rc.Signature)
		proof, err := b.InclusionProof(i)
		if err != nil {
			v.Err = h.publicErr("A receipt's proof could not be built", err)
			return v
		}
		path := make([]string, len(proof))
		for j, p := range proof {
			path[j] = hex.EncodeToString(p[:])
		}
		v.Proofs = append(v.Proofs, proofRow{Receipt: rc, Leaf: hex.EncodeToString(append(msg, sig...)), Index: i,
			Size: len(b.Receipts), Proof: strings.Join(path, " "), Root: b.Root})
	}
	return v
}

// publicErr is msg, with the node's reason when it may be shown.
func (h *Handler) publicErr(msg string, err error) string {
	h.log.Warn(msg, "err", err)
	if c := problem.Classify(err); c.Public {
		return msg + ": " + sentence(c.Reason)
	}
	return msg + "."
}
