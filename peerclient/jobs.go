package peerclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/node/jobs"
)

// Jobs reaches other hosts' job endpoints (quote, exec, status, output)
// through the generated client, signing every request with the node's key.
type Jobs struct {
	doer   gen.HttpRequestDoer
	signer *identity.RequestSigner
}

var _ jobs.Transport = (*Jobs)(nil)

// NewJobs returns a job transport over doer.
func NewJobs(doer gen.HttpRequestDoer, signer *identity.RequestSigner) *Jobs {
	return &Jobs{doer: doer, signer: signer}
}

func (t *Jobs) client(endpoint, digest string) (*gen.Client, error) {
	return signedClient(t.doer, t.signer, endpoint, digest)
}

func answerErr(op string, status int, body io.Reader) error {
	b, _ := io.ReadAll(io.LimitReader(body, 4<<10))
	detail := strings.TrimSpace(string(b))
	if len(detail) > 200 {
		detail = detail[:200]
	}
	return fmt.Errorf("%s: host answered %d: %s", op, status, detail)
}

func timeoutSeconds(d time.Duration) int32 {
	return int32(min(max(math.Ceil(d.Seconds()), 1), 3600))
}

// Quote implements jobs.Transport.
func (t *Jobs) Quote(ctx context.Context, endpoint string, q jobs.QuoteRequest) (jobs.QuoteAnswer, error) {
	body, err := json.Marshal(gen.JobQuoteRequest{ModuleHash: q.ModuleHash, ModuleSize: q.ModuleBytes, InputSize: q.InputBytes, TimeoutS: timeoutSeconds(q.Timeout)})
	if err != nil {
		return jobs.QuoteAnswer{}, err
	}
	c, err := t.client(endpoint, identity.BodyDigest(body))
	if err != nil {
		return jobs.QuoteAnswer{}, err
	}
	resp, err := c.QuoteJobWithBody(ctx, "application/json", bytes.NewReader(body))
	if err != nil {
		return jobs.QuoteAnswer{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return jobs.QuoteAnswer{}, answerErr("quote", resp.StatusCode, resp.Body)
	}
	var a gen.JobQuote
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&a); err != nil {
		return jobs.QuoteAnswer{}, fmt.Errorf("quote: %w", err)
	}
	price, err := fixed.Parse(a.Price)
	if err != nil {
		return jobs.QuoteAnswer{}, fmt.Errorf("quote: price: %w", err)
	}
	out := jobs.QuoteAnswer{HostID: a.HostId, Accept: a.Accept, Price: price, MeshOK: a.MeshOk, Neighbours: a.Neighbours}
	if a.Reason != nil {
		out.Reason = *a.Reason
	}
	return out, nil
}

// Exec implements jobs.Transport: the module and the input in one body.
func (t *Jobs) Exec(ctx context.Context, endpoint string, req jobs.ExecRequest) error {
	body := make([]byte, 0, len(req.Module)+len(req.Input))
	body = append(append(body, req.Module...), req.Input...)
	c, err := t.client(endpoint, identity.BodyDigest(body))
	if err != nil {
		return err
	}
	ts := timeoutSeconds(req.Timeout)
	resp, err := c.ExecJobWithBody(ctx, req.JobID, &gen.ExecJobParams{ModuleSize: int64(len(req.Module)), TimeoutS: &ts},
		"application/octet-stream", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == 503 {
		return fmt.Errorf("%w: %v", jobs.ErrHostBusy, answerErr("exec", resp.StatusCode, resp.Body))
	}
	if resp.StatusCode != 202 {
		return answerErr("exec", resp.StatusCode, resp.Body)
	}
	return nil
}

// Status implements jobs.Transport.
func (t *Jobs) Status(ctx context.Context, endpoint, jobID string) (jobs.RunStatus, error) {
	c, err := t.client(endpoint, emptyDigest)
	if err != nil {
		return jobs.RunStatus{}, err
	}
	resp, err := c.ExecStatus(ctx, jobID)
	if err != nil {
		return jobs.RunStatus{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return jobs.RunStatus{}, answerErr("status", resp.StatusCode, resp.Body)
	}
	var st gen.RunStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&st); err != nil {
		return jobs.RunStatus{}, fmt.Errorf("status: %w", err)
	}
	out := jobs.RunStatus{JobID: st.JobId, State: string(st.State), Progress: float64(st.Progress)}
	if st.OutputHash != nil {
		out.OutputHash = *st.OutputHash
	}
	if st.Error != nil {
		out.Error = *st.Error
	}
	if st.ErrorKind != nil {
		out.ErrorKind = *st.ErrorKind
	}
	return out, nil
}

// Output implements jobs.Transport: at most limit bytes.
func (t *Jobs) Output(ctx context.Context, endpoint, jobID string, limit int64) ([]byte, error) {
	c, err := t.client(endpoint, emptyDigest)
	if err != nil {
		return nil, err
	}
	resp, err := c.ExecOutput(ctx, jobID)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, answerErr("output", resp.StatusCode, resp.Body)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("output over %d bytes", limit)
	}
	return b, nil
}
