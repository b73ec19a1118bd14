package jobs

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/offgrid-net/offgrid/compute"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node/nodeerr"
)

// hostRun is one job this node runs as a host.
type hostRun struct {
	key       string // sender and job ID
	req       ExecRequest
	inputRead atomic.Int64
	// status and output are written by the worker under Service.mu.
	status RunStatus
	output []byte
}

// Quote answers a broker's request for a price: the compute unit price
// times the job's timeout in seconds (a job's unit is one second of wall
// time, and the quote covers the whole timeout), or a refusal with the
// reason.
func (s *Service) Quote(ctx context.Context, q QuoteRequest) (QuoteAnswer, error) {
	a := QuoteAnswer{HostID: s.self}
	a.MeshOK, a.Neighbours = s.deps.Mesh()
	lim := s.engine.Config()
	switch {
	case !s.deps.Active(ctx):
		a.Reason = "host inactive"
	case len(s.hostSlots) == cap(s.hostSlots):
		a.Reason = "busy"
	case q.ModuleBytes > lim.MaxModuleBytes:
		a.Reason = fmt.Sprintf("module over %d bytes", lim.MaxModuleBytes)
	case q.InputBytes > lim.MaxInputBytes:
		a.Reason = fmt.Sprintf("input over %d bytes", lim.MaxInputBytes)
	case q.Timeout > lim.Timeout:
		a.Reason = fmt.Sprintf("timeout over %s", lim.Timeout)
	default:
		unit, err := s.deps.UnitPrice(ctx)
		if err != nil {
			return QuoteAnswer{}, err
		}
		secs := int64(math.Ceil(q.Timeout.Seconds()))
		a.Price, err = fixed.MulCeil(unit, secs*fixed.Scale)
		if err != nil {
			return QuoteAnswer{}, nodeerr.Invalidf("price out of range: %v", err)
		}
		a.Accept = true
	}
	return a, nil
}

// Exec accepts a job from sender (a member's node ID, or "admin"): checks
// the module and input, holds a slot, and queues it for a worker. A job
// already accepted from the same sender is not run twice.
func (s *Service) Exec(ctx context.Context, sender string, req ExecRequest) error {
	if err := checkJobID(req.JobID); err != nil {
		return err
	}
	if !s.deps.Active(ctx) {
		return fmt.Errorf("%w: it runs no jobs", nodeerr.ErrInactive)
	}
	if int64(len(req.Input)) > s.engine.Config().MaxInputBytes {
		return fmt.Errorf("%w: input over %d bytes", nodeerr.ErrTooLarge, s.engine.Config().MaxInputBytes)
	}
	if err := s.engine.CheckHeader(req.Module); err != nil {
		return mapComputeErr(err)
	}
	key := sender + " " + req.JobID
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.runs[key]; ok {
		return nil
	}
	select {
	case s.hostSlots <- struct{}{}:
	default:
		return fmt.Errorf("%w: %d jobs running", nodeerr.ErrBusy, cap(s.hostSlots))
	}
	run := &hostRun{key: key, req: req, status: RunStatus{JobID: req.JobID, State: RunAccepted}}
	s.runs[key] = run
	s.runOrder = append(s.runOrder, key)
	s.forgetOldRunsLocked()
	// Never blocks: the queue holds as many runs as there are slots.
	s.hostQueue <- run
	return nil
}

// forgetOldRunsLocked drops the oldest finished runs beyond KeepHosted.
func (s *Service) forgetOldRunsLocked() {
	for len(s.runOrder) > s.cfg.KeepHosted {
		dropped := false
		for i, k := range s.runOrder {
			if st := s.runs[k].status.State; st == RunDone || st == RunFailed {
				delete(s.runs, k)
				s.runOrder = append(s.runOrder[:i], s.runOrder[i+1:]...)
				dropped = true
				break
			}
		}
		if !dropped {
			return
		}
	}
}

// Status returns how a job from sender goes on this host.
func (s *Service) Status(sender, jobID string) (RunStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	run, ok := s.runs[sender+" "+jobID]
	if !ok {
		return RunStatus{}, fmt.Errorf("%w: no job %q from this sender", nodeerr.ErrNotFound, jobID)
	}
	st := run.status
	if st.State == RunStarted && len(run.req.Input) > 0 {
		st.Progress = float64(run.inputRead.Load()) / float64(len(run.req.Input))
	}
	return st, nil
}

// Output returns the output of a job from sender that is done.
func (s *Service) Output(sender, jobID string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	run, ok := s.runs[sender+" "+jobID]
	if !ok {
		return nil, fmt.Errorf("%w: no job %q from this sender", nodeerr.ErrNotFound, jobID)
	}
	if run.status.State != RunDone {
		return nil, fmt.Errorf("%w: job %q is %s", nodeerr.ErrConflict, jobID, run.status.State)
	}
	return run.output, nil
}

// hostWorker runs queued jobs until ctx ends.
func (s *Service) hostWorker(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case run := <-s.hostQueue:
			if s.cfg.Hooks.NeverStart {
				// Holds the slot for ever, as a host that hangs would.
				continue
			}
			s.runJob(ctx, run)
			<-s.hostSlots
		}
	}
}

func (s *Service) runJob(ctx context.Context, run *hostRun) {
	// Started once compiled: compiling a module takes seconds on a small
	// board, and counts against t_activate, not the job's timeout.
	started := func() {
		s.mu.Lock()
		run.status.State = RunStarted
		s.mu.Unlock()
	}
	var out bytes.Buffer
	res, err := s.engine.Run(ctx, run.req.Module, run.req.Input, &out, compute.Options{Timeout: run.req.Timeout, InputRead: &run.inputRead, Started: started})
	if s.cfg.Hooks.Hold > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(s.cfg.Hooks.Hold):
		}
	}
	if ctx.Err() != nil {
		return
	}
	output := out.Bytes()
	hash := hex.EncodeToString(res.OutputHash[:])
	if s.cfg.Hooks.Lie && err == nil {
		output = append(output, " (a lie)"...)
		sum := compute.Sum(output)
		hash = hex.EncodeToString(sum[:])
	}
	st := RunStatus{JobID: run.req.JobID, State: RunDone, Progress: 1, OutputHash: hash, OutputBytes: int64(len(output)),
		WallMillis: res.Wall.Milliseconds(), MemoryBytes: res.MemoryBytes}
	if err != nil {
		st.State, st.Error, st.ErrorKind, st.OutputHash, output = RunFailed, err.Error(), errorKind(err), "", nil
	}
	// A receipt for the resources used, also when a limit stopped the run;
	// none when the module never started (ErrBusy, a bad module).
	if res.Wall > 0 {
		r, rerr := s.deps.SignReceipt(ctx, ledger.Receipt{
			ResourceType: ledger.ResourceCompute,
			JobID:        run.req.JobID,
			Units:        res.Wall.Microseconds(),
			Metrics: map[string]float64{
				"wall_s":       res.Wall.Seconds(),
				"memory_bytes": float64(res.MemoryBytes),
				"input_bytes":  float64(len(run.req.Input)),
				"output_bytes": float64(res.OutputBytes),
			},
			Proofs: receiptProofs(res, st),
		})
		if rerr != nil {
			s.log.Warn("Job receipt not signed", "job", run.req.JobID, "err", rerr)
		} else {
			st.ReceiptSeq = r.Seq
		}
	}
	s.mu.Lock()
	run.status, run.output = st, output
	s.mu.Unlock()
	s.log.Info("Job ran", "job", run.req.JobID, "state", st.State, "wall", res.Wall, "error", st.ErrorKind)
}

// receiptProofs names the module and, when it finished, the output by
// their BLAKE3, in the receipt's proofs (the output as the host reported
// it, so that a lie is signed).
func receiptProofs(res compute.Result, st RunStatus) []string {
	p := []string{"module:blake3:" + hex.EncodeToString(res.ModuleHash[:])}
	if st.State == RunDone {
		p = append(p, "output:blake3:"+st.OutputHash)
	} else {
		p = append(p, "error:"+st.ErrorKind)
	}
	return p
}

// errorKind names the limit a run hit.
func errorKind(err error) string {
	for _, k := range []struct {
		err  error
		name string
	}{
		{compute.ErrTimeout, "timeout"},
		{compute.ErrMemoryLimit, "memory"},
		{compute.ErrOutputLimit, "output"},
		{compute.ErrTrap, "trap"},
		{compute.ErrBusy, "busy"},
		{compute.ErrInvalidModule, "invalid module"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "error"
}

// mapComputeErr maps compute's refusals onto the engine's sentinels.
func mapComputeErr(err error) error {
	switch {
	case errors.Is(err, compute.ErrModuleTooLarge), errors.Is(err, compute.ErrInputTooLarge):
		return fmt.Errorf("%w: %v", nodeerr.ErrTooLarge, err)
	case errors.Is(err, compute.ErrInvalidModule):
		return nodeerr.Invalidf("%v", err)
	case errors.Is(err, compute.ErrBusy):
		return fmt.Errorf("%w: %v", nodeerr.ErrBusy, err)
	}
	return err
}

func checkJobID(id string) error {
	if len(id) < 1 || len(id) > 64 {
		return nodeerr.Invalidf("job ID must be 1-64 characters")
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return nodeerr.Invalidf("job ID must be lower-case letters, digits and -")
		}
	}
	return nil
}
