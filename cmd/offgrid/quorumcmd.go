package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/api/gen"
)

// quorumCmd is the seed's quorum_cli: open, ack, show and list quorums.
func quorumCmd(getenv env) *cobra.Command {
	var (
		o        clientOptions
		kind, id string
		required float64
		ackFrom  string
		ack      bool
		show     bool
		list     bool
	)
	cmd := &cobra.Command{
		Use:   "quorum --kind KIND [--id ID] [--required W | --ack | --ack-from NODE | --show | --list]",
		Short: "Weighted quorums for uploads, jobs and tokens (not for transaction finality)",
		Example: "  offgrid quorum --kind job --id job-123 --required 2\n" +
			"  offgrid quorum --kind job --id job-123 --ack-from node-A\n" +
			"  offgrid quorum --kind job --id job-123 --show\n" +
			"  offgrid quorum --kind job --list",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			actions := 0
			for _, set := range []bool{cmd.Flags().Changed("required"), ack || ackFrom != "", show, list} {
				if set {
					actions++
				}
			}
			if actions != 1 {
				return fmt.Errorf("give one of --required, --ack (or --ack-from), --show, --list")
			}
			if !list && id == "" {
				return fmt.Errorf("--id is required")
			}
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			k := gen.QuorumKind(kind)
			var st *gen.QuorumStatus
			switch {
			case list:
				limit := 1000
				resp, err := answer[gen.QuorumList](c.ListQuorums(ctx, &gen.ListQuorumsParams{Kind: k, Limit: &limit}))
				if err != nil {
					return err
				}
				if o.json {
					return printJSON(cmd.OutOrStdout(), resp)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%d %s quorums\n", len(resp.Quorums), kind)
				for _, q := range resp.Quorums {
					printQuorum(cmd.OutOrStdout(), q, false)
				}
				return nil
			case cmd.Flags().Changed("required"):
				st, err = answer[gen.QuorumStatus](c.CreateQuorum(ctx, gen.QuorumCreate{Kind: k, Id: id, Required: required}))
			case show:
				st, err = answer[gen.QuorumStatus](c.GetQuorum(ctx, k, id))
			default:
				body := gen.QuorumAck{}
				if ackFrom != "" {
					body.Node = &ackFrom
				}
				st, err = answer[gen.QuorumStatus](c.AckQuorum(ctx, k, id, body))
			}
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), st)
			}
			printQuorum(cmd.OutOrStdout(), *st, true)
			return nil
		},
	}
	o.flags(cmd)
	fs := cmd.Flags()
	fs.StringVar(&kind, "kind", "", "upload, job or token")
	fs.StringVar(&id, "id", "", "the quorum's subject (an asset ID, a job ID, a token)")
	fs.Float64Var(&required, "required", 0, "open the quorum needing this weight (a float, e.g. 3.5)")
	fs.BoolVar(&ack, "ack", false, "ack as this node")
	fs.StringVar(&ackFrom, "ack-from", "", "ack on behalf of this node (its ID or name)")
	fs.BoolVar(&show, "show", false, "show the quorum and its acks")
	fs.BoolVar(&list, "list", false, "list the kind's quorums")
	_ = cmd.MarkFlagRequired("kind")
	cmd.AddCommand(quorumPolicyCmd(getenv))
	return cmd
}

func printQuorum(w io.Writer, q gen.QuorumStatus, acks bool) {
	state := "open"
	if q.Reached {
		state = "reached"
	}
	fmt.Fprintf(w, "%s %s: weight %.3f of %.3f required (%s), %d acks\n", q.Kind, q.Id, q.Weight, q.Required, state, len(q.Acks))
	if acks {
		for _, a := range q.Acks {
			fmt.Fprintf(w, "  %s  %.3f  %s\n", a.Node, a.Weight, a.At.Format(time.RFC3339))
		}
	}
}

// quorumPolicyCmd is the seed's quorum_policy_cli.
func quorumPolicyCmd(getenv env) *cobra.Command {
	var (
		o             clientOptions
		show          bool
		kind          string
		defaultWeight float64
		halfLife      time.Duration
		maxAge        time.Duration
		setWeights    []string
		unsetWeights  []string
	)
	cmd := &cobra.Command{
		Use:   "policy [--show] [--weight-default W] [--kind KIND --decay-half-life D --max-age D] [--set-weight NODE=W ...]",
		Short: "Show or change the quorum policy: default weight, per-node weights, per-kind decay",
		Example: "  offgrid quorum policy --show\n" +
			"  offgrid quorum policy --weight-default 1 --set-weight node-B=1.5\n" +
			"  offgrid quorum policy --kind job --decay-half-life 30m --max-age 2h",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			resp, err := answer[gen.QuorumPolicy](c.GetQuorumPolicy(ctx))
			if err != nil {
				return err
			}
			p := *resp
			fs := cmd.Flags()
			changed := false
			if fs.Changed("weight-default") {
				p.DefaultWeight, changed = defaultWeight, true
			}
			if fs.Changed("decay-half-life") || fs.Changed("max-age") {
				var d *gen.QuorumDecay
				switch kind {
				case "upload":
					d = &p.Decay.Upload
				case "job":
					d = &p.Decay.Job
				case "token":
					d = &p.Decay.Token
				default:
					return fmt.Errorf("--decay-half-life and --max-age need --kind upload, job or token")
				}
				if fs.Changed("decay-half-life") {
					d.HalfLifeSeconds = int64(halfLife / time.Second)
				}
				if fs.Changed("max-age") {
					d.MaxAgeSeconds = int64(maxAge / time.Second)
				}
				changed = true
			}
			if p.Weights == nil {
				p.Weights = map[string]float64{}
			}
			for _, sw := range setWeights {
				node, w, ok := strings.Cut(sw, "=")
				f, err := strconv.ParseFloat(w, 64)
				if !ok || node == "" || err != nil {
					return fmt.Errorf("--set-weight takes NODE=WEIGHT, not %q", sw)
				}
				p.Weights[node], changed = f, true
			}
			for _, n := range unsetWeights {
				delete(p.Weights, n)
				changed = true
			}
			if changed {
				js, err := json.Marshal(p)
				if err != nil {
					return err
				}
				r, err := c.SetQuorumPolicyWithBodyWithResponse(ctx, "application/json", bytes.NewReader(js))
				if err != nil {
					return err
				}
				if r.JSON200 == nil {
					return unexpected(r)
				}
				p = *r.JSON200
			} else if !show {
				return fmt.Errorf("nothing to change; pass --show to see the policy")
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), p)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "default weight %g\n", p.DefaultWeight)
			for _, k := range []struct {
				name string
				d    gen.QuorumDecay
			}{{"upload", p.Decay.Upload}, {"job", p.Decay.Job}, {"token", p.Decay.Token}} {
				fmt.Fprintf(out, "%-6s half-life %s, max age %s\n", k.name, durationOrNever(k.d.HalfLifeSeconds), durationOrNever(k.d.MaxAgeSeconds))
			}
			for n, w := range p.Weights {
				fmt.Fprintf(out, "weight %s = %g\n", n, w)
			}
			return nil
		},
	}
	o.flags(cmd)
	fs := cmd.Flags()
	fs.BoolVar(&show, "show", false, "print the policy")
	fs.StringVar(&kind, "kind", "", "the kind --decay-half-life and --max-age apply to")
	fs.Float64Var(&defaultWeight, "weight-default", 1, "weight of a node with no weight of its own or fed")
	fs.DurationVar(&halfLife, "decay-half-life", 0, "an ack's weight halves every this long (0: never)")
	fs.DurationVar(&maxAge, "max-age", 0, "an ack older than this counts nothing (0: never)")
	fs.StringArrayVar(&setWeights, "set-weight", nil, "NODE=WEIGHT, repeatable")
	fs.StringArrayVar(&unsetWeights, "unset-weight", nil, "NODE, repeatable: back to the fed or default weight")
	return cmd
}

func durationOrNever(secs int64) string {
	if secs == 0 {
		return "never"
	}
	return (time.Duration(secs) * time.Second).String()
}
