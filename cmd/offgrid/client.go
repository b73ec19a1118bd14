package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/offgrid-net/offgrid/api/gen"
)

// clientOptions are the flags every client command has.
type clientOptions struct {
	node    string
	token   string
	json    bool
	timeout time.Duration
}

func (o *clientOptions) flags(cmd *cobra.Command) {
	o.connFlags(cmd)
	cmd.Flags().DurationVar(&o.timeout, "timeout", time.Minute, "give up on a request after this long")
}

// connFlags are flags without --timeout, for commands whose --timeout is
// something else (a job's); requests then time out after a minute.
func (o *clientOptions) connFlags(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&o.node, "node", "http://127.0.0.1:8081", "node API URL")
	fs.StringVar(&o.token, "token", "", "the node's admin token (env OFFGRID_TOKEN)")
	fs.BoolVar(&o.json, "json", false, "print machine-readable JSON")
	o.timeout = time.Minute
}

// client returns the generated API client for the node, authenticated with
// the admin token when one is set. Every answer that is not a success comes
// back as the call's error (see problemDoer), so a command checks one error
// per call.
func (o *clientOptions) client(cmd *cobra.Command, getenv env) (*gen.ClientWithResponses, error) {
	if err := applyEnv(cmd.Flags(), getenv); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(o.node, "http://") && !strings.HasPrefix(o.node, "https://") {
		return nil, fmt.Errorf("--node must be an http:// or https:// URL, not %q", o.node)
	}
	token := o.token
	return gen.NewClientWithResponses(strings.TrimRight(o.node, "/"),
		gen.WithHTTPClient(o.doer(cmd)),
		gen.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			return nil
		}))
}

// doer is the HTTP client of a command's calls to nodes: --timeout per
// request, and notices of retries on the command's stderr.
func (o *clientOptions) doer(cmd *cobra.Command) problemDoer {
	return problemDoer{client: &http.Client{Timeout: o.timeout}, notice: cmd.ErrOrStderr()}
}

// maxProblemBody bounds how much of an error answer the CLI reads: a
// problem document is a few hundred bytes.
const maxProblemBody = 64 << 10

// problemDoer sends requests with an http.Client and turns every answer
// that is not a 2xx into an error carrying the node's problem details. It
// is the one place the CLI renders the node's errors, for the typed
// ...WithResponse calls and the streaming ones (get, fetch) alike.
// A read the node answers 503 with Retry-After (its database writers held
// it past the busy timeout, or it is stopping) is asked again after the
// wait it names, saying so on notice.
type problemDoer struct {
	client *http.Client
	notice io.Writer
}

// A busy node's answer to a read is retried at most busyRetries times,
// each after the node's Retry-After, at most maxBusyWait. Only reads:
// for a write the CLI cannot tell, endpoint by endpoint, that a 503
// changed nothing.
const (
	busyRetries = 2
	maxBusyWait = 5 * time.Second
)

// answerKey marks a request whose caller reads one non-2xx status's
// documented body itself (see withAnswer).
type answerKey struct{}

// withAnswer lets status through problemDoer to the typed response: for an
// answer such as an unhealthy /healthz, whose body is the documented report
// rather than a problem.
func withAnswer(ctx context.Context, status int) context.Context {
	return context.WithValue(ctx, answerKey{}, status)
}

func (d problemDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.client.Do(req)
	for try := 1; err == nil && try <= busyRetries; try++ {
		wait, ok := busyWait(req, resp)
		if !ok {
			break
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxProblemBody))
		resp.Body.Close()
		fmt.Fprintf(d.notice, "offgrid: the node is busy (%s); asking again in %s (%d of %d)\n", resp.Status, wait, try, busyRetries)
		select {
		case <-time.After(wait):
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
		resp, err = d.client.Do(req)
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return nil, fmt.Errorf("no node answers at %s (%v); start one with `offgrid node`, or pass --node", req.URL.Host, opErr.Err)
	}
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	if st, ok := req.Context().Value(answerKey{}).(int); ok && st == resp.StatusCode {
		return resp, nil
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxProblemBody))
	if err != nil {
		return nil, fmt.Errorf("node answered %s (reading its body: %w)", resp.Status, err)
	}
	return nil, apiError(resp, body)
}

// busyWait returns how long to wait before asking again, when resp is a
// busy node's answer to a read: 503 with a Retry-After in seconds.
func busyWait(req *http.Request, resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusServiceUnavailable || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		return 0, false
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 0 {
		return 0, false
	}
	return min(time.Duration(secs)*time.Second, maxBusyWait), true
}

// nodeError is an error answer of the node: its HTTP status and the
// sentence the CLI prints for it.
type nodeError struct {
	status int
	msg    string
}

func (e *nodeError) Error() string { return e.msg }

// hasStatus reports whether err is an error answer with this HTTP status.
func hasStatus(err error, status int) bool {
	var ne *nodeError
	return errors.As(err, &ne) && ne.status == status
}

// notFound turns the node's 404 for an asset into one sentence that says
// what to do; other errors pass unchanged.
func notFound(err error, id string) error {
	if hasStatus(err, http.StatusNotFound) {
		return fmt.Errorf("no file with ID %s on this node; see `offgrid assets`", id)
	}
	return err
}

// apiError renders an error answer: the problem's status, title and detail
// when the body is a problem document, otherwise the status and the body.
func apiError(resp *http.Response, body []byte) error {
	var problem gen.Problem
	if strings.Contains(resp.Header.Get("Content-Type"), "json") && json.Unmarshal(body, &problem) == nil && problem.Status != 0 {
		msg := fmt.Sprintf("%d %s", problem.Status, problem.Title)
		if problem.Detail != nil {
			msg += ": " + *problem.Detail
		}
		if resp.StatusCode == http.StatusUnauthorized {
			msg += " (pass --token or set OFFGRID_TOKEN)"
		}
		return &nodeError{status: resp.StatusCode, msg: "node answered " + msg}
	}
	return &nodeError{status: resp.StatusCode, msg: fmt.Sprintf("node answered %s: %s", resp.Status, strings.TrimSpace(string(body)))}
}

// parseAmount reads a number given on the command line (a price or a
// quoted size) and writes it as the API's decimal: 1e3 is "1000". what
// names it in the error.
func parseAmount(what, s string) (string, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	switch {
	case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
		return "", fmt.Errorf("%s must be a number such as 2.5, not %q", what, s)
	case f < 0:
		return "", fmt.Errorf("%s must not be negative, not %s", what, s)
	case f > maxAmount:
		return "", fmt.Errorf("%s must be at most %d, not %s", what, maxAmount, s)
	}
	// The API takes at most six fractional digits.
	d := strings.TrimRight(strconv.FormatFloat(f, 'f', 6, 64), "0")
	return strings.TrimSuffix(d, "."), nil
}

// maxAmount is the largest price or quoted size the API takes.
const maxAmount = 1_000_000

// negativeArg matches pflag's error for an argument such as -1, which it
// reads as the shorthand flag "1".
var negativeArg = regexp.MustCompile(`^unknown shorthand flag: '[0-9.]' in (-[0-9.eE+]+)$`)

// badNumber matches pflag's error for a flag value that does not parse as
// the flag's number type.
var badNumber = regexp.MustCompile(`^invalid argument "(.*)" for "(--[a-z-]+)"(?:, "-[a-z]")? flag: strconv\.Parse(Int|Uint|Float)`)

// flagError words a negative number given as an argument ("quote compute
// -1") as what it is, not as an unknown flag, and a flag value that is no
// number without Go's parser in the sentence.
// The subcommand leads the sentence without the binary's name, which main
// puts before every error.
func flagError(cmd *cobra.Command, err error) error {
	sub := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	if m := negativeArg.FindStringSubmatch(err.Error()); m != nil {
		if _, perr := strconv.ParseFloat(m[1], 64); perr == nil {
			return fmt.Errorf("%s: %s is negative; give a number of 0 or more", sub, m[1])
		}
	}
	if m := badNumber.FindStringSubmatch(err.Error()); m != nil {
		kind := "a whole number"
		if m[3] == "Float" {
			kind = "a number"
		}
		return fmt.Errorf("%s takes %s, not %q", m[2], kind, m[1])
	}
	return fmt.Errorf("%s: %w (see %s --help)", sub, err, cmd.CommandPath())
}

// unexpected is the error for a success answer without the documented body:
// the server at --node is not an offgrid node of this version.
// maxAnswer bounds the JSON answer a command reads (a receipts page or a
// ledger listing is the largest; they are paged well below this).
const maxAnswer = 32 << 20

// ask is the one shape of a command that asks the node once and shows its
// answer: it makes the client, sends what call sends, reads the documented
// 200 body as a T, and prints it as JSON with --json, else with text.
func ask[T any](cmd *cobra.Command, o *clientOptions, getenv env,
	call func(context.Context, gen.ClientInterface) (*http.Response, error), text func(io.Writer, *T)) error {
	c, err := o.client(cmd, getenv)
	if err != nil {
		return err
	}
	v, err := answer[T](call(cmd.Context(), c))
	if err != nil {
		return err
	}
	if o.json {
		return printJSON(cmd.OutOrStdout(), v)
	}
	text(cmd.OutOrStdout(), v)
	return nil
}

// answer reads the node's 200 JSON answer as a T. problemDoer has already
// made every error answer an error, so anything else is an answer the
// contract does not document.
func answer[T any](resp *http.Response, err error) (*T, error) {
	v, _, err := answerOf[T](resp, err, http.StatusOK)
	return v, err
}

// answerOf reads the node's JSON answer as a T when its status is one of
// statuses, which it returns with it.
func answerOf[T any](resp *http.Response, err error, statuses ...int) (*T, int, error) {
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if !slices.Contains(statuses, resp.StatusCode) || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
		return nil, 0, fmt.Errorf("node answered %s without the documented body", resp.Status)
	}
	var v T
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxAnswer)).Decode(&v); err != nil {
		return nil, 0, fmt.Errorf("read the node's answer: %w", err)
	}
	return &v, resp.StatusCode, nil
}

func unexpected(resp interface{ Status() string }) error {
	return fmt.Errorf("node answered %s without the documented body", resp.Status())
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func toggleCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "toggle on|off",
		Short: "Switch a host on or off (an inactive host refuses quotes, jobs and stores)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var active bool
			switch strings.ToLower(args[0]) {
			case "on", "true", "1":
				active = true
			case "off", "false", "0":
			default:
				return fmt.Errorf("want on or off, not %q", args[0])
			}
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.Toggle(ctx, gen.ToggleJSONRequestBody{Active: active})
			}, func(w io.Writer, v *gen.Announce) {
				fmt.Fprintf(w, "%s is now %s\n", v.Name, activeWord(v.Active))
			})
		},
	}
	o.flags(cmd)
	return cmd
}

func activeWord(active bool) string {
	if active {
		return "active"
	}
	return "inactive"
}

func quoteCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "quote compute|storage SIZE",
		Short: "Ask a host for a price (SIZE: compute units of a million tokens, or gigabyte-hours)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind := gen.GetQuoteParamsType(args[0])
			if kind != gen.GetQuoteParamsTypeCompute && kind != gen.GetQuoteParamsTypeStorage {
				return fmt.Errorf("type must be compute or storage, not %q", args[0])
			}
			size, err := parseAmount("SIZE", args[1])
			if err != nil {
				return err
			}
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.GetQuote(ctx, &gen.GetQuoteParams{Type: kind, Size: size})
			}, func(w io.Writer, q *gen.Quote) {
				fmt.Fprintf(w, "%s %s: %s credits (%s per unit) from %s\n", q.Size, q.Type, q.Price, q.UnitPrice, q.NodeId)
			})
		},
	}
	o.flags(cmd)
	return cmd
}

func runJobCmd(getenv env) *cobra.Command {
	var (
		o       clientOptions
		metrics map[string]string
		host    string
	)
	cmd := &cobra.Command{
		Use:   "run JOB_ID",
		Short: "Run a job on a host and print its signed receipt",
		Long: `Runs a job on the node (--node), or with --host on another host for the node: the node asks
the host with a signed request, checks the version 0.2 receipt naming it as the consumer,
accepts it and owes its price (offgrid owed, offgrid settle).`,
		Example: `  offgrid run job-123 --metric compute_tokens_m=0.1 --metric latency_ms=800
  offgrid run job-124 --metric compute_tokens_m=2 --host http://10.0.0.7:8081`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body := gen.RunJobJSONRequestBody{JobId: args[0]}
			if host != "" {
				body.Host = &host
			}
			if len(metrics) > 0 {
				m := make(map[string]float64, len(metrics))
				for k, v := range metrics {
					f, err := strconv.ParseFloat(v, 64)
					if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
						return fmt.Errorf("--metric %s=%s: want a finite number", k, v)
					}
					m[k] = f
				}
				body.Metrics = &m
			}
			return ask(cmd, &o, getenv, func(ctx context.Context, c gen.ClientInterface) (*http.Response, error) {
				return c.RunJob(ctx, body)
			}, func(w io.Writer, v *gen.RunResult) {
				r := v.Receipt
				fmt.Fprintf(w, "job %s ran: receipt #%d, %s %s units, signed by %s\n", r.JobId, r.Seq, r.Units, r.ResourceType, r.NodeId)
			})
		},
	}
	o.flags(cmd)
	cmd.Flags().StringToStringVar(&metrics, "metric", nil, "a usage metric NAME=NUMBER (repeatable); compute_tokens_m sets the units")
	cmd.Flags().StringVar(&host, "host", "", "run on the host at this URL for the node, which accepts the receipt and owes its price")
	return cmd
}

func statusCmd(getenv env) *cobra.Command {
	var o clientOptions
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a node's identity, announce and peers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := o.client(cmd, getenv)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			health, err := c.GetHealthWithResponse(withAnswer(ctx, http.StatusServiceUnavailable))
			if err != nil {
				return err
			}
			// An unhealthy node (disk nearly full, database stuck) still
			// reports its state, which is what status is asked for.
			h := health.JSON200
			if h == nil {
				h = health.JSON503
			}
			if h == nil {
				return unexpected(health)
			}
			ann, err := answer[gen.Announce](c.GetAnnounce(ctx))
			if err != nil {
				return err
			}
			peers, err := answer[gen.PeerList](c.GetPeers(ctx))
			if err != nil {
				return err
			}
			if o.json {
				return printJSON(cmd.OutOrStdout(), map[string]any{
					"health": h, "announce": ann, "peers": peers.Peers,
				})
			}
			a := ann
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s  %s\n", a.Name, a.NodeId)
			fmt.Fprintf(w, "  status:    %s, up %s\n", activeWord(a.Active), time.Duration(h.UptimeSeconds)*time.Second)
			db := "database ok"
			if !h.Database.Ok {
				db = "database not answering"
				if h.Database.Error != nil {
					db += " (" + *h.Database.Error + ")"
				}
			}
			fmt.Fprintf(w, "  health:    %s; disk %s free (minimum %s); %s\n",
				h.Status, humanBytes(h.Disk.FreeBytes), humanBytes(h.Disk.MinFreeBytes), db)
			fmt.Fprint(w, "  prices:    ")
			printPrices(w, a.Prices)
			fmt.Fprintf(w, "  on-call:   min %d%%, burst max %d%%\n", a.MinOncallPercent, a.BurstPercentMax)
			fmt.Fprintf(w, "  peers:     %d\n", len(peers.Peers))
			for _, p := range peers.Peers {
				name := ""
				if p.Name != nil {
					name = *p.Name
				}
				fmt.Fprintf(w, "    %-7s %-28s %s (%s)\n", p.State, p.Endpoint, name, p.Via)
			}
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}
