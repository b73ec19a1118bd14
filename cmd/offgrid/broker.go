package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/api/gen"
)

// maxBrokerJobs bounds one run of offgrid broker; the node queues at most
// its own MaxQueued and refuses more with 503.
const maxBrokerJobs = 1000

// brokerResult is one job of an offgrid broker run.
type brokerResult struct {
	ID         string  `json:"id,omitempty"`
	State      string  `json:"state"`
	OutputHash string  `json:"output_hash,omitempty"`
	Error      string  `json:"error,omitempty"`
	Seconds    float64 `json:"seconds"`
}

// brokerSummary is what offgrid broker --json prints.
type brokerSummary struct {
	Jobs    []brokerResult `json:"jobs"`
	Done    int            `json:"done"`
	Failed  int            `json:"failed"`
	Seconds float64        `json:"seconds"`
}

// brokerCmd is the seed's broker_stub flow for load and demos: it submits
// --jobs jobs of one module through the node at once and reports each and
// a summary.
func brokerCmd(getenv env) *cobra.Command {
	var (
		o      clientOptions
		spec   jobSpec
		n      int
		module string
	)
	cmd := &cobra.Command{
		Use:   "broker --module M.wasm [--hosts URL,...] [--jobs 5]",
		Short: "Submit many jobs through the node at once and report each and a summary (load and demos)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 1 || n > maxBrokerJobs {
				return fmt.Errorf("--jobs must be between 1 and %d", maxBrokerJobs)
			}
			mod, in, params, err := spec.load(module)
			if err != nil {
				return err
			}
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			start := time.Now()
			results := make([]brokerResult, n)
			// One goroutine a job, bounded by --jobs, each owned by this
			// command and ended with its context.
			var wg sync.WaitGroup
			var mu sync.Mutex
			for i := range results {
				wg.Go(func() {
					res := runBrokerJob(cmd, c, params, mod, in, spec.timeout, start)
					mu.Lock()
					defer mu.Unlock()
					results[i] = res
					if !o.json {
						fmt.Fprintf(cmd.OutOrStdout(), "job %d/%d %s\n", i+1, n, res.line())
					}
				})
			}
			wg.Wait()
			sum := brokerSummary{Jobs: results, Seconds: time.Since(start).Seconds()}
			for _, res := range results {
				if res.State == "done" {
					sum.Done++
				} else {
					sum.Failed++
				}
			}
			if o.json {
				if err := printJSON(cmd.OutOrStdout(), sum); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%d jobs: %d done, %d failed in %.1fs (%.2f jobs/s)\n",
					n, sum.Done, sum.Failed, sum.Seconds, float64(sum.Done)/max(sum.Seconds, 1e-3))
			}
			if sum.Failed > 0 {
				return fmt.Errorf("%d of %d jobs failed", sum.Failed, n)
			}
			return nil
		},
	}
	o.connFlags(cmd)
	fs := cmd.Flags()
	fs.IntVar(&n, "jobs", 5, "how many jobs to submit at once")
	fs.StringVar(&module, "module", "", "the WASI module (.wasm) every job runs")
	spec.flags(cmd)
	return cmd
}

// runBrokerJob submits one job and waits for its end; a refusal or a
// failure is its result, not an error, so that the others go on.
func runBrokerJob(cmd *cobra.Command, c *gen.ClientWithResponses, params *gen.SubmitJobParams, module, input []byte,
	timeout time.Duration, start time.Time) brokerResult {
	resp, err := c.SubmitJobWithBodyWithResponse(cmd.Context(), params, "application/octet-stream",
		io.MultiReader(bytes.NewReader(module), bytes.NewReader(input)))
	if err == nil && resp.JSON202 == nil {
		err = unexpected(resp)
	}
	if err != nil {
		return brokerResult{State: "refused", Error: err.Error(), Seconds: time.Since(start).Seconds()}
	}
	j, err := waitForJob(cmd, c, resp.JSON202.Id, timeout)
	if err != nil {
		return brokerResult{ID: resp.JSON202.Id, State: "failed", Error: err.Error(), Seconds: time.Since(start).Seconds()}
	}
	return brokerResult{ID: j.Id, State: string(j.State), OutputHash: deref(j.OutputHash), Error: deref(j.Error),
		Seconds: time.Since(start).Seconds()}
}

// line is a result as offgrid broker prints it.
func (b brokerResult) line() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%s %s %.1fs", b.ID, b.State, b.Seconds)
	if b.OutputHash != "" {
		fmt.Fprintf(&s, " output %s", b.OutputHash)
	}
	if b.Error != "" {
		fmt.Fprintf(&s, ": %s", b.Error)
	}
	return strings.TrimSpace(s.String())
}
