package main

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/ledger"
)

func settleCmd(getenv env) *cobra.Command {
	var (
		o     clientOptions
		limit int
	)
	cmd := &cobra.Command{
		Use:   "settle",
		Short: "Pay the accepted receipts this node owes, in batched payments certified by the witnesses",
		Long: `Pays the newest accepted receipts this node owes (at most --limit): per host, batches of up
to 100 receipts become one payment to the host (units x unit price, less the cluster's
host_reserve) and one to system (the reserve). A receipt is paid at most once however often
this runs; payments signed before a crash are sent again, never replaced. When the node
cannot pay, it says how much is missing and the receipts stay owed (offgrid owed).`,
		Example: `  offgrid settle
  offgrid settle --limit 100 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.Settle(ctx, gen.SettleJSONRequestBody{Limit: &limit})
			}, func(w io.Writer, r *gen.SettleResult) {
				if r.Receipts == 0 {
					fmt.Fprintln(w, "nothing new to pay")
				} else {
					fmt.Fprintf(w, "paying %d receipts: %s credits plus %s in fees\n", r.Receipts, r.Amount, r.Fees)
				}
				for _, t := range r.Txs {
					fmt.Fprintf(w, "  %s  nonce %d  %s -> %s  %s  weight %d/%d\n", t.State, t.Nonce, short(t.TxId), t.Dst, t.Amount, t.Weight, t.Needed)
				}
			})
		},
	}
	o.flags(cmd)
	cmd.Flags().IntVar(&limit, "limit", 1000, "pay at most this many of the newest owed receipts (1-1000)")
	return cmd
}

func owedCmd(getenv env) *cobra.Command {
	var (
		o     clientOptions
		limit int
	)
	cmd := &cobra.Command{
		Use:     "owed",
		Short:   "Show the accepted receipts this node owes and has not paid with a final payment",
		Example: `  offgrid owed --limit 20`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.GetOwed(ctx, &gen.GetOwedParams{Limit: &limit})
			}, func(w io.Writer, r *gen.Owed) {
				fmt.Fprintf(w, "owed: %s credits\n", r.Total)
				for _, x := range r.Receipts {
					state := "unpaid"
					if x.Pending {
						state = "payment pending"
					}
					work := "job " + x.Receipt.JobId
					if win, _, ok := ledger.StorageWindowOf(x.Receipt.JobId); ok {
						work = "storage " + win.String()
					}
					fmt.Fprintf(w, "  %s  %s  receipt #%d of %s, %s (%s units at %s)\n", x.Reward, state, x.Receipt.Seq,
						x.Receipt.NodeId, work, x.Receipt.Units, deref(x.Receipt.UnitPrice))
				}
			})
		},
	}
	o.flags(cmd)
	cmd.Flags().IntVar(&limit, "limit", 100, "show at most this many receipts, newest first (1-1000)")
	return cmd
}

// short returns the first 16 hex digits of a hash.
func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}
