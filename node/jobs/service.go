package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/offgrid-net/offgrid/broker"
	"github.com/offgrid-net/offgrid/compute"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// Deps is what the jobs part needs from the node.
type Deps struct {
	DB   *sql.DB
	Keys *identity.Keys
	// Transport reaches other hosts; nil: jobs run on this node only.
	Transport Transport
	// Candidates lists the peers that may host a job: up, active, known by
	// ID, members.
	Candidates func(ctx context.Context) ([]Candidate, error)
	// Active says whether this node runs jobs.
	Active func(ctx context.Context) bool
	// UnitPrice is this host's price of one compute unit (micro-credits).
	UnitPrice func(ctx context.Context) (int64, error)
	// Mesh is this node's mesh health and neighbour count.
	Mesh func() (ok bool, neighbours int)
	// SignReceipt signs and stores a receipt (the node fills in version,
	// cluster and time).
	SignReceipt func(ctx context.Context, r ledger.Receipt) (ledger.Receipt, error)
	// Payer pays hosts; nil pays nothing.
	Payer  Payer
	Logger *slog.Logger
	Now    func() time.Time
}

// Service runs jobs as a host and brokers jobs to hosts. New starts no
// goroutine; Run starts the host's workers and the broker's.
type Service struct {
	cfg    Config
	deps   Deps
	log    *slog.Logger
	self   string
	engine *compute.Engine
	rep    *broker.RepStore
	store  *broker.JobStore

	hostSlots chan struct{}
	hostQueue chan *hostRun
	jobQueue  chan string

	mu       sync.Mutex
	runs     map[string]*hostRun
	runOrder []string
	// live holds the detail of running brokered jobs, for Job while they run.
	live map[string]broker.Job
}

// New checks cfg and opens the tables; it starts nothing.
func New(ctx context.Context, cfg Config, deps Deps) (*Service, error) {
	d := DefaultConfig()
	if cfg.Concurrency == 0 {
		cfg.Concurrency = d.Concurrency
	}
	if cfg.Limits == (compute.Config{}) {
		cfg.Limits = d.Limits
	}
	if cfg.QuoteTimeout == 0 {
		cfg.QuoteTimeout = d.QuoteTimeout
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = d.PollInterval
	}
	if cfg.SLA == (broker.SLA{}) {
		cfg.SLA = d.SLA
	}
	if cfg.Weights == (broker.Weights{}) {
		cfg.Weights = d.Weights
	}
	if cfg.MaxActive == 0 {
		cfg.MaxActive = d.MaxActive
	}
	if cfg.MaxQueued == 0 {
		cfg.MaxQueued = d.MaxQueued
	}
	if cfg.KeepHosted == 0 {
		cfg.KeepHosted = d.KeepHosted
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > 256 {
		return nil, errors.New("job concurrency must be between 1 and 256")
	}
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	cfg.Limits.MaxConcurrent = cfg.Concurrency
	engine, err := compute.New(ctx, cfg.Limits)
	if err != nil {
		return nil, err
	}
	rep, err := broker.OpenRepStore(ctx, deps.DB, deps.Keys)
	if err != nil {
		_ = engine.Close(ctx)
		return nil, err
	}
	return &Service{
		cfg:       cfg,
		deps:      deps,
		log:       deps.Logger.With("component", "jobs"),
		self:      deps.Keys.ID().String(),
		engine:    engine,
		rep:       rep,
		store:     broker.NewJobStore(deps.DB),
		hostSlots: make(chan struct{}, cfg.Concurrency),
		hostQueue: make(chan *hostRun, cfg.Concurrency),
		jobQueue:  make(chan string, cfg.MaxQueued),
		runs:      map[string]*hostRun{},
		live:      map[string]broker.Job{},
	}, nil
}

// Run starts the host's workers and the broker's, resumes unfinished
// brokered jobs, and returns when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	defer s.engine.Close(context.Background())
	g, ctx := errgroup.WithContext(ctx)
	for range s.cfg.Concurrency {
		g.Go(func() error { return s.hostWorker(ctx) })
	}
	for range s.cfg.MaxActive {
		g.Go(func() error { return s.brokerWorker(ctx) })
	}
	g.Go(func() error { return s.resume(ctx) })
	return g.Wait()
}

// resume queues the jobs a stop left unfinished.
func (s *Service) resume(ctx context.Context) error {
	js, err := s.store.Unfinished(ctx)
	if err != nil {
		if ctx.Err() != nil {
			// Stopped at once: nothing to resume now; the next start will.
			return nil
		}
		return err
	}
	for _, j := range js {
		select {
		case s.jobQueue <- j.ID:
		case <-ctx.Done():
			return nil
		}
	}
	if len(js) > 0 {
		s.log.Info("Resumed unfinished jobs", "count", len(js))
	}
	return nil
}

// Submit validates a job, records it and queues it for the broker. It is
// refused (nothing written) when the module is not WASM, anything is too
// large, r is out of range or above the hosts known, the submitter cannot
// pay, or the queue is full.
func (s *Service) Submit(ctx context.Context, req SubmitRequest) (broker.Job, error) {
	lim := s.engine.Config()
	switch {
	case req.R < 1 || req.R > MaxR:
		return broker.Job{}, nodeerr.Invalidf("r must be between 1 and %d", MaxR)
	case req.Timeout < 0 || req.Timeout > lim.Timeout:
		return broker.Job{}, nodeerr.Invalidf("timeout must be between 1s and %s", lim.Timeout)
	case req.MaxPrice < 0:
		return broker.Job{}, nodeerr.Invalidf("max price must not be negative")
	case int64(len(req.Input)) > lim.MaxInputBytes:
		return broker.Job{}, fmt.Errorf("%w: input over %d bytes", nodeerr.ErrTooLarge, lim.MaxInputBytes)
	case len(req.Hosts) > MaxHosts:
		return broker.Job{}, nodeerr.Invalidf("at most %d hosts may be named", MaxHosts)
	}
	for _, h := range req.Hosts {
		if h == "" || len(h) > MaxHostLen {
			return broker.Job{}, nodeerr.Invalidf("a host must be a node ID or endpoint of 1-%d bytes", MaxHostLen)
		}
	}
	if req.Timeout == 0 {
		req.Timeout = lim.Timeout
	}
	if _, err := s.engine.CheckModule(ctx, req.Module); err != nil {
		return broker.Job{}, mapComputeErr(err)
	}
	cands, err := s.candidates(ctx)
	if err != nil {
		return broker.Job{}, err
	}
	if len(req.Hosts) > 0 {
		cands = within(cands, req.Hosts)
		if req.R > len(cands) {
			return broker.Job{}, nodeerr.Invalidf("r = %d but only %d of the %d named hosts are known", req.R, len(cands), len(req.Hosts))
		}
	}
	if req.R > len(cands) {
		return broker.Job{}, nodeerr.Invalidf("r = %d but only %d hosts are known", req.R, len(cands))
	}
	if s.deps.Payer != nil && req.MaxPrice > 0 {
		if err := s.deps.Payer.CanPay(ctx, req.MaxPrice*int64(req.R), req.R); err != nil {
			return broker.Job{}, fmt.Errorf("%w: cannot pay %d hosts: %v", nodeerr.ErrConflict, req.R, err)
		}
	}
	if len(s.jobQueue) == cap(s.jobQueue) {
		return broker.Job{}, fmt.Errorf("%w: %d jobs queued", nodeerr.ErrBusy, cap(s.jobQueue))
	}
	j := broker.Job{ID: newJobID(), State: broker.StateQueued, R: req.R, MaxPrice: req.MaxPrice, Timeout: req.Timeout,
		Module: req.Module, Input: req.Input, Created: s.deps.Now().UTC(), Hosts: req.Hosts}
	if err := s.store.Create(ctx, j); err != nil {
		return broker.Job{}, err
	}
	select {
	case s.jobQueue <- j.ID:
	default:
		// Recorded: Run's resume picks it up after a restart; the queue
		// had room a moment ago, so this is rare.
		s.log.Warn("Job queue full; the job waits for a restart", "job", j.ID)
	}
	j.Module, j.Input = nil, nil
	return j, nil
}

// Job returns a brokered job (its live detail while it runs).
func (s *Service) Job(ctx context.Context, id string) (broker.Job, error) {
	if err := checkJobID(id); err != nil {
		return broker.Job{}, err
	}
	s.mu.Lock()
	j, ok := s.live[id]
	s.mu.Unlock()
	if ok {
		return j, nil
	}
	j, err := s.store.Get(ctx, id)
	if errors.Is(err, broker.ErrNoJob) {
		return broker.Job{}, fmt.Errorf("%w: %v", nodeerr.ErrNotFound, err)
	}
	return j, err
}

// Jobs returns up to limit brokered jobs, newest first.
func (s *Service) Jobs(ctx context.Context, limit int) ([]broker.Job, error) {
	if limit < 1 || limit > 1000 {
		return nil, nodeerr.Invalidf("limit must be between 1 and 1000")
	}
	js, err := s.store.List(ctx, limit)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, j := range js {
		if l, ok := s.live[j.ID]; ok {
			js[i] = l
		}
	}
	return js, nil
}

// JobOutput returns a done job's verified output.
func (s *Service) JobOutput(ctx context.Context, id string) ([]byte, error) {
	if err := checkJobID(id); err != nil {
		return nil, err
	}
	out, err := s.store.Output(ctx, id)
	switch {
	case errors.Is(err, broker.ErrNoJob):
		return nil, fmt.Errorf("%w: %v", nodeerr.ErrNotFound, err)
	case errors.Is(err, broker.ErrNoOutput):
		return nil, fmt.Errorf("%w: %v", nodeerr.ErrConflict, err)
	}
	return out, err
}

// Reputation exports this node's own observations, signed.
func (s *Service) Reputation(ctx context.Context) ([]broker.RepRecord, error) {
	return s.rep.Export(ctx)
}

// Reputations returns what this node knows of every host.
func (s *Service) Reputations(ctx context.Context) (map[string]broker.Reputation, error) {
	return s.rep.Reputations(ctx)
}

// MergeReputation merges others' signed records (all or nothing).
func (s *Service) MergeReputation(ctx context.Context, rs []broker.RepRecord) (int, error) {
	n, err := s.rep.Merge(ctx, rs)
	if errors.Is(err, broker.ErrForged) || errors.Is(err, broker.ErrBadRecord) {
		return 0, fmt.Errorf("%w: %v", nodeerr.ErrInvalid, err)
	}
	return n, err
}

func newJobID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "j-" + hex.EncodeToString(b[:])
}
