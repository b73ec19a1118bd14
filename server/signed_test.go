package server_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// TestSignedNodeRequests has a second node's key sign POST /run and PUT
// /shards over loopback: a fresh signature is accepted; the same header
// again, a body other than the signed one, and a signature made for
// another host are refused with 401.
func TestSignedNodeRequests(t *testing.T) {
	testutil.CheckGoroutines(t)
	peer, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	tn := servertest.Start(t, servertest.Options{Members: []identity.NodeID{peer.ID()}})
	signer := identity.NewRequestSigner(peer, 7)

	ops := []struct {
		name, method, path string
		body, other        []byte
		ctype              string
		want               int
	}{
		{"run", "POST", "/run", []byte(`{"job_id":"signed-job","metrics":{"compute_tokens_m":2}}`), []byte(`{"job_id":"signed-job","metrics":{"compute_tokens_m":2000}}`), "application/json", http.StatusOK},
		{"put shard", "PUT", "/shards/signed/0", []byte("shard bytes from a peer"), []byte("shard bytes from a thief"), "application/octet-stream", http.StatusCreated},
	}
	for _, op := range ops {
		t.Run(op.name, func(t *testing.T) {
			// build makes a request with body whose signature covers
			// signedBody, as host signedHost when not empty.
			build := func(body, signedBody []byte, signedHost string) *http.Request {
				req := newRequest(t, tn, op.method, op.path, body, false)
				req.Header.Set("Content-Type", op.ctype)
				req.Host = signedHost
				if err := signer.Sign(req, identity.BodyDigest(signedBody)); err != nil {
					t.Fatalf("Sign: %v", err)
				}
				req.Host = ""
				return req
			}
			send := func(req *http.Request) response {
				// Resend the same bytes: the body reader is spent after one send.
				if req.GetBody != nil {
					body, _ := req.GetBody()
					req.Body = body
				}
				return do(t, tn, req)
			}

			req := build(op.body, op.body, "")
			if r := send(req); r.StatusCode != op.want {
				t.Fatalf("signed %s %s = %d, want %d: %s", op.method, op.path, r.StatusCode, op.want, r.body)
			}
			checkProblem(t, "replayed "+op.name, send(req.Clone(t.Context())), http.StatusUnauthorized)
			checkProblem(t, "tampered "+op.name, send(build(op.other, op.body, "")), http.StatusUnauthorized)
			checkProblem(t, op.name+" signed for another host", send(build(op.body, op.body, "other.example:8081")), http.StatusUnauthorized)
		})
	}

	// The shard the tampered upload targeted still holds the signed bytes.
	g := call(t, tn, "GET", "/shards/signed/0", nil, true)
	if g.StatusCode != http.StatusOK || !bytes.Equal(g.body, []byte("shard bytes from a peer")) {
		t.Errorf("GET /shards/signed/0 = %d %q, want 200 with the signed bytes", g.StatusCode, g.body)
	}
	// And the tampered run signed no receipt: one receipt in all.
	r := call(t, tn, "GET", "/receipts/export", nil, false)
	var batch struct {
		Size int `json:"size"`
	}
	decodeJSON(t, r, &batch)
	if batch.Size != 1 {
		t.Errorf("receipts after one accepted and three refused runs: %d, want 1", batch.Size)
	}
}
