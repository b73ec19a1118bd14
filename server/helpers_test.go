package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/zeebo/blake3"

	"github.com/offgrid-net/offgrid/server/servertest"
)

// response is a finished HTTP exchange.
type response struct {
	*http.Response
	body []byte
}

// newRequest builds a request to tn; auth adds the admin token.
func newRequest(t testing.TB, tn *servertest.Node, method, path string, body []byte, auth bool) *http.Request {
	t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, tn.URL+path, r)
	if err != nil {
		t.Fatalf("http.NewRequest(%s %s): %v", method, path, err)
	}
	if body != nil && (method == http.MethodPost) {
		req.Header.Set("Content-Type", "application/json")
	}
	if body != nil && method == http.MethodPut {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	if auth {
		servertest.Authorize(req)
	}
	return req
}

// do sends req with tn's client and reads the whole response.
func do(t testing.TB, tn *servertest.Node, req *http.Request) response {
	t.Helper()
	resp, err := tn.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return response{resp, body}
}

// call is newRequest + do.
func call(t testing.TB, tn *servertest.Node, method, path string, body []byte, auth bool) response {
	t.Helper()
	return do(t, tn, newRequest(t, tn, method, path, body, auth))
}

// problem is the RFC 9457 body of an error response.
type problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance"`
}

// checkProblem checks that r is a problem response with status want.
func checkProblem(t testing.TB, what string, r response, want int) {
	t.Helper()
	if r.StatusCode != want {
		t.Errorf("%s: status = %d, want %d (body %s)", what, r.StatusCode, want, r.body)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("%s: Content-Type = %q, want application/problem+json", what, ct)
		return
	}
	var p problem
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Errorf("%s: problem body %q: %v", what, r.body, err)
		return
	}
	if p.Status != want || p.Title == "" || p.Type == "" {
		t.Errorf("%s: problem = %+v, want status %d with a type and title", what, p, want)
	}
}

// mustJSON marshals v.
func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	return b
}

// hashOf is the hex BLAKE3-256 of b, the shard hash.
func hashOf(b []byte) string {
	h := blake3.Sum256(b)
	return hex.EncodeToString(h[:])
}

// blobFiles lists the files under the node's shard directory (blobs, tmp,
// quarantine), relative to it.
func blobFiles(t testing.TB, tn *servertest.Node) []string {
	t.Helper()
	root := filepath.Join(tn.Dir, "shards")
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	slices.Sort(out)
	return out
}

// randReader is the key source for test identities.
func randReader() io.Reader { return rand.Reader }

// decodeJSON decodes r's body into v.
func decodeJSON(t testing.TB, r response, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}
