package peerclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/identity"
)

// signedClient is a generated client for the peer at endpoint whose
// requests are signed with signer over a body of the given digest.
func signedClient(doer gen.HttpRequestDoer, signer *identity.RequestSigner, endpoint, digest string) (*gen.Client, error) {
	c, err := gen.NewClient(strings.TrimRight(endpoint, "/"), gen.WithHTTPClient(doer),
		gen.WithRequestEditorFn(signer.Editor(digest)))
	if err != nil {
		return nil, fmt.Errorf("bad peer endpoint %q: %w", endpoint, err)
	}
	return c, nil
}

// postSigned sends body as JSON, signed, to path at endpoint and returns
// the answer's status and body (at most limit bytes: a longer answer is an
// error). Callers decide what each status means.
func postSigned(ctx context.Context, doer gen.HttpRequestDoer, signer *identity.RequestSigner,
	endpoint, path string, body any, limit int64) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, fmt.Errorf("encode request: %w", err)
	}
	base := strings.TrimRight(endpoint, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, bytes.NewReader(b))
	if err != nil {
		return 0, nil, fmt.Errorf("bad peer endpoint %q: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := signer.Editor(identity.BodyDigest(b))(ctx, req); err != nil {
		return 0, nil, fmt.Errorf("sign request: %w", err)
	}
	resp, err := doer.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s%s: %w", base, path, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return 0, nil, fmt.Errorf("%s%s: %w", base, path, err)
	}
	if int64(len(answer)) > limit {
		return 0, nil, fmt.Errorf("%s%s: answer over %d bytes", base, path, limit)
	}
	return resp.StatusCode, answer, nil
}

// problemDetail returns a problem answer's detail, or its start.
func problemDetail(b []byte) string {
	var p struct {
		Detail string `json:"detail"`
	}
	if json.Unmarshal(b, &p) == nil && p.Detail != "" {
		return p.Detail
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}
