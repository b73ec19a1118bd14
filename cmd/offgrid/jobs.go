package main

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/internal/atomicfile"
	"github.com/offgrid-net/offgrid/node/jobs"
)

// maxJobFile bounds a module or an input file (the API takes 16 MiB each).
const maxJobFile = 16 << 20

// jobSpec is a job submission as the flags of job submit and broker give
// it.
type jobSpec struct {
	input    string
	r        int32
	maxPrice string
	timeout  time.Duration
	hosts    []string
}

func (s *jobSpec) flags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&s.input, "input", "", "file given to the module on standard input (default: none)")
	fs.Int32Var(&s.r, "r", 1, "hosts whose outputs must match, per job")
	fs.StringVar(&s.maxPrice, "max-price", "", "most one host may quote (a decimal); dearer hosts are skipped")
	fs.DurationVar(&s.timeout, "timeout", time.Minute, "each job's wall-time limit on a host")
	fs.StringSliceVar(&s.hosts, "hosts", nil, "only these hosts (endpoint URLs or node IDs, comma-separated); default every host of the peer table")
}

// load checks the flags, reads the module and input files (each at most
// maxJobFile) and returns them with the submission's parameters.
func (s *jobSpec) load(module string) (mod, in []byte, params *gen.SubmitJobParams, err error) {
	switch {
	case s.r < 1 || s.r > jobs.MaxR:
		return nil, nil, nil, fmt.Errorf("--r must be between 1 and %d", jobs.MaxR)
	case s.timeout < time.Second || s.timeout > time.Hour:
		return nil, nil, nil, fmt.Errorf("--timeout must be between 1s and 1h")
	case len(s.hosts) > jobs.MaxHosts:
		return nil, nil, nil, fmt.Errorf("--hosts may name at most %d hosts", jobs.MaxHosts)
	case module == "":
		return nil, nil, nil, fmt.Errorf("a WASI module (.wasm) is required")
	}
	if mod, err = readBounded(module, maxJobFile); err != nil {
		return nil, nil, nil, err
	}
	if s.input != "" {
		if in, err = readBounded(s.input, maxJobFile); err != nil {
			return nil, nil, nil, err
		}
	}
	ts := int32(s.timeout.Round(time.Second) / time.Second)
	params = &gen.SubmitJobParams{ModuleSize: int64(len(mod)), R: &s.r, TimeoutS: &ts}
	if s.maxPrice != "" {
		params.MaxPrice = &s.maxPrice
	}
	if len(s.hosts) > 0 {
		params.Hosts = &s.hosts
	}
	return mod, in, params, nil
}

func jobCmd(getenv env) *cobra.Command {
	cmd := &cobra.Command{Use: "job", Short: "Run a WebAssembly (WASI) job on the mesh, and follow it"}
	var (
		o       clientOptions
		spec    jobSpec
		explain bool
		noWait  bool
		output  string
	)
	submit := &cobra.Command{
		Use:   "submit MODULE.wasm",
		Short: "Broker a job: quotes from peers, the best --r hosts run it, their outputs must match",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			module, in, params, err := spec.load(args[0])
			if err != nil {
				return err
			}
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := c.SubmitJobWithBodyWithResponse(cmd.Context(), params, "application/octet-stream",
				io.MultiReader(bytes.NewReader(module), bytes.NewReader(in)))
			if err != nil {
				return err
			}
			if resp.JSON202 == nil {
				return unexpected(resp)
			}
			j := *resp.JSON202
			if noWait {
				return printJob(cmd, o, j, false)
			}
			if j, err = waitForJob(cmd, c, j.Id, spec.timeout); err != nil {
				return err
			}
			if err := printJob(cmd, o, j, explain); err != nil {
				return err
			}
			if j.State != gen.JobState("done") {
				return fmt.Errorf("job %s failed", j.Id)
			}
			out, err := c.GetJobOutputWithResponse(cmd.Context(), j.Id)
			if err != nil {
				return err
			}
			if output != "" {
				return atomicfile.WriteFile(output, out.Body, 0o644)
			}
			if o.json {
				return nil
			}
			_, err = cmd.OutOrStdout().Write(out.Body)
			return err
		},
	}
	o.connFlags(submit)
	spec.flags(submit)
	submit.Flags().BoolVar(&explain, "explain", false, "show each candidate's score and why, and each dispatch")
	submit.Flags().BoolVar(&noWait, "no-wait", false, "print the job's ID and return without waiting")
	submit.Flags().StringVarP(&output, "output", "o", "", "write the output to this file instead of stdout")

	var so clientOptions
	status := &cobra.Command{
		Use:   "status ID",
		Short: "A brokered job's state, candidates' scores and dispatches",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := so.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := answer[gen.Job](c.GetJob(cmd.Context(), url.PathEscape(args[0])))
			if err != nil {
				return err
			}
			return printJob(cmd, so, *resp, true)
		},
	}
	so.flags(status)
	cmd.AddCommand(submit, status)
	return cmd
}

// waitForJob polls a job until it ends (or its timeout and a margin pass).
func waitForJob(cmd *cobra.Command, c *gen.ClientWithResponses, id string, timeout time.Duration) (gen.Job, error) {
	deadline := time.Now().Add(2*timeout + time.Minute)
	for {
		resp, err := answer[gen.Job](c.GetJob(cmd.Context(), id))
		if err != nil {
			return gen.Job{}, err
		}
		if s := resp.State; s == "done" || s == "failed" {
			return *resp, nil
		}
		if time.Now().After(deadline) {
			return gen.Job{}, fmt.Errorf("job %s still %s; follow it with offgrid job status %s", id, resp.State, id)
		}
		select {
		case <-cmd.Context().Done():
			return gen.Job{}, cmd.Context().Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// printJob prints a job, with its candidates and dispatches when explain is
// set; explanations go to stderr when the output follows on stdout.
func printJob(cmd *cobra.Command, o clientOptions, j gen.Job, explain bool) error {
	if o.json {
		return printJSON(cmd.OutOrStdout(), j)
	}
	w := cmd.ErrOrStderr()
	fmt.Fprintf(w, "job %s: %s (r=%d)", j.Id, j.State, j.R)
	if j.OutputHash != nil {
		fmt.Fprintf(w, ", output %s", *j.OutputHash)
	}
	if j.Error != nil {
		fmt.Fprintf(w, ": %s", *j.Error)
	}
	fmt.Fprintln(w)
	if !explain {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CANDIDATE\tPRICE\tSCORE\tWHY")
	for _, c := range j.Candidates {
		why := c.Why
		score := fmt.Sprintf("%.3f", c.Score)
		if c.Skipped != nil {
			why, score = "skipped: "+*c.Skipped, "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.HostId, c.Price, score, why)
	}
	fmt.Fprintln(tw, "DISPATCH\tSTATE\tOUTCOME\tNOTE")
	for _, d := range j.Dispatches {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", d.HostId, d.State, deref(d.Outcome), deref(d.Note))
	}
	return tw.Flush()
}

func jobsCmd(getenv env) *cobra.Command {
	var (
		o     clientOptions
		limit int32
	)
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "The jobs this node brokered, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := answer[[]gen.Job](c.ListJobs(cmd.Context(), &gen.ListJobsParams{Limit: &limit}))
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), *resp)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tR\tCREATED\tOUTPUT\tERROR")
			for _, j := range *resp {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", j.Id, j.State, j.R, j.CreatedAt.Format(time.RFC3339), deref(j.OutputHash), deref(j.Error))
			}
			return tw.Flush()
		},
	}
	o.flags(cmd)
	cmd.Flags().Int32Var(&limit, "limit", 100, "at most this many jobs")
	return cmd
}

func repCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "rep",
		Short: "What this node knows of each host's results: its own hits and misses, and others' merged",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			resp, err := answer[[]gen.HostReputation](c.ListReputation(cmd.Context()))
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), *resp)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "HOST\tHITS\tMISSES\tOTHERS' HITS\tOTHERS' MISSES\tRELIABILITY")
			for _, h := range *resp {
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.2f\n", h.HostId, h.Hits, h.Misses, h.OtherHits, h.OtherMisses, h.Reliability)
			}
			return tw.Flush()
		},
	}
	o.flags(cmd)
	var mo clientOptions
	merge := &cobra.Command{
		Use:   "merge FILE|URL",
		Short: "Merge another node's signed reputation records (a file, or a node's URL: its /gossip/rep)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := mo.client(cmd, getenv)
			if err != nil {
				return err
			}
			var body []byte
			if strings.HasPrefix(args[0], "http://") || strings.HasPrefix(args[0], "https://") {
				// The other node's records, read with the same admin token
				// (an operator merging between their own nodes).
				from := mo
				from.node = args[0]
				other, err := from.client(cmd, getenv)
				if err != nil {
					return err
				}
				resp, err := other.GetReputationWithResponse(cmd.Context())
				if err != nil {
					return err
				}
				body = resp.Body
			} else if body, err = readBounded(args[0], 4<<20); err != nil {
				return err
			}
			resp, err := c.MergeReputationWithBodyWithResponse(cmd.Context(), "application/json", bytes.NewReader(body))
			if err != nil {
				return err
			}
			if resp.JSON200 == nil {
				return unexpected(resp)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "merged %d records\n", resp.JSON200.Merged)
			return nil
		},
	}
	mo.flags(merge)
	cmd.AddCommand(merge)
	return cmd
}
