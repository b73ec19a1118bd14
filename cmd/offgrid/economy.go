package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/internal/fixed"
)

// creditsArg checks an amount of credits given on the command line and
// writes it as the API's decimal (no float on the way: 0.1 stays exact).
func creditsArg(s string) (string, error) {
	v, err := fixed.Parse(strings.TrimSpace(s))
	if err != nil || v <= 0 {
		return "", fmt.Errorf("amount must be a positive number of credits with at most six decimals, such as 2.5, not %q", s)
	}
	return fixed.Format(v), nil
}

// accountArg accepts a node ID or "system".
func accountArg(s string) (string, error) {
	if s == "system" || strings.HasPrefix(s, "did:key:z") {
		return s, nil
	}
	return "", fmt.Errorf("destination must be a node ID (did:key:z...) or system, not %q", s)
}

func transferCmd(getenv env) *cobra.Command {
	var (
		o    clientOptions
		memo string
	)
	cmd := &cobra.Command{
		Use:   "transfer DST AMOUNT",
		Short: "Send credits from this node's account; final once witnesses of more than 2/3 of the weight sign",
		Long: `Signs a transaction from the node's account to DST (a node ID or system) with the next nonce and the
cluster's fee, gathers the witnesses' signatures and spreads the certificate. When fewer than
2/3 of the witness weight answer, it stays in the pool "waiting for witnesses" and becomes final
on its own when they return (offgrid tx pool, offgrid tx show ID).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return send(cmd, getenv, &o, args, memo, false)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&memo, "memo", "", "free text carried in the transaction (at most 256 bytes)")
	return cmd
}

// send is transfer and tx send: POST /transfers.
func send(cmd *cobra.Command, getenv env, o *clientOptions, args []string, memo string, manual bool) error {
	dst, err := accountArg(args[0])
	if err != nil {
		return err
	}
	amount, err := creditsArg(args[1])
	if err != nil {
		return err
	}
	c, err := o.client(cmd, getenv)
	if err != nil {
		return err
	}
	body := gen.PostTransferJSONRequestBody{Dst: dst, Amount: amount}
	if memo != "" {
		body.Memo = &memo
	}
	if manual {
		body.Manual = &manual
	}
	resp, err := c.PostTransferWithResponse(cmd.Context(), body)
	if err != nil {
		return err
	}
	t := resp.JSON201
	if t == nil {
		t = resp.JSON202
	}
	if t == nil {
		return unexpected(resp)
	}
	if o.json {
		return printJSON(cmd.OutOrStdout(), t)
	}
	printTx(cmd.OutOrStdout(), t)
	return nil
}

// printTx writes a transaction and its state in a few lines.
func printTx(w io.Writer, t *gen.TxState) {
	fmt.Fprintf(w, "tx %s: %s\n", t.TxId, stateLine(t))
	fmt.Fprintf(w, "  %s -> %s  amount %s  fee %s  nonce %d  epoch %d\n", t.Src, t.Dst, t.Amount, t.Fee, t.Nonce, t.Epoch)
	if len(t.Signers) > 0 {
		fmt.Fprintf(w, "  signed by: %s\n", strings.Join(t.Signers, ", "))
	}
	if t.Error != nil && t.State != gen.TxStateStateFinal {
		fmt.Fprintf(w, "  witnesses said: %s\n", *t.Error)
	}
}

func stateLine(t *gen.TxState) string {
	weight := fmt.Sprintf("witness weight %d of %d (a certificate needs %d)", t.Weight, t.TotalWeight, t.Needed)
	switch t.State {
	case gen.TxStateStateFinal:
		return "final, " + weight
	case gen.TxStateStateWaiting:
		return "waiting for witnesses, " + weight + "; retried automatically"
	case gen.TxStateStatePending:
		return "pending (manual: offgrid tx witness " + t.TxId + "), " + weight
	}
	return string(t.State) + ", " + weight
}

func balancesCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "balances",
		Short: "Show every account's balance, computed from the final certificates the node has applied",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := c.GetBalancesWithResponse(cmd.Context())
			if err != nil {
				return err
			}
			b := resp.JSON200
			if b == nil {
				return unexpected(resp)
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), b)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "cluster %s, epoch %d: supply %s (genesis %s, issued %s)\n", b.ClusterId, b.Epoch, b.Supply, b.Genesis, b.Issued)
			for _, a := range b.Accounts {
				me := ""
				if a.Account == b.Self {
					me = "  (this node)"
				}
				fmt.Fprintf(w, "  %20s  %s%s\n", a.Balance, a.Account, me)
			}
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}

func txCmd(getenv env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tx",
		Short: "Transactions step by step: send, witness, finalize, show, pool",
		Long: `The manual flow of a transfer: tx send signs and pools it, tx witness asks the witnesses
(or one) for their signatures, tx finalize forms the certificate once they exceed 2/3 of the
witness weight. offgrid transfer does all three; the auto-finalizer finishes what waits.`,
	}
	cmd.AddCommand(txSendCmd(getenv), txWitnessCmd(getenv), txFinalizeCmd(getenv), txShowCmd(getenv), txPoolCmd(getenv))
	return cmd
}

func txSendCmd(getenv env) *cobra.Command {
	var (
		o    clientOptions
		memo string
	)
	cmd := &cobra.Command{
		Use:   "send DST AMOUNT",
		Short: "Sign a transfer and put it in the pool without asking witnesses",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return send(cmd, getenv, &o, args, memo, true)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&memo, "memo", "", "free text carried in the transaction (at most 256 bytes)")
	return cmd
}

func txWitnessCmd(getenv env) *cobra.Command {
	var (
		o       clientOptions
		witness string
	)
	cmd := &cobra.Command{
		Use:   "witness TX_ID",
		Short: "Ask the witnesses (or --witness ID only) to sign a pool transaction",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := gen.WitnessTxJSONRequestBody{}
			if witness != "" {
				body.Witness = &witness
			}
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.WitnessTx(ctx, args[0], body)
			}, printTx)
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&witness, "witness", "", "ask only this witness (node ID)")
	return cmd
}

func txFinalizeCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "finalize TX_ID",
		Short: "Form, apply and spread the certificate of a pool transaction signed by more than 2/3 of the witness weight",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.FinalizeTx(ctx, args[0])
			}, printTx)
		},
	}
	o.flags(cmd)
	return cmd
}

func txShowCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "show TX_ID",
		Short: "Show a transaction (in the pool or final) and its witness weight",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.GetTx(ctx, args[0])
			}, printTx)
		},
	}
	o.flags(cmd)
	return cmd
}

func txPoolCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "pool",
		Short: "List this node's transactions that are not final yet, with each one's witness weight",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.GetTxPool(ctx)
			}, func(w io.Writer, v *gen.TxPool) {
				if len(v.Txs) == 0 {
					fmt.Fprintln(w, "the pool is empty: every transaction of this node is final")
				}
				for i := range v.Txs {
					printTx(w, &v.Txs[i])
				}
			})
		},
	}
	o.flags(cmd)
	return cmd
}
