package web

import (
	"context"

	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
)

// owedShown bounds the rows of the owed card.
const owedShown = 20

// owedView is the data of the owed card.
type owedView struct {
	Total    int64
	Receipts []node.Owed
	// More counts owed receipts beyond the rows shown.
	More int
	Err  string
}

// owedViewFor reads what this node owes under the node call timeout.
func (h *Handler) owedViewFor(ctx context.Context) owedView {
	ctx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
	defer cancel()
	owed, total, err := h.node.Owed(ctx, owedShown+1)
	if err != nil {
		v := owedView{Err: "What is owed could not be read."}
		if c := problem.Classify(err); c.Public {
			v.Err = "What is owed could not be read: " + sentence(c.Reason)
		} else {
			h.log.Warn("Read owed receipts for dashboard", "err", err)
		}
		return v
	}
	v := owedView{Total: total, Receipts: owed}
	if len(owed) > owedShown {
		v.Receipts, v.More = owed[:owedShown], len(owed)-owedShown
	}
	return v
}
