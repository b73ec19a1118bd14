package node_test

import (
	"context"
	"crypto/rand"
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/node"
)

// testClock is a fixed clock, so announces compare exactly.
var testClock = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func testConfig(dir string) node.Config {
	cfg := node.DefaultConfig()
	cfg.Name = "unit"
	cfg.Endpoint = "http://127.0.0.1:1"
	cfg.DataDir = dir
	cfg.AdminToken = "test-admin-token-0123456789"
	cfg.Now = func() time.Time { return testClock }
	return cfg
}

// newNode opens a node on a fresh database in a temp dir. It does not Run:
// the methods under test work before Run (they refuse only after it).
func newNode(t *testing.T) *node.Node {
	t.Helper()
	dir := t.TempDir()
	n, _ := openNode(t, dir, testKeys(t))
	return n
}

func testKeys(t testing.TB) *identity.Keys {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// openNode opens dir's database and a node on it; the database closes
// when t ends, or earlier through the returned func.
func openNode(t *testing.T, dir string, keys *identity.Keys) (*node.Node, func()) {
	t.Helper()
	return openNodeWith(t, dir, keys, testConfig(dir))
}

func micro(t *testing.T, s string) int64 {
	t.Helper()
	v, err := fixed.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func ptr[T any](v T) *T { return &v }

func TestAnnounceDefaults(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	got, err := n.Announce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := node.Announce{
		NodeID: n.Info().ID, Name: "unit", Endpoint: "http://127.0.0.1:1", Active: true,
		Prices:           node.Prices{Compute: micro(t, "1"), Storage: micro(t, "0.1")},
		MinOncallPercent: 20, BurstPercentMax: 80, UpdatedAt: testClock,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Announce() of a new node mismatch (-want +got):\n%s", diff)
	}
}

func TestUpdateAnnounce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		in      node.AnnounceUpdate
		wantErr error
		// change edits the defaults into the expected announce.
		change func(*node.Announce)
	}{
		{name: "nothing", in: node.AnnounceUpdate{}, change: func(*node.Announce) {}},
		{name: "compute price only", in: node.AnnounceUpdate{ComputePrice: ptr(int64(2_500_000))},
			change: func(a *node.Announce) { a.Prices.Compute = 2_500_000 }},
		{name: "free storage", in: node.AnnounceUpdate{StoragePrice: ptr(int64(0))},
			change: func(a *node.Announce) { a.Prices.Storage = 0 }},
		{name: "max price", in: node.AnnounceUpdate{ComputePrice: ptr(int64(1_000_000 * fixed.Scale))},
			change: func(a *node.Announce) { a.Prices.Compute = 1_000_000 * fixed.Scale }},
		{name: "min equals burst", in: node.AnnounceUpdate{MinOncallPercent: ptr(80)},
			change: func(a *node.Announce) { a.MinOncallPercent = 80 }},
		{name: "both percents", in: node.AnnounceUpdate{MinOncallPercent: ptr(0), BurstPercentMax: ptr(100)},
			change: func(a *node.Announce) { a.MinOncallPercent, a.BurstPercentMax = 0, 100 }},
		{name: "negative compute price", in: node.AnnounceUpdate{ComputePrice: ptr(int64(-1))}, wantErr: node.ErrInvalid},
		{name: "negative storage price", in: node.AnnounceUpdate{StoragePrice: ptr(int64(-1))}, wantErr: node.ErrInvalid},
		{name: "price above max", in: node.AnnounceUpdate{ComputePrice: ptr(int64(1_000_000*fixed.Scale + 1))}, wantErr: node.ErrInvalid},
		{name: "percent above 100", in: node.AnnounceUpdate{BurstPercentMax: ptr(101)}, wantErr: node.ErrInvalid},
		{name: "negative percent", in: node.AnnounceUpdate{MinOncallPercent: ptr(-1)}, wantErr: node.ErrInvalid},
		{name: "min above current burst", in: node.AnnounceUpdate{MinOncallPercent: ptr(81)}, wantErr: node.ErrInvalid},
		{name: "burst below current min", in: node.AnnounceUpdate{BurstPercentMax: ptr(19)}, wantErr: node.ErrInvalid},
		{name: "min above burst, both given", in: node.AnnounceUpdate{MinOncallPercent: ptr(60), BurstPercentMax: ptr(50)}, wantErr: node.ErrInvalid},
		{name: "valid price with bad percent", in: node.AnnounceUpdate{ComputePrice: ptr(int64(7)), MinOncallPercent: ptr(101)}, wantErr: node.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := newNode(t)
			before, err := n.Announce(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			got, err := n.UpdateAnnounce(t.Context(), tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("UpdateAnnounce(%s) error = %v, want %v", tc.name, err, tc.wantErr)
			}
			after, err := n.Announce(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			want := before
			if tc.wantErr == nil {
				tc.change(&want)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("UpdateAnnounce(%s) mismatch (-want +got):\n%s", tc.name, diff)
				}
			}
			if diff := cmp.Diff(want, after); diff != "" {
				t.Errorf("Announce() after UpdateAnnounce(%s) mismatch (-want +got):\n%s", tc.name, diff)
			}
		})
	}
}

func TestQuote(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	// 0.333333 per unit makes rounding visible.
	if _, err := n.UpdateAnnounce(t.Context(), node.AnnounceUpdate{ComputePrice: ptr(micro(t, "0.333333"))}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind, size string
		want       string // price
		wantErr    error
	}{
		{"compute", "3", "0.999999", nil},
		{"compute", "0.000003", "0.000001", nil}, // 0.000000999999 rounds up
		{"compute", "0.000001", "0.000001", nil}, // 0.000000333333 rounds up
		{"compute", "0", "0", nil},
		{"storage", "2.5", "0.25", nil},
		{"storage", "0.000001", "0.000001", nil}, // 0.0000001 rounds up
		{"storage", "1000000", "100000", nil},
		{"storage", "1000000.000001", "", node.ErrInvalid},
		{"compute", "-0.000001", "", node.ErrInvalid},
		{"gold", "1", "", node.ErrInvalid},
		{"", "1", "", node.ErrInvalid},
	} {
		q, err := n.Quote(t.Context(), tc.kind, micro(t, tc.size))
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("Quote(%q, %s) error = %v, want %v", tc.kind, tc.size, err, tc.wantErr)
			continue
		}
		if err != nil {
			continue
		}
		if got := fixed.Format(q.Price); got != tc.want || q.Type != tc.kind || q.Size != micro(t, tc.size) || q.NodeID != n.Info().ID {
			t.Errorf("Quote(%q, %s) = %+v (price %s), want price %s", tc.kind, tc.size, q, got, tc.want)
		}
	}

	if _, err := n.SetActive(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"compute", "storage"} {
		if _, err := n.Quote(t.Context(), kind, fixed.Scale); !errors.Is(err, node.ErrInactive) {
			t.Errorf("Quote(%q) of an inactive host error = %v, want ErrInactive", kind, err)
		}
	}
}

func TestRunJob(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	many := map[string]float64{}
	for i := range 65 {
		many["m"+strings.Repeat("x", i)] = 1
	}
	for _, tc := range []struct {
		name      string
		in        node.RunRequest
		wantUnits int64
		wantErr   error
	}{
		{name: "no metrics", in: node.RunRequest{JobID: "job-1"}},
		{name: "units from tokens", in: node.RunRequest{JobID: "job-2", Metrics: map[string]float64{node.UnitsMetric: 2.5, "gpu_s": 40}}, wantUnits: 2_500_000},
		{name: "units rounded to micro", in: node.RunRequest{JobID: "job-3", Metrics: map[string]float64{node.UnitsMetric: 0.0000014}}, wantUnits: 1},
		{name: "largest metric", in: node.RunRequest{JobID: "job-4", Metrics: map[string]float64{node.UnitsMetric: 1e12}}, wantUnits: 1e18},
		{name: "job id with all allowed characters", in: node.RunRequest{JobID: "aZ09._:-"}},
		{name: "same job again", in: node.RunRequest{JobID: "job-1"}, wantErr: node.ErrConflict},
		{name: "empty job id", in: node.RunRequest{JobID: ""}, wantErr: node.ErrInvalid},
		{name: "job id with space", in: node.RunRequest{JobID: "a b"}, wantErr: node.ErrInvalid},
		{name: "job id with slash", in: node.RunRequest{JobID: "a/b"}, wantErr: node.ErrInvalid},
		{name: "job id too long", in: node.RunRequest{JobID: strings.Repeat("j", 129)}, wantErr: node.ErrInvalid},
		{name: "65 metrics", in: node.RunRequest{JobID: "j", Metrics: many}, wantErr: node.ErrInvalid},
		{name: "empty metric name", in: node.RunRequest{JobID: "j", Metrics: map[string]float64{"": 1}}, wantErr: node.ErrInvalid},
		{name: "long metric name", in: node.RunRequest{JobID: "j", Metrics: map[string]float64{strings.Repeat("m", 65): 1}}, wantErr: node.ErrInvalid},
		{name: "NaN", in: node.RunRequest{JobID: "j", Metrics: map[string]float64{"x": math.NaN()}}, wantErr: node.ErrInvalid},
		{name: "infinity", in: node.RunRequest{JobID: "j", Metrics: map[string]float64{node.UnitsMetric: math.Inf(1)}}, wantErr: node.ErrInvalid},
		{name: "negative", in: node.RunRequest{JobID: "j", Metrics: map[string]float64{node.UnitsMetric: -0.5}}, wantErr: node.ErrInvalid},
		{name: "above 1e12", in: node.RunRequest{JobID: "j", Metrics: map[string]float64{node.UnitsMetric: 1.0000001e12}}, wantErr: node.ErrInvalid},
	} {
		r, err := n.RunJob(t.Context(), tc.in)
		if !errors.Is(err, tc.wantErr) {
			t.Errorf("RunJob(%s) error = %v, want %v", tc.name, err, tc.wantErr)
			continue
		}
		if err == nil && (r.Units != tc.wantUnits || r.JobID != tc.in.JobID || r.NodeID != n.Info().ID || r.Signature == "") {
			t.Errorf("RunJob(%s) = units %d, job %q, node %s, want units %d, job %q, signed by %s",
				tc.name, r.Units, r.JobID, r.NodeID, tc.wantUnits, tc.in.JobID, n.Info().ID)
		}
	}
	b, err := n.ExportReceipts(t.Context(), 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if b.Size != 5 || b.FromSeq != 1 || b.ToSeq != 5 {
		t.Errorf("ExportReceipts after 5 accepted jobs = size %d, seqs %d..%d, want 5, 1..5", b.Size, b.FromSeq, b.ToSeq)
	}

	if _, err := n.SetActive(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if _, err := n.RunJob(t.Context(), node.RunRequest{JobID: "while-off"}); !errors.Is(err, node.ErrInactive) {
		t.Errorf("RunJob on an inactive host error = %v, want ErrInactive", err)
	}
}

func TestExportReceiptsEmpty(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	for _, since := range []uint64{0, 10, math.MaxUint64} {
		b, err := n.ExportReceipts(t.Context(), since, 10)
		if err != nil {
			t.Fatalf("ExportReceipts(%d) with no receipts: %v", since, err)
		}
		const emptyRoot = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" // SHA-256("")
		if b.Size != 0 || len(b.Items) != 0 || b.Root != emptyRoot || b.NodeID != n.Info().ID {
			t.Errorf("ExportReceipts(%d) with no receipts = %+v, want an empty batch with root %s", since, b, emptyRoot)
		}
	}
	for _, limit := range []int{0, -1, 10001} {
		if _, err := n.ExportReceipts(t.Context(), 0, limit); !errors.Is(err, node.ErrInvalid) {
			t.Errorf("ExportReceipts(0, %d) error = %v, want ErrInvalid", limit, err)
		}
	}
}

func TestEpochIncreasesAcrossRestarts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keys := testKeys(t)
	var epochs []uint64
	for range 3 {
		n, closeDB := openNode(t, dir, keys)
		epochs = append(epochs, n.Info().Epoch)
		closeDB()
	}
	if diff := cmp.Diff([]uint64{1, 2, 3}, epochs); diff != "" {
		t.Errorf("epochs of three starts on one database mismatch (-want +got):\n%s", diff)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(dir, "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tc := range []struct {
		name   string
		change func(*node.Config)
	}{
		{"no name", func(c *node.Config) { c.Name = "" }},
		{"long name", func(c *node.Config) { c.Name = strings.Repeat("n", 65) }},
		{"no endpoint", func(c *node.Config) { c.Endpoint = "" }},
		{"no data dir", func(c *node.Config) { c.DataDir = "" }},
		{"short token", func(c *node.Config) { c.AdminToken = "short" }},
		{"negative concurrency", func(c *node.Config) { c.StoreConcurrency = -1 }},
		{"negative max shard", func(c *node.Config) { c.MaxShardBytes = -1 }},
		{"max shard above the API's limit", func(c *node.Config) { c.MaxShardBytes = node.MaxShardBytesLimit + 1 }},
		{"grace shorter than two claim intervals", func(c *node.Config) {
			c.Assets.ClaimInterval = time.Hour
			c.ShardGrace = 90 * time.Minute
		}},
		{"static peers without a way to reach them", func(c *node.Config) { c.Peers.StaticPeers = []string{"http://127.0.0.1:9"} }},
	} {
		cfg := testConfig(dir)
		tc.change(&cfg)
		if _, err := node.New(t.Context(), cfg, testKeys(t), db); err == nil {
			t.Errorf("New(%s) = nil error, want one", tc.name)
		}
	}
}

func TestMethodsReturnErrStoppedAfterRun(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v, want nil after cancel", err)
	}
	checks := map[string]error{}
	_, checks["SetActive"] = n.SetActive(t.Context(), false)
	_, checks["UpdateAnnounce"] = n.UpdateAnnounce(t.Context(), node.AnnounceUpdate{})
	_, checks["Quote"] = n.Quote(t.Context(), "compute", 1)
	_, checks["RunJob"] = n.RunJob(t.Context(), node.RunRequest{JobID: "late"})
	_, checks["StoreShard"] = n.StoreShard(t.Context(), "a", 0, strings.NewReader("x"), "", "admin")
	_, _, checks["OpenShard"] = n.OpenShard(t.Context(), "a", 0, "")
	_, checks["Peers"] = n.Peers(t.Context())
	_, checks["Mesh"] = n.Mesh(t.Context())
	for name, err := range checks {
		if !errors.Is(err, node.ErrStopped) {
			t.Errorf("%s after Run returned: error = %v, want ErrStopped", name, err)
		}
	}
}
