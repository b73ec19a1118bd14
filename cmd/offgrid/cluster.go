package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/internal/fixed"
)

func clusterCmd(getenv env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Show and change the node's cluster: who is admitted, pending, revoked",
		Long: `A cluster is a signed document listing its admins and members (README: Cluster membership).
Only members are peers, hosts and signers of node-to-node requests; a node without a
document runs alone.`,
	}
	cmd.AddCommand(clusterInitCmd(getenv), clusterAdmitCmd(getenv), clusterRevokeCmd(getenv), clusterShowCmd(getenv),
		clusterPendingCmd(getenv), clusterJoinCmd(getenv), clusterSignCmd(getenv))
	return cmd
}

// changeCluster sends the change call makes and prints what the node did
// with it: installed the new version (200) or proposed it, waiting for
// more admins' signatures (202).
func changeCluster(cmd *cobra.Command, o *clientOptions, getenv env, call func(context.Context, gen.ClientInterface) (*http.Response, error)) error {
	c, err := o.client(cmd, getenv)
	if err != nil {
		return err
	}
	resp, err := call(cmd.Context(), c)
	d, status, err := answerOf[gen.ClusterDocument](resp, err, http.StatusOK, http.StatusAccepted)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if o.json {
		return printJSON(w, d)
	}
	if status == http.StatusOK {
		fmt.Fprintf(w, "cluster %s: version %d installed (%d members)\n", d.ClusterId, d.Serial, len(d.Members))
		return nil
	}
	fmt.Fprintf(w, "cluster %s: version %d proposed; %d more signature(s) needed:\n  offgrid cluster sign --from %s   (on another admin's node, or a new economy's witness's)\n",
		d.ClusterId, d.Serial, d.Missing, o.node)
	return nil
}

func clusterInitCmd(getenv env) *cobra.Command {
	var (
		o                       clientOptions
		admins                  []string
		threshold               int32
		witnesses, allocs       []string
		feeMin, feeMax, reserve string
	)
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Start a cluster with this node as its first member (and admin, unless --admin names others)",
		Long: `Start a cluster with this node as its first member (and admin, unless --admin names others).
With --witness it gets an economy: the witnesses (admitted as members) co-sign transfers, a
transfer being final once witnesses of more than 2/3 of the weight signed it; --alloc gives the
starting credits, the only money there is at first. Every witness must sign this first version
(offgrid cluster sign --from URL on its node) before it is valid.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			body := gen.InitClusterJSONRequestBody{}
			if len(admins) > 0 {
				body.Admins = &admins
			}
			if threshold > 0 {
				body.Threshold = &threshold
			}
			if err := economyFlags(&body, witnesses, allocs, feeMin, feeMax, reserve); err != nil {
				return err
			}
			return changeCluster(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.InitCluster(ctx, body)
			})
		},
	}
	o.flags(cmd)
	cmd.Flags().StringSliceVar(&admins, "admin", nil, "an admin's node ID (repeat; default this node)")
	cmd.Flags().Int32Var(&threshold, "threshold", 0, "admins that must sign each change (default 1)")
	cmd.Flags().StringArrayVar(&witnesses, "witness", nil, "a witness and its weight, ID=WEIGHT (repeat)")
	cmd.Flags().StringArrayVar(&allocs, "alloc", nil, "starting credits of an account, ID=AMOUNT (repeat; needs --witness)")
	cmd.Flags().StringVar(&feeMin, "fee-min", "0.001", "the smallest transaction fee in credits (with --witness)")
	cmd.Flags().StringVar(&feeMax, "fee-max", "0.003", "the largest transaction fee in credits; a transfer pays the midpoint")
	cmd.Flags().StringVar(&reserve, "host-reserve", "1", "percent of every settlement paid to system (with --witness)")
	return cmd
}

// economyFlags puts cluster init's economy flags into body; without
// --witness there is no economy and the other flags are not sent.
func economyFlags(body *gen.InitClusterJSONRequestBody, witnesses, allocs []string, feeMin, feeMax, reserve string) error {
	if len(witnesses) == 0 {
		if len(allocs) > 0 {
			return fmt.Errorf("--alloc needs --witness: credits exist only in a cluster with witnesses")
		}
		return nil
	}
	ws := make([]gen.WitnessWeight, 0, len(witnesses))
	for _, w := range witnesses {
		id, weight, ok := strings.Cut(w, "=")
		n, err := strconv.ParseInt(weight, 10, 64)
		if !ok || err != nil || n < 1 {
			return fmt.Errorf("--witness takes ID=WEIGHT with a whole weight of 1 or more, not %q", w)
		}
		ws = append(ws, gen.WitnessWeight{NodeId: id, Weight: n})
	}
	body.Witnesses = &ws
	as := make([]gen.Allocation, 0, len(allocs))
	for _, a := range allocs {
		id, amount, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("--alloc takes ID=AMOUNT, not %q", a)
		}
		v, err := creditsArg(amount)
		if err != nil {
			return fmt.Errorf("--alloc %s: %w", id, err)
		}
		as = append(as, gen.Allocation{NodeId: id, Amount: v})
	}
	body.Allocs = &as
	for _, f := range []struct {
		name string
		v    string
		dst  **string
	}{{"--fee-min", feeMin, &body.FeeMin}, {"--fee-max", feeMax, &body.FeeMax}} {
		v, err := fixed.Parse(f.v)
		if err != nil {
			return fmt.Errorf("%s must be credits such as 0.001, not %q", f.name, f.v)
		}
		s := fixed.Format(v)
		*f.dst = &s
	}
	pct, err := fixed.Parse(reserve)
	if err != nil || pct > 100_000000 || pct%10000 != 0 {
		return fmt.Errorf("--host-reserve must be a percentage from 0 to 100 with at most two decimals, not %q", reserve)
	}
	bp := int32(pct / 10000)
	body.HostReserveBp = &bp
	return nil
}

func clusterAdmitCmd(getenv env) *cobra.Command {
	var (
		o    clientOptions
		name string
	)
	cmd := &cobra.Command{
		Use:   "admit NODE_ID",
		Short: "Admit a node to the cluster (the node must be an admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := gen.AdmitNodeJSONRequestBody{NodeId: args[0]}
			if name != "" {
				body.Name = &name
			}
			return changeCluster(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.AdmitNode(ctx, body)
			})
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&name, "name", "", "the member's name (default: the name it announced)")
	return cmd
}

func clusterRevokeCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "revoke NODE_ID",
		Short: "Revoke a member for good (the node must be an admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return changeCluster(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.RevokeNode(ctx, gen.RevokeNodeJSONRequestBody{NodeId: args[0]})
			})
		},
	}
	o.flags(cmd)
	return cmd
}

func clusterShowCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the node's cluster document (or that it runs alone) and any waiting proposal",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.GetCluster(ctx)
			}, func(w io.Writer, st *gen.ClusterState) {
				if st.Cluster == nil {
					fmt.Fprintln(w, "this node runs alone (no cluster document): offgrid cluster init, or join one")
				} else {
					printDocument(w, "cluster", st.Cluster)
				}
				if st.Proposal != nil {
					printDocument(w, "proposal", st.Proposal)
				}
			})
		},
	}
	o.flags(cmd)
	return cmd
}

func printDocument(w io.Writer, what string, d *gen.ClusterDocument) {
	fmt.Fprintf(w, "%s %s, version %d\n", what, d.ClusterId, d.Serial)
	fmt.Fprintf(w, "  admins (%d must sign a change):\n", d.Threshold)
	for _, a := range d.Admins {
		fmt.Fprintf(w, "    %s\n", a)
	}
	fmt.Fprintf(w, "  members (%d):\n", len(d.Members))
	for _, m := range d.Members {
		fmt.Fprintf(w, "    %-16s %s\n", m.Name, m.NodeId)
	}
	if len(d.Revoked) > 0 {
		fmt.Fprintf(w, "  revoked: %s\n", strings.Join(d.Revoked, ", "))
	}
	if e := d.Economy; e != nil {
		fmt.Fprintf(w, "  economy: epoch %d, fee %s to %s, host reserve %d.%02d %%\n", e.Epoch, e.FeeMin, e.FeeMax, e.HostReserveBp/100, e.HostReserveBp%100)
		for _, x := range e.Witnesses {
			fmt.Fprintf(w, "    witness %s weight %d\n", x.NodeId, x.Weight)
		}
		for _, a := range e.Genesis {
			fmt.Fprintf(w, "    genesis %s %s\n", a.NodeId, a.Amount)
		}
	}
	if d.Missing > 0 {
		fmt.Fprintf(w, "  waiting for %d more signature(s)\n", d.Missing)
	}
}

func clusterPendingCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "pending",
		Short: "List the non-members the node heard, waiting to be admitted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.GetPendingNodes(ctx)
			}, func(w io.Writer, v *gen.PendingList) {
				if len(v.Pending) == 0 {
					fmt.Fprintln(w, "no pending nodes")
				}
				for _, p := range v.Pending {
					fmt.Fprintf(w, "%-16s %-6s %-28s %s\n", p.Name, p.Via, p.Endpoint, p.NodeId)
				}
			})
		},
	}
	o.flags(cmd)
	return cmd
}

// fetchDocument returns the base64 document (or, with proposal, the
// waiting proposal) of the node at url. GET /cluster is open.
func fetchDocument(ctx context.Context, o clientOptions, url string, proposal bool) (string, error) {
	c, err := gen.NewClientWithResponses(strings.TrimRight(url, "/"), gen.WithHTTPClient(&http.Client{Timeout: o.timeout}))
	if err != nil {
		return "", fmt.Errorf("--from: %w", err)
	}
	resp, err := answer[gen.ClusterState](c.GetCluster(ctx))
	if err != nil {
		return "", err
	}
	d := resp.Cluster
	if proposal {
		d = resp.Proposal
	}
	if d == nil {
		if proposal {
			return "", fmt.Errorf("%s has no proposal waiting for signatures", url)
		}
		return "", fmt.Errorf("%s runs alone: it has no cluster document", url)
	}
	return d.Document, nil
}

func clusterJoinCmd(getenv env) *cobra.Command {
	var (
		o    clientOptions
		from string
	)
	cmd := &cobra.Command{
		Use:   "join --from URL",
		Short: "Install the cluster document of the member at URL on this node (an admin must have admitted it)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			doc, err := fetchDocument(cmd.Context(), o, from, false)
			if err != nil {
				return err
			}
			return changeCluster(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.JoinCluster(ctx, gen.JoinClusterJSONRequestBody{Document: doc})
			})
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&from, "from", "", "API URL of a member of the cluster")
	cmd.MarkFlagRequired("from")
	return cmd
}

func clusterSignCmd(getenv env) *cobra.Command {
	var (
		o    clientOptions
		from string
	)
	cmd := &cobra.Command{
		Use:   "sign --from URL",
		Short: "Co-sign, as an admin, the proposal waiting on the node at URL",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			doc, err := fetchDocument(cmd.Context(), o, from, true)
			if err != nil {
				return err
			}
			return changeCluster(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.SignCluster(ctx, gen.SignClusterJSONRequestBody{Document: doc})
			})
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&from, "from", "", "API URL of the node holding the proposal")
	cmd.MarkFlagRequired("from")
	return cmd
}
