package jobs

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/offgrid-net/offgrid/broker"
	"github.com/offgrid-net/offgrid/compute"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// candidates are the peers that may host, and this node when it is active.
func (s *Service) candidates(ctx context.Context) ([]Candidate, error) {
	var cs []Candidate
	if s.deps.Candidates != nil {
		var err error
		if cs, err = s.deps.Candidates(ctx); err != nil {
			return nil, err
		}
	}
	if s.deps.Active(ctx) {
		cs = append(cs, Candidate{ID: s.self, Via: "udp"})
	}
	return cs, nil
}

// within keeps the candidates named in hosts, by node ID or endpoint (a
// trailing slash ignored). This node's own candidate has no endpoint: it is
// named by its ID.
func within(cs []Candidate, hosts []string) []Candidate {
	named := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		named[strings.TrimSuffix(h, "/")] = true
	}
	var out []Candidate
	for _, c := range cs {
		if named[c.ID] || (c.Endpoint != "" && named[strings.TrimSuffix(c.Endpoint, "/")]) {
			out = append(out, c)
		}
	}
	return out
}

// The transport to a candidate: this node's own methods for itself, the
// remote transport for others.
func (s *Service) quote(ctx context.Context, c Candidate, q QuoteRequest) (QuoteAnswer, error) {
	if c.ID == s.self {
		return s.Quote(ctx, q)
	}
	if s.deps.Transport == nil {
		return QuoteAnswer{}, errors.New("no transport to other hosts")
	}
	return s.deps.Transport.Quote(ctx, c.Endpoint, q)
}

func (s *Service) exec(ctx context.Context, c Candidate, req ExecRequest) error {
	if c.ID == s.self {
		return s.Exec(ctx, s.self, req)
	}
	return s.deps.Transport.Exec(ctx, c.Endpoint, req)
}

func (s *Service) status(ctx context.Context, c Candidate, id string) (RunStatus, error) {
	if c.ID == s.self {
		return s.Status(s.self, id)
	}
	return s.deps.Transport.Status(ctx, c.Endpoint, id)
}

func (s *Service) output(ctx context.Context, c Candidate, id string, limit int64) ([]byte, error) {
	if c.ID == s.self {
		return s.Output(s.self, id)
	}
	return s.deps.Transport.Output(ctx, c.Endpoint, id, limit)
}

// isBusy says whether a host refused a dispatch only for being busy.
func isBusy(err error) bool {
	return errors.Is(err, ErrHostBusy) || errors.Is(err, nodeerr.ErrBusy)
}

func (s *Service) brokerWorker(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case id := <-s.jobQueue:
			if err := s.process(ctx, id); err != nil && ctx.Err() == nil {
				s.log.Warn("Job not brokered", "job", id, "err", err)
			}
		}
	}
}

// dispatch is one host working on the job.
type dispatch struct {
	c        Candidate
	price    int64
	progress broker.Progress
	view     int // index in Detail.Dispatches
	done     bool
	vote     string // output hash, "error:KIND", or "" when it failed
}

// process runs one job to its end: quotes, ranks, dispatches, watches the
// SLA, applies the result quorum, fetches and verifies the output, records
// reputation and pays. A stop in the middle leaves it running in the table,
// and Run's resume starts it again.
func (s *Service) process(ctx context.Context, id string) error {
	j, err := s.store.Get(ctx, id)
	if err != nil {
		return err
	}
	module, input, err := s.store.Payload(ctx, id)
	if err != nil {
		return err
	}
	j.State, j.Detail = broker.StateRunning, broker.Detail{}
	s.setLive(j)
	defer func() {
		s.mu.Lock()
		delete(s.live, id)
		s.mu.Unlock()
	}()
	if err := s.store.Update(ctx, j, nil); err != nil {
		return err
	}
	ranked, err := s.rank(ctx, &j, module, input, nil)
	if err != nil {
		return err
	}
	if why := s.cannotPay(ctx, ranked, j.R); why != "" {
		return s.finish(ctx, j, nil, why)
	}
	s.setLive(j)
	req := ExecRequest{JobID: j.ID, Module: module, Input: input, Timeout: j.Timeout}
	var ds []*dispatch
	asked := map[string]bool{}
	next := 0
	var lastRetry time.Time
	// start dispatches the job to the next ranked host that takes it. A
	// busy host is passed over without a miss: it said so honestly.
	start := func() bool {
		for next < len(ranked) {
			c := ranked[next]
			next++
			if asked[c.c.ID] {
				continue
			}
			err := s.exec(ctx, c.c, req)
			if isBusy(err) {
				continue
			}
			asked[c.c.ID] = true
			view := broker.DispatchView{HostID: c.c.ID, State: RunAccepted}
			if err != nil {
				view.State, view.Outcome, view.Note = RunFailed, "failed", err.Error()
				j.Detail.Dispatches = append(j.Detail.Dispatches, view)
				s.observe(ctx, c.c.ID, false)
				continue
			}
			ds = append(ds, &dispatch{c: c.c, price: c.price, progress: broker.Progress{Dispatched: s.deps.Now()}, view: len(j.Detail.Dispatches)})
			j.Detail.Dispatches = append(j.Detail.Dispatches, view)
			return true
		}
		return false
	}
	// The job may wait for hosts (all busy) up to its timeout, and then
	// take its timeout to run, with t_activate and a stall's age as margin.
	deadline := s.deps.Now().Add(2*j.Timeout + s.cfg.SLA.Activate + s.cfg.SLA.StallAge)
	tick := time.NewTicker(s.cfg.PollInterval)
	defer tick.Stop()
	for {
		pending := s.poll(ctx, &j, ds)
		var votes []broker.Vote
		for _, d := range ds {
			if d.done {
				votes = append(votes, broker.Vote{Host: d.c.ID, Hash: d.vote})
			}
		}
		v := broker.Decide(votes, j.R)
		if v.Accepted {
			return s.accept(ctx, j, ds, v)
		}
		// Ask more hosts when the votes and the dispatches still running
		// cannot decide. The first r dispatches are the job's; each one
		// after them (for a late or failed host, or a disagreement) is a
		// retry, within the SLA's budget and cooldown.
		retries := max(len(ds)-j.R, 0)
		for need := v.More - pending; need > 0; need-- {
			now := s.deps.Now()
			retry := len(ds) >= j.R
			if retry && !s.cfg.SLA.MayRetry(retries, lastRetry, now) {
				break
			}
			if !start() {
				break
			}
			if retry {
				retries++
				lastRetry = now
			}
			pending++
		}
		if pending == 0 && v.More > 0 && retries >= s.cfg.SLA.MaxRetries {
			s.settle(ctx, &j, ds, v)
			return s.finish(ctx, j, nil, "no quorum: hosts disagreed or failed and the retry budget is spent")
		}
		if s.deps.Now().After(deadline) {
			s.settle(ctx, &j, ds, v)
			return s.finish(ctx, j, nil, fmt.Sprintf("no quorum within the job's time (%d of %d matching results)", len(v.Majority), j.R))
		}
		if v.More-pending > 0 && next >= len(ranked) {
			// Every ranked host was asked or busy: a fresh quote round
			// among the hosts not asked yet.
			if ranked, err = s.rank(ctx, &j, module, input, asked); err != nil {
				return err
			}
			next = 0
		}
		s.setLive(j)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// rank asks every candidate not in skip for a quote at once, within
// QuoteTimeout, and ranks those that accept within the job's max price. The
// job's detail keeps the last round.
func (s *Service) rank(ctx context.Context, j *broker.Job, module, input []byte, skip map[string]bool) ([]ranked, error) {
	all, err := s.candidates(ctx)
	if err != nil {
		return nil, err
	}
	if len(j.Hosts) > 0 {
		all = within(all, j.Hosts)
	}
	var cands []Candidate
	for _, c := range all {
		if !skip[c.ID] {
			cands = append(cands, c)
		}
	}
	j.Detail.Candidates = nil
	sum := compute.Sum(module)
	q := QuoteRequest{ModuleHash: hex.EncodeToString(sum[:]), ModuleBytes: int64(len(module)), InputBytes: int64(len(input)), Timeout: j.Timeout}
	answers := make([]QuoteAnswer, len(cands))
	errs := make([]error, len(cands))
	qctx, cancel := context.WithTimeout(ctx, s.cfg.QuoteTimeout)
	var wg sync.WaitGroup
	for i, c := range cands {
		wg.Go(func() { answers[i], errs[i] = s.quote(qctx, c, q) })
	}
	wg.Wait()
	cancel()
	reps, err := s.rep.Reputations(ctx)
	if err != nil {
		return nil, err
	}
	var bc []broker.Candidate
	byID := map[string]Candidate{}
	for i, c := range cands {
		a := answers[i]
		why := ""
		switch {
		case errs[i] != nil:
			why = "silent: " + errs[i].Error()
		case !a.Accept:
			why = "refused: " + a.Reason
		case j.MaxPrice > 0 && a.Price > j.MaxPrice:
			why = fmt.Sprintf("over price: %s > %s", fixed.Format(a.Price), fixed.Format(j.MaxPrice))
		}
		if why != "" {
			j.Detail.Candidates = append(j.Detail.Candidates, broker.CandidateView{HostID: c.ID, Price: a.Price, Skipped: why})
			continue
		}
		byID[c.ID] = c
		path := c.PathMetric
		if path < 0 {
			path = 0
		}
		bc = append(bc, broker.Candidate{HostID: c.ID, URL: c.Endpoint, Price: a.Price, Rep: reps[c.ID],
			MeshOK: a.MeshOK, Neighbours: a.Neighbours, PathMetric: path, Link: c.Via})
	}
	var out []ranked
	for _, sc := range broker.Rank(bc, s.cfg.Weights) {
		j.Detail.Candidates = append(j.Detail.Candidates, broker.CandidateView{HostID: sc.HostID, Price: sc.Price, Score: sc.Score, Why: sc.Why})
		out = append(out, ranked{c: byID[sc.HostID], price: sc.Price})
	}
	return out, nil
}

type ranked struct {
	c     Candidate
	price int64
}

// poll asks each unfinished dispatch how it goes, records votes, and marks
// those that broke the SLA as failed. It returns how many still run.
func (s *Service) poll(ctx context.Context, j *broker.Job, ds []*dispatch) int {
	pending := 0
	for _, d := range ds {
		if d.done {
			continue
		}
		view := &j.Detail.Dispatches[d.view]
		pctx, cancel := context.WithTimeout(ctx, s.cfg.QuoteTimeout)
		st, err := s.status(pctx, d.c, j.ID)
		cancel()
		now := s.deps.Now()
		if err == nil {
			d.progress = s.cfg.SLA.Observe(d.progress, st.State != RunAccepted, st.Progress, now)
			view.State, view.Progress = st.State, st.Progress
			switch st.State {
			case RunDone:
				d.done, d.vote, view.OutputHash = true, st.OutputHash, st.OutputHash
				continue
			case RunFailed:
				// The module's own failure (a limit) is a result: hosts that
				// agree on it make the job fail with it.
				d.done, d.vote, view.Note = true, "error:"+st.ErrorKind, st.Error
				continue
			}
		}
		if why := s.cfg.SLA.Late(d.progress, j.Timeout, 2*s.cfg.PollInterval+time.Second, now); why != "" {
			d.done, d.vote = true, ""
			view.Outcome, view.Note = "late", why
			if err != nil {
				view.Note += " (" + err.Error() + ")"
			}
			continue
		}
		pending++
	}
	return pending
}

// accept fetches the output once from a majority host, verifies its hash,
// records the job done, settles reputation and pays the majority.
func (s *Service) accept(ctx context.Context, j broker.Job, ds []*dispatch, v broker.Verdict) error {
	if kind, ok := strings.CutPrefix(v.Hash, "error:"); ok {
		s.settle(ctx, &j, ds, v)
		return s.finish(ctx, j, nil, "the module failed on every host that answered: "+kind)
	}
	limit := s.engine.Config().MaxOutputBytes
	var out []byte
	var fetched bool // an empty output is an output: nil out says nothing
	var fetchErr error
	for _, d := range ds {
		if d.vote != v.Hash {
			continue
		}
		octx, cancel := context.WithTimeout(ctx, j.Timeout)
		b, err := s.output(octx, d.c, j.ID, limit)
		cancel()
		if err == nil {
			if sum := compute.Sum(b); hex.EncodeToString(sum[:]) == v.Hash {
				out, fetched = b, true
				break
			}
			err = errors.New("output does not match its hash")
		}
		fetchErr = err
		d.vote = "" // it served something else: no longer in the majority
		j.Detail.Dispatches[d.view].Note = "output fetch: " + err.Error()
	}
	if !fetched {
		s.settle(ctx, &j, ds, broker.Verdict{})
		return s.finish(ctx, j, nil, fmt.Sprintf("output not fetched from the majority: %v", fetchErr))
	}
	s.settle(ctx, &j, ds, v)
	s.pay(ctx, &j, ds, v)
	return s.finish(ctx, j, out, "")
}

// cannotPay says why the submitter cannot pay the first r ranked hosts
// their quotes (the hosts the job goes to first), or "" when it can: a job
// that cannot be paid is refused before any host works on it.
func (s *Service) cannotPay(ctx context.Context, ranked []ranked, r int) string {
	if s.deps.Payer == nil {
		return ""
	}
	var amount int64
	payments := 0
	for _, rc := range ranked[:min(r, len(ranked))] {
		if rc.price > 0 && rc.c.ID != s.self {
			amount += rc.price
			payments++
		}
	}
	if payments == 0 {
		return ""
	}
	if err := s.deps.Payer.CanPay(ctx, amount, payments); err != nil && !errors.Is(err, ErrNoEconomy) {
		return fmt.Sprintf("not dispatched: cannot pay the hosts' quotes (%s): %v", fixed.Format(amount), err)
	}
	return ""
}

// pay pays each majority host its quoted price; a host outvoted, failed or
// late is not paid, nor is this node for running its own job. The outcome
// is noted on each paid dispatch.
func (s *Service) pay(ctx context.Context, j *broker.Job, ds []*dispatch, v broker.Verdict) {
	if s.deps.Payer == nil {
		return
	}
	for _, d := range ds {
		if d.vote != v.Hash || d.price <= 0 || d.c.ID == s.self {
			continue
		}
		view := &j.Detail.Dispatches[d.view]
		err := s.deps.Payer.Pay(ctx, d.c.ID, d.price, j.ID)
		switch {
		case errors.Is(err, ErrNoEconomy):
			view.Note = "unpaid: no economy"
		case err != nil:
			view.Note = "payment: " + err.Error()
			s.log.Warn("Job payment failed", "job", j.ID, "host", d.c.ID, "err", err)
		default:
			view.Note = "paid " + fixed.Format(d.price)
		}
	}
}

// settle gives the majority a hit, and the minority and hosts that failed
// or were late a miss, and marks each dispatch's outcome.
func (s *Service) settle(ctx context.Context, j *broker.Job, ds []*dispatch, v broker.Verdict) {
	if v.Accepted {
		j.OutputHash = v.Hash
	}
	outcomes(j, ds)
	for _, d := range ds {
		switch {
		case !d.done:
			continue
		case v.Accepted && d.vote == v.Hash:
			s.observe(ctx, d.c.ID, true)
		default:
			s.observe(ctx, d.c.ID, false)
		}
	}
}

// outcomes marks each dispatch's outcome in the job's detail.
func outcomes(j *broker.Job, ds []*dispatch) {
	for _, d := range ds {
		view := &j.Detail.Dispatches[d.view]
		if view.Outcome != "" {
			continue
		}
		switch {
		case !d.done:
			view.Outcome = "cancelled"
		case j.OutputHash != "" && d.vote == j.OutputHash:
			view.Outcome = "majority"
		case d.vote == "":
			view.Outcome = "failed"
		default:
			view.Outcome = "minority"
		}
	}
}

func (s *Service) observe(ctx context.Context, host string, hit bool) {
	var h, m uint64
	if hit {
		h = 1
	} else {
		m = 1
	}
	if err := s.rep.Observe(ctx, host, h, m); err != nil {
		s.log.Warn("Reputation not recorded", "host", host, "err", err)
	}
}

// finish records the job's end: done with its output, or failed with why.
func (s *Service) finish(ctx context.Context, j broker.Job, out []byte, why string) error {
	j.Finished = s.deps.Now().UTC()
	if why != "" {
		j.State, j.Error, j.OutputHash = broker.StateFailed, why, ""
	} else {
		j.State = broker.StateDone
		if out == nil {
			out = []byte{}
		}
	}
	s.log.Info("Job finished", "job", j.ID, "state", j.State, "error", j.Error)
	return s.store.Update(ctx, j, out)
}

func (s *Service) setLive(j broker.Job) {
	s.mu.Lock()
	j.Module, j.Input = nil, nil
	d := j.Detail
	d.Candidates = append([]broker.CandidateView(nil), d.Candidates...)
	d.Dispatches = append([]broker.DispatchView(nil), d.Dispatches...)
	j.Detail = d
	s.live[j.ID] = j
	s.mu.Unlock()
}
