package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/offgrid-net/offgrid/broker"
	"github.com/offgrid-net/offgrid/compute"
)

// Config configures a node's jobs: what it runs as a host, and how it
// brokers jobs to others.
type Config struct {
	// Concurrency is how many jobs the host runs (or holds accepted) at
	// once; one more is refused with ErrBusy (503 + Retry-After). Default 2.
	Concurrency int
	// Limits bound every module the host runs (its MaxConcurrent is
	// Concurrency).
	Limits compute.Config
	// QuoteTimeout bounds a quote round: hosts silent that long are skipped.
	// Default 2 s.
	QuoteTimeout time.Duration
	// PollInterval is how often the broker asks its hosts how a job goes.
	// Default 1 s.
	PollInterval time.Duration
	// SLA: t_activate, stall age, progress delta, cooldown, retries.
	SLA broker.SLA
	// Weights of the candidates' score.
	Weights broker.Weights
	// MaxActive is how many brokered jobs run at once; more wait queued, up
	// to MaxQueued, beyond which a submit gets ErrBusy. Defaults 8 and 256.
	MaxActive int
	MaxQueued int
	// KeepHosted is how many finished runs (with their outputs) the host
	// keeps for brokers to fetch. Default 64.
	KeepHosted int
	// Hooks are for tests only: they make this host misbehave on purpose.
	Hooks Hooks
}

// Hooks make a host misbehave, so that tests can show the broker copes;
// the node command sets none of them.
type Hooks struct {
	// Lie makes the host return a wrong output (and its hash) for every job.
	Lie bool
	// NeverStart makes the host accept jobs and never run them.
	NeverStart bool
	// Hold makes the host wait this long after a run before it reports
	// the run done, as a slow board would: a test can then be sure it is
	// mid-job when it kills the host.
	Hold time.Duration
}

// DefaultConfig returns the defaults README.md documents.
func DefaultConfig() Config {
	return Config{
		Concurrency:  2,
		Limits:       compute.DefaultConfig(),
		QuoteTimeout: 2 * time.Second,
		PollInterval: time.Second,
		SLA:          broker.DefaultSLA(),
		Weights:      broker.DefaultWeights(),
		MaxActive:    8,
		MaxQueued:    256,
		KeepHosted:   64,
	}
}

// Candidate is a host the broker may ask: a peer up, active and known by ID
// (or this node).
type Candidate struct {
	ID         string
	Endpoint   string
	Via        string
	PathMetric float64
}

// QuoteRequest asks a host's price for a job.
type QuoteRequest struct {
	ModuleHash  string
	ModuleBytes int64
	InputBytes  int64
	Timeout     time.Duration
}

// QuoteAnswer is a host's answer: a price, or a refusal with the reason.
type QuoteAnswer struct {
	HostID     string
	Accept     bool
	Reason     string
	Price      int64
	MeshOK     bool
	Neighbours int
}

// ExecRequest dispatches a job to a host.
type ExecRequest struct {
	JobID   string
	Module  []byte
	Input   []byte
	Timeout time.Duration
}

// Host run states.
const (
	RunAccepted = "accepted"
	RunStarted  = "started"
	RunDone     = "done"
	RunFailed   = "failed"
)

// RunStatus is how a job goes on a host.
type RunStatus struct {
	JobID    string
	State    string
	Progress float64
	// OutputHash is the BLAKE3 (hex) of the output when done.
	OutputHash  string
	OutputBytes int64
	// Error names the limit that stopped a failed run (timeout, memory,
	// output, trap) with its message.
	Error       string
	ErrorKind   string
	WallMillis  int64
	MemoryBytes uint64
	ReceiptSeq  uint64
}

// ErrHostBusy is a host refusing a dispatch because it runs as many jobs as
// it takes (503); the broker passes it over without a miss.
var ErrHostBusy = errors.New("host busy")

// Transport reaches other hosts' job endpoints (peerclient over HTTP).
type Transport interface {
	Quote(ctx context.Context, endpoint string, q QuoteRequest) (QuoteAnswer, error)
	Exec(ctx context.Context, endpoint string, req ExecRequest) error
	Status(ctx context.Context, endpoint, jobID string) (RunStatus, error)
	Output(ctx context.Context, endpoint, jobID string, limit int64) ([]byte, error)
}

// Payer pays hosts for accepted results (the economy's transfers, wired by
// the node); nil pays nothing.
type Payer interface {
	// CanPay says whether amount can be paid in the given number of
	// payments (each has a fee); a job that cannot be paid is refused
	// before it is dispatched.
	CanPay(ctx context.Context, amount int64, payments int) error
	// Pay pays host amount for job jobID, at most once per (job, host)
	// however often it is called. ErrNoEconomy: nothing is paid.
	Pay(ctx context.Context, host string, amount int64, jobID string) error
}

// ErrNoEconomy is a Payer saying the cluster has no economy: jobs run
// unpaid.
var ErrNoEconomy = errors.New("no economy")

// SubmitRequest is a job for the broker.
type SubmitRequest struct {
	Module   []byte
	Input    []byte
	R        int
	MaxPrice int64 // 0: no limit
	Timeout  time.Duration
	// Hosts, when not empty, restrict the job to these hosts: node IDs or
	// endpoints (URLs) of the peer table's candidates.
	Hosts []string
}

// MaxR is the most hosts one job may ask to agree.
const MaxR = 7

// MaxHosts bounds a job's host list, and MaxHostLen each entry.
const (
	MaxHosts   = 64
	MaxHostLen = 256
)
