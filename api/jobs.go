package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/api/genserver"
	"github.com/offgrid-net/offgrid/broker"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/node/jobs"
	"github.com/offgrid-net/offgrid/problem"
)

// maxJobBody is the largest job body: a module and an input of at most
// 16 MiB each (openapi.yaml's execJob and submitJob bodies).
const maxJobBody = 32 << 20

// splitJob reads a job body (bounded by the guard) and splits it into the
// module and the input.
func splitJob(body io.Reader, moduleSize int64) (module, input []byte, err error) {
	b, err := io.ReadAll(body)
	if err != nil {
		return nil, nil, err
	}
	return jobs.SplitBody(b, moduleSize, maxJobBody/2, maxJobBody/2)
}

func timeoutParam(p *gen.TimeoutS) time.Duration {
	if p == nil {
		return 0
	}
	return time.Duration(*p) * time.Second
}

func (h *handlers) QuoteJob(ctx context.Context, req genserver.QuoteJobRequestObject) (genserver.QuoteJobResponseObject, error) {
	a, err := h.node.QuoteJob(ctx, jobs.QuoteRequest{ModuleHash: req.Body.ModuleHash, ModuleBytes: req.Body.ModuleSize,
		InputBytes: req.Body.InputSize, Timeout: time.Duration(req.Body.TimeoutS) * time.Second})
	if err != nil {
		return nil, err
	}
	out := genserver.QuoteJob200JSONResponse{HostId: a.HostID, Accept: a.Accept, Price: fixed.Format(a.Price), MeshOk: a.MeshOK, Neighbours: a.Neighbours}
	if a.Reason != "" {
		out.Reason = &a.Reason
	}
	return out, nil
}

func (h *handlers) ExecJob(ctx context.Context, req genserver.ExecJobRequestObject) (genserver.ExecJobResponseObject, error) {
	module, input, err := splitJob(req.Body, req.Params.ModuleSize)
	if err != nil {
		return nil, err
	}
	sender := callerName(ctx)
	if err := h.node.ExecJob(ctx, sender, jobs.ExecRequest{JobID: req.JobId, Module: module, Input: input, Timeout: timeoutParam(req.Params.TimeoutS)}); err != nil {
		return nil, err
	}
	st, err := h.node.ExecStatus(sender, req.JobId)
	if err != nil {
		return nil, err
	}
	return genserver.ExecJob202JSONResponse(runStatusDTO(st)), nil
}

func (h *handlers) ExecStatus(ctx context.Context, req genserver.ExecStatusRequestObject) (genserver.ExecStatusResponseObject, error) {
	st, err := h.node.ExecStatus(callerName(ctx), req.JobId)
	if err != nil {
		return nil, err
	}
	return genserver.ExecStatus200JSONResponse(runStatusDTO(st)), nil
}

func (h *handlers) ExecOutput(ctx context.Context, req genserver.ExecOutputRequestObject) (genserver.ExecOutputResponseObject, error) {
	b, err := h.node.ExecOutput(callerName(ctx), req.JobId)
	if err != nil {
		return nil, err
	}
	return genserver.ExecOutput200ApplicationoctetStreamResponse{Body: bytes.NewReader(b), ContentLength: int64(len(b))}, nil
}

func runStatusDTO(st jobs.RunStatus) gen.RunStatus {
	out := gen.RunStatus{JobId: st.JobID, State: gen.RunStatusState(st.State), Progress: float32(st.Progress)}
	if st.OutputHash != "" {
		out.OutputHash = &st.OutputHash
		out.OutputBytes = &st.OutputBytes
	}
	if st.Error != "" {
		out.Error, out.ErrorKind = &st.Error, &st.ErrorKind
	}
	if st.State == jobs.RunDone || st.State == jobs.RunFailed {
		mem, seq := int64(st.MemoryBytes), int64(st.ReceiptSeq)
		out.WallMs, out.MemoryBytes, out.ReceiptSeq = &st.WallMillis, &mem, &seq
	}
	return out
}

func (h *handlers) SubmitJob(ctx context.Context, req genserver.SubmitJobRequestObject) (genserver.SubmitJobResponseObject, error) {
	sr := jobs.SubmitRequest{R: 1, Timeout: timeoutParam(req.Params.TimeoutS)}
	if req.Params.R != nil {
		sr.R = int(*req.Params.R)
	}
	if req.Params.MaxPrice != nil {
		v, err := parseDecimal("max_price", *req.Params.MaxPrice)
		if err != nil {
			return nil, err
		}
		sr.MaxPrice = v
	}
	if req.Params.Hosts != nil {
		sr.Hosts = *req.Params.Hosts
	}
	var err error
	if sr.Module, sr.Input, err = splitJob(req.Body, req.Params.ModuleSize); err != nil {
		return nil, err
	}
	j, err := h.node.SubmitJob(ctx, sr)
	if err != nil {
		return nil, err
	}
	return genserver.SubmitJob202JSONResponse(jobDTO(j)), nil
}

func (h *handlers) ListJobs(ctx context.Context, req genserver.ListJobsRequestObject) (genserver.ListJobsResponseObject, error) {
	limit := 100
	if req.Params.Limit != nil {
		limit = int(*req.Params.Limit)
	}
	js, err := h.node.Jobs(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := genserver.ListJobs200JSONResponse{}
	for _, j := range js {
		out = append(out, jobDTO(j))
	}
	return out, nil
}

func (h *handlers) GetJob(ctx context.Context, req genserver.GetJobRequestObject) (genserver.GetJobResponseObject, error) {
	j, err := h.node.Job(ctx, req.JobId)
	if err != nil {
		return nil, err
	}
	return genserver.GetJob200JSONResponse(jobDTO(j)), nil
}

func (h *handlers) GetJobOutput(ctx context.Context, req genserver.GetJobOutputRequestObject) (genserver.GetJobOutputResponseObject, error) {
	b, err := h.node.JobOutput(ctx, req.JobId)
	if err != nil {
		return nil, err
	}
	return genserver.GetJobOutput200ApplicationoctetStreamResponse{Body: bytes.NewReader(b), ContentLength: int64(len(b))}, nil
}

// JobDTO is the API's form of a brokered job (the dashboard shows it too).
func JobDTO(j broker.Job) gen.Job { return jobDTO(j) }

func jobDTO(j broker.Job) gen.Job {
	out := gen.Job{Id: j.ID, State: gen.JobState(j.State), R: j.R, TimeoutS: int(j.Timeout / time.Second), CreatedAt: j.Created,
		Candidates: []gen.JobCandidate{}, Dispatches: []gen.JobDispatch{}}
	if j.MaxPrice > 0 {
		p := fixed.Format(j.MaxPrice)
		out.MaxPrice = &p
	}
	if !j.Finished.IsZero() {
		out.FinishedAt = &j.Finished
	}
	if j.OutputHash != "" {
		out.OutputHash = &j.OutputHash
	}
	if j.Error != "" {
		out.Error = &j.Error
	}
	for _, c := range j.Detail.Candidates {
		gc := gen.JobCandidate{HostId: c.HostID, Price: fixed.Format(c.Price), Score: float32(c.Score), Why: c.Why}
		if c.Skipped != "" {
			gc.Skipped = &c.Skipped
		}
		out.Candidates = append(out.Candidates, gc)
	}
	for _, d := range j.Detail.Dispatches {
		gd := gen.JobDispatch{HostId: d.HostID, State: d.State, Progress: float32(d.Progress)}
		if d.OutputHash != "" {
			gd.OutputHash = &d.OutputHash
		}
		if d.Outcome != "" {
			gd.Outcome = &d.Outcome
		}
		if d.Note != "" {
			gd.Note = &d.Note
		}
		out.Dispatches = append(out.Dispatches, gd)
	}
	return out
}

func (h *handlers) GetReputation(ctx context.Context, _ genserver.GetReputationRequestObject) (genserver.GetReputationResponseObject, error) {
	rs, err := h.node.Reputation(ctx)
	if err != nil {
		return nil, err
	}
	out := genserver.GetReputation200JSONResponse{}
	for _, r := range rs {
		out = append(out, gen.RepRecord{Version: gen.RepRecordVersion(r.Version), Observer: r.Observer, Subject: r.Subject,
			Hits: int64(r.Hits), Misses: int64(r.Misses), VerifyKey: r.VerifyKey, Signature: r.Signature})
	}
	return out, nil
}

func (h *handlers) MergeReputation(ctx context.Context, req genserver.MergeReputationRequestObject) (genserver.MergeReputationResponseObject, error) {
	var rs []broker.RepRecord
	for _, r := range *req.Body {
		if r.Hits < 0 || r.Misses < 0 {
			return nil, fmt.Errorf("%w: negative counts", problem.ErrBadRequest)
		}
		rs = append(rs, broker.RepRecord{Version: string(r.Version), Observer: r.Observer, Subject: r.Subject,
			Hits: uint64(r.Hits), Misses: uint64(r.Misses), VerifyKey: r.VerifyKey, Signature: r.Signature})
	}
	n, err := h.node.MergeReputation(ctx, rs)
	if err != nil {
		return nil, err
	}
	return genserver.MergeReputation200JSONResponse{Merged: n}, nil
}

func (h *handlers) ListReputation(ctx context.Context, _ genserver.ListReputationRequestObject) (genserver.ListReputationResponseObject, error) {
	reps, err := h.node.Reputations(ctx)
	if err != nil {
		return nil, err
	}
	out := genserver.ListReputation200JSONResponse{}
	w := broker.DefaultWeights().OthersWeight
	for id, r := range reps {
		out = append(out, gen.HostReputation{HostId: id, Hits: int64(r.Hits), Misses: int64(r.Misses),
			OtherHits: int64(r.OtherHits), OtherMisses: int64(r.OtherMisses), Reliability: float32(r.Reliability(w))})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].HostId < out[j].HostId })
	return out, nil
}
