package ledgersync

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/ledger"
)

// memMesh routes the Remote calls of in-process services to each other,
// encoding every answer and pushed block as JSON, as the HTTP API does,
// and counting those bytes.
type memMesh struct {
	nodes []*Service
	bytes atomic.Int64
}

type memRemote struct{ m *memMesh }

func (r memRemote) node(ep string) (*Service, error) {
	var i int
	if _, err := fmt.Sscanf(ep, "mem://%d", &i); err != nil || i < 0 || i >= len(r.m.nodes) {
		return nil, fmt.Errorf("no node %s", ep)
	}
	return r.m.nodes[i], nil
}

func (r memRemote) send(v any) ([]byte, error) {
	js, err := json.Marshal(v)
	r.m.bytes.Add(int64(len(js)))
	return js, err
}

func (r memRemote) Heads(ctx context.Context, ep string) (Heads, error) {
	s, err := r.node(ep)
	if err != nil {
		return Heads{}, err
	}
	hs, err := s.deps.Blocks.Heads(ctx)
	if err != nil {
		return Heads{}, err
	}
	type head struct {
		Author string `json:"author"`
		Height uint64 `json:"height"`
		Name   string `json:"name"`
	}
	wire := make([]head, len(hs))
	for i, h := range hs {
		wire[i] = head{string(h.Author), h.Height, h.Name.String()}
	}
	if _, err := r.send(map[string]any{"cluster_id": s.deps.ClusterID(), "heads": wire, "blocks": []any{}}); err != nil {
		return Heads{}, err
	}
	return Heads{ClusterID: s.deps.ClusterID(), Heads: hs}, nil
}

func (r memRemote) Blocks(ctx context.Context, ep string, author identity.NodeID, after uint64, limit int) ([]ledger.Block, error) {
	s, err := r.node(ep)
	if err != nil {
		return nil, err
	}
	bs, err := s.deps.Blocks.ByAuthor(ctx, author, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]ledger.Block, len(bs))
	for i, b := range bs {
		js, err := r.send(b)
		if err != nil {
			return nil, err
		}
		if out[i], err = ledger.DecodeBlock(js); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (r memRemote) Block(ctx context.Context, ep string, name ledger.BlockName) (ledger.Block, error) {
	s, err := r.node(ep)
	if err != nil {
		return ledger.Block{}, err
	}
	b, err := s.deps.Blocks.Get(ctx, name)
	if err != nil {
		return ledger.Block{}, err
	}
	js, err := r.send(b)
	if err != nil {
		return ledger.Block{}, err
	}
	return ledger.DecodeBlock(js)
}

func (r memRemote) AppendBlock(ctx context.Context, ep string, b ledger.Block) error {
	s, err := r.node(ep)
	if err != nil {
		return err
	}
	js, err := r.send(b)
	if err != nil {
		return err
	}
	d, err := ledger.DecodeBlock(js)
	if err != nil {
		return err
	}
	if _, err := s.Offer(ctx, d, ""); err != nil && !errors.Is(err, ledger.ErrMissingParents) {
		return err
	}
	return nil
}

func (r memRemote) Forward(ctx context.Context, ep string, it Item) (Outcome, error) {
	return "", errors.New("not used by the benchmark")
}

// newMeshNode returns a service over a fresh SQLite file, its receipts
// store and keys.
func newMeshNode(tb testing.TB, m *memMesh, i int) (*Service, *ledger.Store, *identity.Keys) {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlitedb.Open(ctx, filepath.Join(tb.TempDir(), "offgrid.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	receipts, err := ledger.OpenStore(ctx, db)
	if err != nil {
		tb.Fatal(err)
	}
	blocks, err := ledger.OpenBlockStore(ctx, db)
	if err != nil {
		tb.Fatal(err)
	}
	keys, err := identity.Generate(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	self := fmt.Sprintf("mem://%d", i)
	s, err := New(ctx, Config{SyncInterval: -1, SealInterval: -1}, Deps{
		DB: db, Blocks: blocks, Keys: keys, ClusterID: func() string { return "bench" },
		AuthorOK: func(identity.NodeID) bool { return true },
		Peers: func(context.Context) []Peer {
			var out []Peer
			for j := range m.nodes {
				if ep := fmt.Sprintf("mem://%d", j); ep != self {
					out = append(out, Peer{ID: m.nodes[j].deps.Keys.ID(), Endpoint: ep})
				}
			}
			return out
		},
		Remote: memRemote{m},
		Logger: slog.New(slog.DiscardHandler),
		Now:    time.Now,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return s, receipts, keys
}

// BenchmarkConverge20x1000: 20 nodes, each with 50 new blocks of its own
// (1,000 in all, one receipt each), run anti-entropy rounds (each node
// syncing with 3 peers per round, all nodes at once) until every node
// holds all 1,000. It reports the time to converge, the rounds, and the
// bytes sent against the least any scheme must send: every block once to
// each of the 19 nodes that lack it.
func BenchmarkConverge20x1000(b *testing.B) {
	const nodes, perNode = 20, 50
	for range b.N {
		b.StopTimer()
		m := &memMesh{}
		ctx := context.Background()
		var total int64
		for i := range nodes {
			s, receipts, keys := newMeshNode(b, m, i)
			m.nodes = append(m.nodes, s)
			for h := range perNode {
				r := ledger.Receipt{Version: ledger.ReceiptVersion, ClusterID: "bench", ResourceType: ledger.ResourceCompute,
					JobID: fmt.Sprintf("job-%d-%d", i, h), Units: 1000, IssuedAt: int64(h)}
				if _, err := receipts.SignAndAppend(ctx, keys, r); err != nil {
					b.Fatal(err)
				}
				blk, ok, err := s.deps.Blocks.Seal(ctx, keys, "bench", 1)
				if err != nil || !ok {
					b.Fatal(err)
				}
				js, _ := json.Marshal(blk)
				total += int64(len(js))
			}
		}
		b.StartTimer()
		start := time.Now()
		rounds := 0
		for ; ; rounds++ {
			done := true
			for _, s := range m.nodes {
				if n, _ := s.deps.Blocks.Count(ctx); n != nodes*perNode {
					done = false
				}
			}
			if done {
				break
			}
			if rounds > 100 {
				b.Fatal("no convergence in 100 rounds")
			}
			var wg sync.WaitGroup
			for _, s := range m.nodes {
				wg.Add(1)
				go func() { defer wg.Done(); s.Round(ctx, rounds*3) }()
			}
			wg.Wait()
		}
		elapsed := time.Since(start)
		b.ReportMetric(elapsed.Seconds(), "s/converge")
		b.ReportMetric(float64(rounds), "rounds")
		b.ReportMetric(float64(m.bytes.Load())/float64(total*(nodes-1)), "sent/minimum")
		b.ReportMetric(float64(total)/float64(nodes*perNode), "B/block")
	}
}

// TestConvergeSmall runs the benchmark's mesh small: 5 nodes, 8 blocks
// each, converge, and every node ends with the same heads.
func TestConvergeSmall(t *testing.T) {
	m := &memMesh{}
	ctx := context.Background()
	for i := range 5 {
		s, receipts, keys := newMeshNode(t, m, i)
		m.nodes = append(m.nodes, s)
		for h := range 8 {
			r := ledger.Receipt{Version: ledger.ReceiptVersion, ClusterID: "bench", ResourceType: ledger.ResourceCompute,
				JobID: fmt.Sprintf("job-%d", h), Units: 1, IssuedAt: 1}
			if _, err := receipts.SignAndAppend(ctx, keys, r); err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Seal(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for round := range 10 {
		for _, s := range m.nodes {
			s.Round(ctx, round)
		}
	}
	var want string
	for i, s := range m.nodes {
		hs, err := s.deps.Blocks.Heads(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		for _, h := range hs {
			fmt.Fprintf(&sb, "%s:%d:%s ", h.Author, h.Height, h.Name)
		}
		if n, _ := s.deps.Blocks.Count(ctx); n != 40 || s.Held() != 0 {
			t.Fatalf("node %d holds %d blocks (%d held), want 40", i, n, s.Held())
		}
		if i == 0 {
			want = sb.String()
		} else if sb.String() != want {
			t.Fatalf("node %d's heads differ from node 0's", i)
		}
	}
}
