package server_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// signedCall sends a request signed by signer and returns the answer.
func signedCall(t *testing.T, tn *servertest.Node, signer *identity.RequestSigner, method, path string, body []byte, ctype string) response {
	t.Helper()
	req := newRequest(t, tn, method, path, body, false)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if err := signer.Sign(req, identity.BodyDigest(body)); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return do(t, tn, req)
}

// waitUntil polls cond for up to 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestClusterAdmission: a stranger's signed /run, /store and /shards are
// refused with 403 and leave nothing stored or signed; once admitted the
// same key is served; revoked on one node, it is refused again by the
// other once the new document has spread there.
func TestClusterAdmission(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := servertest.NewCluster(t)
	a := servertest.Start(t, servertest.Options{Name: "a", Cluster: c})
	b := servertest.Start(t, servertest.Options{Name: "b", Cluster: c, StaticPeers: []string{a.URL},
		PeerPollInterval: 50 * time.Millisecond, TrustPollInterval: 50 * time.Millisecond})
	stranger, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	signer := identity.NewRequestSigner(stranger, 1)
	shard := []byte("a shard from a stranger")
	store, _ := json.Marshal(map[string]any{"asset_id": "s1", "index": 0, "data_b64": base64.StdEncoding.EncodeToString(shard)})
	requests := []struct {
		name, method, path, ctype string
		body                      []byte
		want                      int
	}{
		{"run", "POST", "/run", "application/json", []byte(`{"job_id":"stranger-job","metrics":{"compute_tokens_m":999999}}`), 200},
		{"store", "POST", "/store", "application/json", store, 201},
		{"put shard", "PUT", "/shards/s2/0", "application/octet-stream", shard, 201},
		{"get shard", "GET", "/shards/s2/0", "", nil, 200},
	}
	try := func(phase string, want func(ok int) int) {
		t.Helper()
		for i, r := range requests {
			path := r.path
			// Each phase stores under its own asset, so a refusal is not
			// hidden by what an earlier phase stored.
			if r.name == "put shard" || r.name == "get shard" {
				path = fmt.Sprintf("/shards/%s-%s/0", phase, "s2")
			}
			got := signedCall(t, b, signer, r.method, path, r.body, r.ctype)
			if w := want(r.want); got.StatusCode != w {
				t.Errorf("%s: %s %s = %d, want %d (body %s)", phase, r.method, path, got.StatusCode, w, got.body)
			}
			if got.StatusCode == http.StatusForbidden {
				checkProblem(t, phase+" "+requests[i].name, got, http.StatusForbidden)
			}
		}
	}

	before := snapshot(t, b)
	try("stranger", func(int) int { return http.StatusForbidden })
	if diff := cmp.Diff(before, snapshot(t, b)); diff != "" {
		t.Errorf("refused requests changed the node (-before +after):\n%s", diff)
	}

	c.Admit(t, stranger.ID())
	try("admitted", func(ok int) int { return ok })

	c.Revoke(t, stranger.ID(), a) // installed on a only; b must fetch it
	waitUntil(t, "the revocation to reach b", func() bool { return !b.IsMember(stranger.ID()) })
	d, _ := b.Cluster()
	if !d.IsRevoked(stranger.ID()) {
		t.Errorf("b's document does not list the stranger as revoked")
	}
	try("revoked", func(int) int { return http.StatusForbidden })
}

// TestAloneNodeServesNoSignedRequest: a node with no cluster document
// refuses every node signature, even a valid one.
func TestAloneNodeServesNoSignedRequest(t *testing.T) {
	testutil.CheckGoroutines(t)
	tn := servertest.Start(t, servertest.Options{Alone: true})
	k, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	r := signedCall(t, tn, identity.NewRequestSigner(k, 1), "POST", "/run", []byte(`{"job_id":"j"}`), "application/json")
	checkProblem(t, "signed /run on a node running alone", r, http.StatusForbidden)
	r = call(t, tn, "GET", "/cluster", nil, false)
	var st struct{ Alone bool }
	decodeJSON(t, r, &st)
	if !st.Alone {
		t.Errorf("GET /cluster = %s, want alone", r.body)
	}
}

// TestClusterThreshold: with two admins and threshold 2, one admin's
// change is only a proposal (202) that changes nobody's membership; the
// other admin's signature installs it, and it spreads back to the first.
func TestClusterThreshold(t *testing.T) {
	testutil.CheckGoroutines(t)
	b := servertest.Start(t, servertest.Options{Name: "b", Alone: true})
	a := servertest.Start(t, servertest.Options{Name: "a", Alone: true, StaticPeers: []string{b.URL},
		PeerPollInterval: 50 * time.Millisecond, TrustPollInterval: 50 * time.Millisecond})
	post := func(tn *servertest.Node, path string, body any) response {
		t.Helper()
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		return call(t, tn, "POST", path, b, true)
	}
	var proposed struct {
		Serial   int64
		Missing  int
		Document string
	}
	propose := func(tn *servertest.Node, path string, body any) {
		t.Helper()
		r := post(tn, path, body)
		if r.StatusCode != http.StatusAccepted {
			t.Fatalf("POST %s by one of two admins = %d %s, want 202", path, r.StatusCode, r.body)
		}
		decodeJSON(t, r, &proposed)
		if proposed.Missing != 1 {
			t.Errorf("proposal of %s: missing = %d, want 1", path, proposed.Missing)
		}
	}
	cosign := func() {
		t.Helper()
		if r := post(b, "/cluster/sign", map[string]string{"document": proposed.Document}); r.StatusCode != http.StatusOK {
			t.Fatalf("b co-signs = %d %s, want 200", r.StatusCode, r.body)
		}
	}
	spreads := func(what string, serial int64) {
		t.Helper()
		waitUntil(t, what+" to reach a", func() bool {
			d, ok := a.Cluster()
			return ok && int64(d.Serial) == serial
		})
	}

	propose(a, "/cluster", map[string]any{"admins": []string{string(a.Keys.ID()), string(b.Keys.ID())}, "threshold": 2})
	if _, ok := a.Cluster(); ok {
		t.Fatal("a installed a cluster signed by one of its two admins")
	}
	cosign()
	if !b.IsMember(a.Keys.ID()) {
		t.Fatal("after b signed, b does not count a (the founder) as a member")
	}
	spreads("the new cluster", 1)

	newcomer, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	propose(a, "/cluster/admit", map[string]string{"node_id": string(newcomer.ID()), "name": "newcomer"})
	if a.IsMember(newcomer.ID()) || b.IsMember(newcomer.ID()) {
		t.Fatal("a proposal short of the threshold admitted the node")
	}
	// Installing the proposal by hand is refused: one admin is not enough.
	if r := post(b, "/cluster/join", map[string]string{"document": proposed.Document}); r.StatusCode != http.StatusBadRequest {
		t.Errorf("join with a proposal short of the threshold = %d %s, want 400", r.StatusCode, r.body)
	}
	cosign()
	if !b.IsMember(newcomer.ID()) {
		t.Fatal("b did not install the completed admission")
	}
	spreads("the admission", 2)
	if !a.IsMember(newcomer.ID()) {
		t.Error("a does not count the admitted node as a member")
	}
}

// TestRevokedPeerIsPruned: a peer revoked from the cluster leaves the
// peer table (a static one keeps its row without an identity, down), its
// polls do not bring it back, and it is not offered for admission again
// (a revoked key stays out).
func TestRevokedPeerIsPruned(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := servertest.NewCluster(t)
	a := servertest.Start(t, servertest.Options{Name: "a", Cluster: c})
	b := servertest.Start(t, servertest.Options{Name: "b", Cluster: c, StaticPeers: []string{a.URL},
		PeerPollInterval: 50 * time.Millisecond})
	peerOf := func() (id identity.NodeID, state string) {
		ps, err := b.Peers(t.Context())
		if err != nil || len(ps) != 1 {
			t.Fatalf("b's peers = %v, %v; want one row", ps, err)
		}
		return ps[0].ID, string(ps[0].State)
	}
	waitUntil(t, "b to see a up", func() bool { id, st := peerOf(); return id == a.Keys.ID() && st == "up" })
	c.Revoke(t, a.Keys.ID(), b)
	waitUntil(t, "a's row on b to lose its identity", func() bool { id, st := peerOf(); return id == "" && st == "down" })
	time.Sleep(200 * time.Millisecond) // a few more polls of a
	if id, st := peerOf(); id != "" || st != "down" {
		t.Errorf("b's row for the revoked a after more polls = %q %s, want no identity, down", id, st)
	}
	if p := b.PendingNodes(); len(p) != 0 {
		t.Errorf("b lists %v as pending, want the revoked node left out", p)
	}
}
