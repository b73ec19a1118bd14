package server_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// signedPut is a signed PUT /shards request as it went over the wire, so a
// test can send it again, to any address, as an eavesdropper would.
type signedPut struct {
	path, host string
	header     http.Header
	body       []byte
}

// newSignedPut signs a shard upload of body to path for tn.
func newSignedPut(t testing.TB, tn *servertest.Node, signer *identity.RequestSigner, path string, body []byte) signedPut {
	t.Helper()
	req := newRequest(t, tn, http.MethodPut, path, body, false)
	if err := signer.Sign(req, identity.BodyDigest(body)); err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return signedPut{path: path, host: req.URL.Host, header: req.Header, body: body}
}

// sendTo sends p to the node at base (a URL) with p's Host header.
func (p signedPut) sendTo(t testing.TB, tn *servertest.Node, base string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut, base+p.path, bytes.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = p.header.Clone()
	req.Host = p.host
	return do(t, tn, req)
}

// TestReplayToAnotherNode: a request signed for node A, replayed to node B
// (with A's Host, which the signature covers, or with B's), is refused
// with 401, and B stores nothing.
func TestReplayToAnotherNode(t *testing.T) {
	testutil.CheckGoroutines(t)
	peer, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	c := servertest.NewCluster(t)
	members := []identity.NodeID{peer.ID()}
	a := servertest.Start(t, servertest.Options{Name: "a", Cluster: c, Members: members})
	b := servertest.Start(t, servertest.Options{Name: "b", Cluster: c, Members: members})
	signer := identity.NewRequestSigner(peer, 1)
	p := newSignedPut(t, a, signer, "/shards/for-a/0", []byte("a shard meant for node a"))
	if r := p.sendTo(t, a, a.URL); r.StatusCode != http.StatusCreated {
		t.Fatalf("signed PUT to A = %d %s, want 201", r.StatusCode, r.body)
	}

	r := p.sendTo(t, b, b.URL)
	checkProblem(t, "replay to B with A's Host", r, http.StatusUnauthorized)
	if !strings.Contains(string(r.body), "not this node") {
		t.Errorf("replay to B answered %s, want it to say the signature names another node", r.body)
	}
	p.host = strings.TrimPrefix(b.URL, "http://")
	checkProblem(t, "replay to B with B's Host", p.sendTo(t, b, b.URL), http.StatusUnauthorized)
	if g := call(t, b, "GET", "/shards/for-a/0", nil, true); g.StatusCode != http.StatusNotFound {
		t.Errorf("B after the replays: GET /shards/for-a/0 = %d, want 404", g.StatusCode)
	}

	// The same sender's next request for B itself is accepted.
	if r := newSignedPut(t, b, signer, "/shards/for-b/0", []byte("b's own")).sendTo(t, b, b.URL); r.StatusCode != http.StatusCreated {
		t.Errorf("signed PUT made for B = %d %s, want 201", r.StatusCode, r.body)
	}
}

// TestReplayAfterRestart: a request accepted before the receiver restarts
// (same data directory, keys and address) is refused after it; the
// sender's next request, and a request of its next epoch, are accepted.
func TestReplayAfterRestart(t *testing.T) {
	testutil.CheckGoroutines(t)
	keys, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	opts := servertest.Options{Dir: t.TempDir(), Keys: keys, Addr: freeAddr(t),
		Cluster: servertest.NewCluster(t), Members: []identity.NodeID{peer.ID()}}
	signer := identity.NewRequestSigner(peer, 3)

	var first signedPut
	t.Run("before restart", func(t *testing.T) {
		tn := servertest.Start(t, opts)
		first = newSignedPut(t, tn, signer, "/shards/restart/0", []byte("stored before the restart"))
		if r := first.sendTo(t, tn, tn.URL); r.StatusCode != http.StatusCreated {
			t.Fatalf("signed PUT = %d %s, want 201", r.StatusCode, r.body)
		}
		checkProblem(t, "replay before restart", first.sendTo(t, tn, tn.URL), http.StatusUnauthorized)
	})

	tn := servertest.Start(t, opts)
	if tn.Info().ID != keys.ID() || tn.URL != "http://"+opts.Addr {
		t.Fatalf("restarted node is %s at %s, want %s at %s", tn.Info().ID, tn.URL, keys.ID(), opts.Addr)
	}
	r := first.sendTo(t, tn, tn.URL)
	checkProblem(t, "replay after restart", r, http.StatusUnauthorized)
	if !strings.Contains(string(r.body), identity.ErrReplay.Error()) {
		t.Errorf("replay after restart answered %s, want it called a replay", r.body)
	}
	if r := newSignedPut(t, tn, signer, "/shards/restart/1", []byte("next seq")).sendTo(t, tn, tn.URL); r.StatusCode != http.StatusCreated {
		t.Errorf("the sender's next request = %d %s, want 201", r.StatusCode, r.body)
	}
	next := identity.NewRequestSigner(peer, 4)
	if r := newSignedPut(t, tn, next, "/shards/restart/2", []byte("next epoch")).sendTo(t, tn, tn.URL); r.StatusCode != http.StatusCreated {
		t.Errorf("a request of the sender's next epoch = %d %s, want 201", r.StatusCode, r.body)
	}
}

// TestReplayAfterStrangers: after 10,000 signed requests from fresh keys,
// the first sender's replay is still refused. The guard never forgets a
// sender: once it holds ReplaySenders of them, every new one is refused
// with 403, for good.
func TestReplayAfterStrangers(t *testing.T) {
	testutil.CheckGoroutines(t)
	const strangers, workers = 10000, 4
	victim, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	tn := servertest.Start(t, servertest.Options{Members: []identity.NodeID{victim.ID()}})
	signer := identity.NewRequestSigner(victim, 1)
	p := newSignedPut(t, tn, signer, "/shards/victim/0", []byte("the victim's shard"))
	if r := p.sendTo(t, tn, tn.URL); r.StatusCode != http.StatusCreated {
		t.Fatalf("victim's PUT = %d %s, want 201", r.StatusCode, r.body)
	}

	// Each stranger makes a fresh key and reads a shard that is not there:
	// 404 when the guard let it in, 403 when it was refused.
	var (
		mu                sync.Mutex
		accepted, refused int
		bad               []string
		refusal           string
	)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				k, err := identity.Generate(randReader())
				if err != nil {
					t.Error(err)
					return
				}
				// A request sent after a refusal was seen must not get in:
				// a full guard never makes room. (Answers of requests in
				// flight at the same time may arrive in any order.)
				mu.Lock()
				afterRefusal := refused > 0
				mu.Unlock()
				req := newRequest(t, tn, http.MethodGet, "/shards/nothing/0", nil, false)
				if err := identity.NewRequestSigner(k, 1).Sign(req, identity.BodyDigest(nil)); err != nil {
					t.Error(err)
					return
				}
				r := do(t, tn, req)
				mu.Lock()
				switch {
				case r.StatusCode == http.StatusNotFound:
					accepted++
				case r.StatusCode == http.StatusForbidden:
					refused++
					refusal = string(r.body)
				default:
					bad = append(bad, string(r.body))
				}
				if r.StatusCode == http.StatusNotFound && afterRefusal {
					bad = append(bad, fmt.Sprintf("stranger %d accepted after a refusal: the guard made room", i))
				}
				mu.Unlock()
			}
		})
	}
	for i := range strangers {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d strangers got neither 404 nor 403, e.g. %.300s", len(bad), bad[0])
	}
	// The default bound, 1024 senders, leaves room for the victim and 1023
	// strangers. (Where strangers are refused earlier, as non-members of a
	// cluster, fewer get in.)
	if accepted > 1023 || accepted+refused != strangers {
		t.Errorf("strangers: %d accepted, %d refused; want at most 1023 accepted and the rest refused", accepted, refused)
	}
	if accepted == 1023 && !strings.Contains(refusal, "too many senders") {
		t.Errorf("a stranger refused by the full guard got %s, want it told the node has no room for new senders", refusal)
	}
	checkProblem(t, "victim's replay after 10,000 strangers", p.sendTo(t, tn, tn.URL), http.StatusUnauthorized)
	if r := newSignedPut(t, tn, signer, "/shards/victim/1", []byte("victim again")).sendTo(t, tn, tn.URL); r.StatusCode != http.StatusCreated {
		t.Errorf("victim's next request = %d %s, want 201: a known sender keeps its place", r.StatusCode, r.body)
	}
	t.Logf("10,000 strangers: %d accepted, %d refused", accepted, refused)
}

// freeAddr returns a loopback address with a port that was free a moment
// ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
