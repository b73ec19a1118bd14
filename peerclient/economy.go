package peerclient

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node/economy"
)

// maxPageAnswer bounds the answer to GET /gossip/certificates: a full page
// of the largest certificates, base64, with room for the JSON around them.
const maxPageAnswer = economy.MaxPage * 48 << 10

// Economy asks witnesses for votes and moves certificates between nodes,
// signing every request with the node's key. It is safe for concurrent use.
type Economy struct {
	doer   gen.HttpRequestDoer
	signer *identity.RequestSigner
}

var _ economy.Remote = (*Economy)(nil)

// NewEconomy returns the economy's transport over doer.
func NewEconomy(doer gen.HttpRequestDoer, signer *identity.RequestSigner) *Economy {
	return &Economy{doer: doer, signer: signer}
}

// post sends body, signed, to path and returns the answer (at most limit
// bytes) of a 200; a 409 wraps economy.ErrRefused with the node's reason.
func (e *Economy) post(ctx context.Context, endpoint, path string, body any, limit int64) ([]byte, error) {
	status, answer, err := postSigned(ctx, e.doer, e.signer, endpoint, path, body, limit)
	switch {
	case err != nil:
		return nil, err
	case status == http.StatusConflict:
		return nil, fmt.Errorf("%w: %s", economy.ErrRefused, problemDetail(answer))
	case status != http.StatusOK:
		return nil, fmt.Errorf("%s%s: status %d: %s", strings.TrimRight(endpoint, "/"), path, status, problemDetail(answer))
	}
	return answer, nil
}

func b64List(in [][]byte) []string {
	out := make([]string, len(in))
	for i, b := range in {
		out[i] = base64.StdEncoding.EncodeToString(b)
	}
	return out
}

// Witness implements economy.Remote: POST /gossip/tx_witness.
func (e *Economy) Witness(ctx context.Context, endpoint string, tx []byte, credits [][]byte) ([]byte, error) {
	req := gen.WitnessRequest{Tx: base64.StdEncoding.EncodeToString(tx)}
	if len(credits) > 0 {
		c := b64List(credits)
		req.Credits = &c
	}
	answer, err := e.post(ctx, endpoint, "/gossip/tx_witness", req, 4<<10)
	if err != nil {
		return nil, err
	}
	var v gen.WitnessVote
	if err := json.Unmarshal(answer, &v); err != nil {
		return nil, fmt.Errorf("witness answer: %w", err)
	}
	b, err := base64.StdEncoding.DecodeString(v.Vote)
	if err != nil {
		return nil, fmt.Errorf("witness answer: %w", err)
	}
	return b, nil
}

// PushCertificates implements economy.Remote: POST /gossip/merge_balances.
func (e *Economy) PushCertificates(ctx context.Context, endpoint string, certs [][]byte) error {
	c := b64List(certs)
	_, err := e.post(ctx, endpoint, "/gossip/merge_balances", gen.MergeRequest{Certificates: &c}, 4<<10)
	return err
}

// PullCertificates implements economy.Remote: GET /gossip/certificates.
func (e *Economy) PullCertificates(ctx context.Context, endpoint string, after int64, limit int) ([][]byte, int64, error) {
	client, err := gen.NewClient(strings.TrimRight(endpoint, "/"), gen.WithHTTPClient(e.doer))
	if err != nil {
		return nil, 0, fmt.Errorf("bad peer endpoint %q: %w", endpoint, err)
	}
	l := int32(limit)
	resp, err := client.GetCertificates(ctx, &gen.GetCertificatesParams{After: &after, Limit: &l})
	if err != nil {
		return nil, 0, fmt.Errorf("pull certificates from %s: %w", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxPageAnswer+1))
	if err != nil {
		return nil, 0, fmt.Errorf("pull certificates from %s: %w", endpoint, err)
	}
	if len(body) > maxPageAnswer {
		return nil, 0, fmt.Errorf("pull certificates from %s: answer over %d bytes", endpoint, maxPageAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("pull certificates from %s: status %d: %s", endpoint, resp.StatusCode, problemDetail(body))
	}
	var page gen.CertificatePage
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, 0, fmt.Errorf("pull certificates from %s: %w", endpoint, err)
	}
	out := make([][]byte, len(page.Certificates))
	for i, s := range page.Certificates {
		if out[i], err = base64.StdEncoding.DecodeString(s); err != nil {
			return nil, 0, fmt.Errorf("pull certificates from %s: %w", endpoint, err)
		}
	}
	return out, page.Next, nil
}
