package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// runJobs makes tn sign n receipts (jobs named prefix-0, prefix-1, ...).
func runJobs(t *testing.T, tn *servertest.Node, prefix string, n int) {
	t.Helper()
	for i := range n {
		body := fmt.Appendf(nil, `{"job_id":"%s-%d","metrics":{"compute_tokens_m":%d}}`, prefix, i, i+1)
		if r := call(t, tn, "POST", "/run", body, true); r.StatusCode != http.StatusOK {
			t.Fatalf("POST /run on %s = %d: %s", tn.Info().Name, r.StatusCode, r.body)
		}
	}
}

type blockList struct {
	Count  int `json:"count"`
	Blocks []struct {
		Name     string   `json:"name"`
		Author   string   `json:"author"`
		Height   int64    `json:"height"`
		Parents  []string `json:"parents"`
		Receipts int      `json:"receipts"`
	} `json:"blocks"`
}

func listBlocks(t *testing.T, tn *servertest.Node) blockList {
	t.Helper()
	var l blockList
	decodeJSON(t, call(t, tn, "GET", "/ledger/blocks?limit=1000", nil, true), &l)
	return l
}

func seal(t *testing.T, tn *servertest.Node) string {
	t.Helper()
	var s struct {
		Sealed bool `json:"sealed"`
		Block  struct {
			Name string `json:"name"`
		} `json:"block"`
	}
	decodeJSON(t, call(t, tn, "POST", "/ledger/seal", nil, true), &s)
	if !s.Sealed {
		t.Fatalf("POST /ledger/seal on %s sealed nothing", tn.Info().Name)
	}
	return s.Block.Name
}

// TestBlocksConverge: three nodes in a line (a <- b <- c by static peers)
// each seal blocks of their own receipts; anti-entropy brings every block
// to every node, each block's parents included, and a block names the
// tips its author knew.
func TestBlocksConverge(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := servertest.NewCluster(t)
	opts := func(name string, static ...string) servertest.Options {
		return servertest.Options{Name: name, Cluster: c, StaticPeers: static, PeerPollInterval: 50 * time.Millisecond,
			LedgerSyncInterval: 100 * time.Millisecond}
	}
	a := servertest.Start(t, opts("a"))
	b := servertest.Start(t, opts("b", a.URL))
	cn := servertest.Start(t, opts("c", b.URL))
	nodes := []*servertest.Node{a, b, cn}
	for round := 1; round <= 2; round++ {
		for i, n := range nodes {
			if round == 2 && n == cn {
				// c seals its second block only once a's and b's second
				// blocks reached it: its first block may already name
				// their first ones, and then only their second ones are
				// tips it can name.
				waitUntil(t, "c to hold a's and b's second blocks", func() bool { return listBlocks(t, cn).Count == 3+i })
			}
			runJobs(t, n, fmt.Sprintf("r%d", round), 3)
			seal(t, n)
		}
		want := 3 * round
		for _, n := range nodes {
			waitUntil(t, fmt.Sprintf("%s to hold %d blocks", n.Info().Name, want), func() bool { return listBlocks(t, n).Count == want })
		}
	}
	// Same blocks everywhere; the second block of each author names its
	// first, and the receipts all arrived.
	names := map[string]bool{}
	for _, blk := range listBlocks(t, a).Blocks {
		names[blk.Name] = true
	}
	for _, n := range nodes[1:] {
		l := listBlocks(t, n)
		receipts := 0
		for _, blk := range l.Blocks {
			if !names[blk.Name] {
				t.Errorf("%s holds block %s that a lacks", n.Info().Name, blk.Name)
			}
			for _, p := range blk.Parents {
				if !names[p] {
					t.Errorf("%s: block %s names parent %s, which is not stored", n.Info().Name, blk.Name, p)
				}
			}
			if blk.Height == 2 && len(blk.Parents) == 0 {
				t.Errorf("block 2 of %s names no parent", blk.Author)
			}
			receipts += blk.Receipts
		}
		if receipts != 18 {
			t.Errorf("%s: %d receipts in its blocks, want 18", n.Info().Name, receipts)
		}
	}
	// c sealed its second block after it held the others' second blocks:
	// it names its own block 1 and at least one of them (a tip it knew).
	for _, blk := range listBlocks(t, cn).Blocks {
		if blk.Author == string(cn.Info().ID) && blk.Height == 2 && len(blk.Parents) < 2 {
			t.Errorf("c's block 2 names %d parents, want its own block 1 and the others' tips", len(blk.Parents))
		}
	}
}

// makeBlocks returns a chain of n blocks by k (one receipt each).
func makeBlocks(t *testing.T, k *identity.Keys, cluster string, n int) []ledger.Block {
	t.Helper()
	var out []ledger.Block
	var parents []ledger.BlockName
	for h := 1; h <= n; h++ {
		r, err := ledger.SignReceipt(k, ledger.Receipt{Version: ledger.ReceiptVersion, ClusterID: cluster, ResourceType: ledger.ResourceCompute,
			JobID: fmt.Sprintf("job-%d", h), Units: 1000, Seq: uint64(h), IssuedAt: 1})
		if err != nil {
			t.Fatal(err)
		}
		b, err := ledger.NewBlock(k, cluster, uint64(h), parents, []ledger.Receipt{r})
		if err != nil {
			t.Fatal(err)
		}
		out, parents = append(out, b), []ledger.BlockName{b.Name()}
	}
	return out
}

func blockJSON(t *testing.T, b ledger.Block) []byte {
	t.Helper()
	js, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestAppendBlockRefusesBadBlocks: forged, malformed, foreign-cluster,
// non-member and forked blocks are refused with a 4xx problem and change
// nothing; a good block is stored once.
func TestAppendBlockRefusesBadBlocks(t *testing.T) {
	testutil.CheckGoroutines(t)
	member, _ := identity.Generate(randReader())
	stranger, _ := identity.Generate(randReader())
	tn := servertest.Start(t, servertest.Options{Members: []identity.NodeID{member.ID()}, LedgerSyncInterval: -1})
	cluster, _, _ := tn.BlockHeads(t.Context())
	signer := identity.NewRequestSigner(member, 1)
	good := makeBlocks(t, member, cluster, 1)[0]

	forged := good
	forged.Receipts = append([]ledger.Receipt(nil), good.Receipts...)
	forged.Receipts[0].Units = 5_000_000
	fork := makeBlocks(t, member, cluster, 1)[0] // other job time? same content: make it differ
	fork.Receipts[0].JobID = "other"
	fork.Receipts[0], _ = ledger.SignReceipt(member, fork.Receipts[0])
	fork, _ = ledger.NewBlock(member, cluster, 1, nil, fork.Receipts)

	if r := signedCall(t, tn, signer, "POST", "/gossip/append_block", blockJSON(t, good), "application/json"); r.StatusCode != 200 || !strings.Contains(string(r.body), `"added"`) {
		t.Fatalf("append a good block = %d %s", r.StatusCode, r.body)
	}
	if r := signedCall(t, tn, signer, "POST", "/gossip/append_block", blockJSON(t, good), "application/json"); r.StatusCode != 200 || !strings.Contains(string(r.body), `"known"`) {
		t.Fatalf("append it again = %d %s, want known", r.StatusCode, r.body)
	}
	tests := []struct {
		name   string
		signer *identity.RequestSigner
		body   []byte
		want   int
	}{
		{"forged receipt", signer, blockJSON(t, forged), 400},
		{"malformed JSON", signer, []byte(`{"version":"0.1",`), 400},
		{"unknown field", signer, []byte(strings.Replace(string(blockJSON(t, good)), `{"version"`, `{"x":1,"version"`, 1)), 400},
		{"wrong cluster", signer, blockJSON(t, makeBlocks(t, member, "elsewhere", 1)[0]), 400},
		{"author not a member", signer, blockJSON(t, makeBlocks(t, stranger, cluster, 1)[0]), 400},
		{"fork at height 1", signer, blockJSON(t, fork), 409},
		{"signed by a stranger", identity.NewRequestSigner(stranger, 1), blockJSON(t, good), 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := signedCall(t, tn, tt.signer, "POST", "/gossip/append_block", tt.body, "application/json")
			checkProblem(t, tt.name, r, tt.want)
		})
	}
	checkProblem(t, "unsigned", call(t, tn, "POST", "/gossip/append_block", blockJSON(t, good), false), 401)
	if l := listBlocks(t, tn); l.Count != 1 {
		t.Fatalf("after refusals the node holds %d blocks, want 1", l.Count)
	}
	r := call(t, tn, "GET", "/gossip/block?name="+good.Name().String(), nil, true)
	if r.StatusCode != 200 {
		t.Fatalf("GET /gossip/block = %d", r.StatusCode)
	}
	if got, err := ledger.DecodeBlock(r.body); err != nil || got.Name() != good.Name() {
		t.Fatalf("GET /gossip/block answered another block (%v)", err)
	}
	checkProblem(t, "unknown block", call(t, tn, "GET", "/gossip/block?name="+strings.Repeat("0", 64), nil, true), 404)
	checkProblem(t, "bad block name", call(t, tn, "GET", "/gossip/block?name=XYZ", nil, true), 400)
}

// TestMergeIsAllOrNothing: a merge with one bad block stores none; a
// closed set in any order is stored; a set missing an ancestor is refused.
func TestMergeIsAllOrNothing(t *testing.T) {
	testutil.CheckGoroutines(t)
	member, _ := identity.Generate(randReader())
	tn := servertest.Start(t, servertest.Options{Members: []identity.NodeID{member.ID()}, LedgerSyncInterval: -1})
	cluster, _, _ := tn.BlockHeads(t.Context())
	chain := makeBlocks(t, member, cluster, 4)
	merge := func(bs ...ledger.Block) response {
		raw := make([]json.RawMessage, len(bs))
		for i, b := range bs {
			raw[i] = blockJSON(t, b)
		}
		body, _ := json.Marshal(map[string]any{"blocks": raw})
		return call(t, tn, "POST", "/ledger/merge", body, true)
	}
	bad := chain[2]
	bad.Signature = chain[1].Signature
	checkProblem(t, "merge with a forged block", merge(chain[0], chain[1], bad, chain[3]), 400)
	checkProblem(t, "merge without the first block", merge(chain[1], chain[2], chain[3]), 400)
	if l := listBlocks(t, tn); l.Count != 0 {
		t.Fatalf("refused merges stored %d blocks", l.Count)
	}
	var got struct{ Added, Offered int }
	decodeJSON(t, merge(chain[3], chain[1], chain[0], chain[2]), &got)
	if got.Added != 4 || got.Offered != 4 {
		t.Fatalf("merge of a closed set = %+v, want 4 added", got)
	}
	decodeJSON(t, merge(chain...), &got)
	if got.Added != 0 {
		t.Fatalf("merging again added %d", got.Added)
	}
	checkProblem(t, "merge with neither blocks nor source", call(t, tn, "POST", "/ledger/merge", []byte(`{}`), true), 400)
	checkProblem(t, "merge unauthenticated", call(t, tn, "POST", "/ledger/merge", []byte(`{"blocks":[]}`), false), 401)
}

// TestHeldBlockParentsAreFetched: a block pushed before its parent is held,
// and its parent is fetched from the node that pushed it (anti-entropy is
// off, so nothing else could bring it).
func TestHeldBlockParentsAreFetched(t *testing.T) {
	testutil.CheckGoroutines(t)
	c := servertest.NewCluster(t)
	a := servertest.Start(t, servertest.Options{Name: "a", Cluster: c, LedgerSyncInterval: -1})
	b := servertest.Start(t, servertest.Options{Name: "b", Cluster: c, StaticPeers: []string{a.URL},
		PeerPollInterval: 50 * time.Millisecond, LedgerSyncInterval: -1})
	waitUntil(t, "b to see a up", func() bool {
		ps, _ := b.Peers(t.Context())
		return len(ps) == 1 && ps[0].State == "up" && ps[0].ID == a.Info().ID
	})
	for i := range 3 {
		runJobs(t, a, fmt.Sprint("j", i), 1)
		seal(t, a)
	}
	l := listBlocks(t, a)
	if l.Count != 3 {
		t.Fatalf("a holds %d blocks, want 3", l.Count)
	}
	top, err := a.Block(t.Context(), l.Blocks[0].Name)
	if err != nil || top.Height != 3 {
		t.Fatalf("a's newest block: %v (height %d)", err, top.Height)
	}
	r := signedCall(t, b, identity.NewRequestSigner(a.Keys, 99), "POST", "/gossip/append_block", blockJSON(t, top), "application/json")
	if r.StatusCode != 200 {
		t.Fatalf("push block 3 to b = %d %s", r.StatusCode, r.body)
	}
	waitUntil(t, "b to fetch blocks 1 and 2 and store 3", func() bool { return listBlocks(t, b).Count == 3 })
}

// TestOutboxCarrierDelivers: a and c never reach each other (each drops
// the other's signed requests); b reaches both. An item a queues for c is
// carried by b and handled by c once; a second copy is a duplicate and
// changes nothing; a's own copy, which it cannot deliver, expires.
func TestOutboxCarrierDelivers(t *testing.T) {
	testutil.CheckGoroutines(t)
	var aID, cID atomic.Value
	partition := func(other *atomic.Value) func(http.Handler) http.Handler {
		return func(h http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sig, err := identity.ParseRequestSignature(r.Header.Get(identity.RequestSignatureHeader))
				if id, _ := other.Load().(identity.NodeID); err == nil && sig.ID == id {
					// The link is down: the connection drops, no answer.
					if hj, ok := w.(http.Hijacker); ok {
						if conn, _, err := hj.Hijack(); err == nil {
							conn.Close()
							return
						}
					}
					w.WriteHeader(http.StatusServiceUnavailable)
					return
				}
				h.ServeHTTP(w, r)
			})
		}
	}
	c := servertest.NewCluster(t)
	fast := func(name string, other *atomic.Value, static ...string) servertest.Options {
		return servertest.Options{Name: name, Cluster: c, StaticPeers: static, PeerPollInterval: 50 * time.Millisecond,
			LedgerSyncInterval: -1, LedgerFlushInterval: 100 * time.Millisecond, Wrap: partition(other)}
	}
	var none atomic.Value
	// b's address is chosen first so that a and c can name it: b is the
	// only node either of them knows.
	bAddr := freeAddr(t)
	a := servertest.Start(t, fast("a", &cID, "http://"+bAddr))
	cn := servertest.Start(t, fast("c", &aID, "http://"+bAddr))
	aID.Store(a.Info().ID)
	cID.Store(cn.Info().ID)
	bo := fast("b", &none, a.URL, cn.URL)
	bo.Addr = bAddr
	b := servertest.Start(t, bo)
	for _, n := range []*servertest.Node{a, b, cn} {
		want := map[string]int{"a": 1, "b": 2, "c": 1}[n.Info().Name]
		waitUntil(t, n.Info().Name+" to see its peers up", func() bool { return upPeers(t, n) == want })
	}
	cluster, _, err := a.BlockHeads(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	blk := makeBlocks(t, a.Keys, cluster, 1)[0]
	if _, err := a.MergeBlocks(t.Context(), []ledger.Block{blk}); err != nil {
		t.Fatal(err)
	}
	if err := a.SendLater(t.Context(), cn.Info().ID, "block", blockJSON(t, blk), 5*time.Second); err != nil {
		t.Fatalf("SendLater = %v", err)
	}
	waitUntil(t, "c to hold a's block, carried by b", func() bool { return listBlocks(t, cn).Count == 1 })
	if _, err := cn.Block(t.Context(), blk.Name().String()); err != nil {
		t.Fatalf("c holds another block: %v", err)
	}
	waitUntil(t, "b's outbox to empty after delivering", func() bool {
		items, _ := b.Outbox(t.Context(), 10)
		return len(items) == 0
	})
	if items, _ := a.Outbox(t.Context(), 10); len(items) != 1 || items[0].Carriers < 1 {
		t.Fatalf("a's outbox = %+v, want its own copy, handed to b", items)
	}
	// A second copy from b (as if another carrier brought it) is a duplicate.
	var out struct{ Outcome string }
	body, _ := json.Marshal(map[string]any{"dest": cn.Info().ID, "kind": "block", "payload": blockJSON(t, blk), "ttl_seconds": 60})
	decodeJSON(t, signedCall(t, cn, identity.NewRequestSigner(b.Keys, 777), "POST", "/gossip/forward", body, "application/json"), &out)
	if out.Outcome != "duplicate" {
		t.Fatalf("a second copy at c: outcome %q, want duplicate", out.Outcome)
	}
	// a never reaches c: its own copy waits out its lifetime, then goes.
	waitUntil(t, "a's copy to expire", func() bool {
		items, _ := a.Outbox(t.Context(), 10)
		return len(items) == 0
	})
	if l := listBlocks(t, cn); l.Count != 1 {
		t.Fatalf("c holds %d blocks after the duplicate, want 1", l.Count)
	}
	checkProblem(t, "forward of an unknown kind to c", signedCall(t, cn, identity.NewRequestSigner(b.Keys, 778), "POST", "/gossip/forward",
		[]byte(fmt.Sprintf(`{"dest":%q,"kind":"nonsense","payload":"eA==","ttl_seconds":5}`, cn.Info().ID)), "application/json"), 400)
	checkProblem(t, "forward with a bad lifetime", signedCall(t, cn, identity.NewRequestSigner(b.Keys, 779), "POST", "/gossip/forward",
		[]byte(fmt.Sprintf(`{"dest":%q,"kind":"block","payload":"eA==","ttl_seconds":0}`, cn.Info().ID)), "application/json"), 400)
}

func upPeers(t *testing.T, n *servertest.Node) int {
	t.Helper()
	ps, _ := n.Peers(t.Context())
	up := 0
	for _, p := range ps {
		if p.State == "up" && p.ID != "" {
			up++
		}
	}
	return up
}
