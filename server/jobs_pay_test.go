package server_test

import (
	"maps"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/broker"
	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/compute/computetest"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/node/jobs"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// jobFee is the fee of every transaction in the job payment tests' economy.
const jobFee = 1000

// installJobEconomy gives the cluster of nodes an economy: each node a
// witness of weight 1 (the genesis signed by all), the first starting
// with first micro-credits and the others with 1 credit.
func installJobEconomy(t *testing.T, c *servertest.Cluster, nodes []*servertest.Node, first int64) {
	t.Helper()
	d := c.Next(t, func(d cluster.Document) (cluster.Document, error) {
		var e cluster.Economy
		for i, n := range nodes {
			e.Witnesses = append(e.Witnesses, cluster.Witness{ID: n.Keys.ID(), Weight: 1})
			amount := int64(1_000000)
			if i == 0 {
				amount = first
			}
			e.Genesis = append(e.Genesis, cluster.Alloc{ID: n.Keys.ID(), Amount: amount})
		}
		e.TxFeeMin, e.TxFeeMax = jobFee, jobFee
		return d.WithEconomy(e)
	})
	var err error
	for _, n := range nodes {
		if d, err = d.Sign(n.Keys); err != nil {
			t.Fatal(err)
		}
	}
	enc, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if _, err := n.JoinCluster(t.Context(), enc); err != nil {
			t.Fatalf("install the economy on %s: %v", n.URL, err)
		}
	}
}

// waitAllBalances waits until every node shows want (by account).
func waitAllBalances(t *testing.T, nodes []*servertest.Node, want map[string]int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for {
			b, err := n.Balances(t.Context())
			if err == nil && maps.Equal(b.Accounts, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("balances on %s = %v (%v), want %v", n.URL, b.Accounts, err, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// With an economy the broker pays each majority host its quote, the
// lying host nothing, and every node's balances agree; a submitter that
// cannot pay the next job is refused before any host works on it.
func TestJobsPayMajorityHosts(t *testing.T) {
	c := servertest.NewCluster(t)
	b, hosts := jobMeshIn(t, c, []jobs.Hooks{{Lie: true}, {}, {}})
	nodes := append([]*servertest.Node{b}, hosts...)
	const budget = 25_000000
	installJobEconomy(t, c, nodes, budget)
	id := func(n *servertest.Node) string { return n.Keys.ID().String() }
	want := map[string]int64{id(b): budget}
	for _, h := range hosts {
		want[id(h)] = 1_000000
	}
	waitAllBalances(t, nodes, want)

	// Quotes are unit price x timeout: the liar 0.1 x 10 s, the others 1 x 10 s.
	const price = 10_000000
	sub := b.Subscribe(1024)
	defer sub.Close()
	wc := computetest.Module(t, computetest.WordCount)
	r := submitJob(t, b, wc, []byte("pay me"), "r=2&timeout_s=10")
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", r.StatusCode, r.body)
	}
	var j gen.Job
	decodeJSON(t, r, &j)
	j = waitJob(t, b, j.Id, 30*time.Second)
	if j.State != "done" {
		t.Fatalf("job: %s", explain(j))
	}
	paid := 0
	for _, d := range j.Dispatches {
		isPaid := d.Note != nil && *d.Note == "paid 10"
		majority := d.Outcome != nil && *d.Outcome == "majority"
		if isPaid != majority || (d.HostId == id(hosts[0]) && isPaid) {
			t.Fatalf("dispatch to %s: paid %v, majority %v:\n%s", d.HostId, isPaid, majority, explain(j))
		}
		if isPaid {
			paid++
		}
	}
	if paid != 2 {
		t.Fatalf("%d hosts paid, want 2:\n%s", paid, explain(j))
	}
	paidEvents := map[string]int64{}
	for len(sub.C()) > 0 {
		if e, ok := (<-sub.C()).Event.(node.JobPaid); ok && e.JobID == j.Id {
			paidEvents[e.Host.String()] += e.Amount
		}
	}
	if want := map[string]int64{id(hosts[1]): price, id(hosts[2]): price}; !maps.Equal(paidEvents, want) {
		t.Fatalf("job_paid events %v, want %v", paidEvents, want)
	}
	want[id(b)] -= 2 * (price + jobFee)
	want[id(hosts[1])] += price
	want[id(hosts[2])] += price
	want["system"] += 2 * jobFee
	waitAllBalances(t, nodes, want)

	// 4.998 credits left: two hosts at up to 10 each cannot be paid.
	r = submitJob(t, b, wc, []byte("too dear"), "r=2&timeout_s=10&max_price=10")
	if r.StatusCode != http.StatusConflict || !strings.Contains(string(r.body), "insufficient funds") {
		t.Fatalf("submit beyond the budget: %d %s, want 409 insufficient funds", r.StatusCode, r.body)
	}
	// Without a max price the quotes decide, before any dispatch.
	r = submitJob(t, b, wc, []byte("too dear"), "r=2&timeout_s=10")
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", r.StatusCode, r.body)
	}
	decodeJSON(t, r, &j)
	j = waitJob(t, b, j.Id, 30*time.Second)
	if j.State != "failed" || len(j.Dispatches) != 0 || j.Error == nil || !strings.Contains(*j.Error, "cannot pay") {
		t.Fatalf("job beyond the budget: %s", explain(j))
	}
	time.Sleep(200 * time.Millisecond)
	waitAllBalances(t, nodes, want)
}

// Without an economy jobs run as before and the majority's dispatches say
// they are unpaid.
func TestJobsUnpaidWithoutEconomy(t *testing.T) {
	b, _ := jobMesh(t, []jobs.Hooks{{}})
	r := submitJob(t, b, computetest.Module(t, computetest.WordCount), []byte("free"), "r=1&timeout_s=10&max_price=5")
	if r.StatusCode != http.StatusAccepted {
		t.Fatalf("submit: %d %s", r.StatusCode, r.body)
	}
	var j gen.Job
	decodeJSON(t, r, &j)
	j = waitJob(t, b, j.Id, 30*time.Second)
	if j.State != "done" || len(j.Dispatches) != 1 || j.Dispatches[0].Note == nil || *j.Dispatches[0].Note != "unpaid: no economy" {
		t.Fatalf("job without an economy: %s", explain(j))
	}
}

// A broker that stopped after paying a job's host but before recording
// the job done resumes the job after a restart and does not pay again:
// the balances stay as the one payment left them and no transfer waits.
func TestJobsPaidOnceAfterRestart(t *testing.T) {
	c := servertest.NewCluster(t)
	host := servertest.Start(t, servertest.Options{Name: "host", Cluster: c, Jobs: jobTestConfig(jobs.Hooks{})})
	unit := int64(1_000000)
	if _, err := host.UpdateAnnounce(t.Context(), node.AnnounceUpdate{ComputePrice: &unit}); err != nil {
		t.Fatal(err)
	}
	dir, addr := t.TempDir(), freeAddr(t)
	keys, err := identity.Generate(randReader())
	if err != nil {
		t.Fatal(err)
	}
	start := func(t *testing.T) *servertest.Node {
		b := servertest.Start(t, servertest.Options{Name: "broker", Dir: dir, Keys: keys, Addr: addr, Cluster: c,
			Jobs: jobTestConfig(jobs.Hooks{}), StaticPeers: []string{host.URL}, PeerPollInterval: 500 * time.Millisecond})
		if _, err := b.SetActive(t.Context(), false); err != nil {
			t.Fatal(err)
		}
		return b
	}
	const budget, price = 25_000000, 10_000000
	want := map[string]int64{string(keys.ID()): budget - price - jobFee, host.Keys.ID().String(): 1_000000 + price, "system": jobFee}
	var jobID string
	t.Run("pay", func(t *testing.T) {
		b := start(t)
		installJobEconomy(t, c, []*servertest.Node{b, host}, budget)
		var r response
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			// 400 until the broker sees the host up.
			if r = submitJob(t, b, computetest.Module(t, computetest.WordCount), []byte("once"), "r=1&timeout_s=10"); r.StatusCode != http.StatusBadRequest || time.Now().After(deadline) {
				break
			}
		}
		if r.StatusCode != http.StatusAccepted {
			t.Fatalf("submit: %d %s", r.StatusCode, r.body)
		}
		var j gen.Job
		decodeJSON(t, r, &j)
		jobID = j.Id
		if j = waitJob(t, b, j.Id, 30*time.Second); j.State != "done" || j.Dispatches[0].Note == nil || *j.Dispatches[0].Note != "paid 10" {
			t.Fatalf("job: %s", explain(j))
		}
		waitAllBalances(t, []*servertest.Node{b, host}, want)
	})
	// What a stop between the payment and the job's end leaves.
	db, err := sqlitedb.Open(t.Context(), filepath.Join(dir, "offgrid.db"))
	if err != nil {
		t.Fatal(err)
	}
	store := broker.NewJobStore(db)
	j, err := store.Get(t.Context(), jobID)
	if err != nil {
		t.Fatal(err)
	}
	j.State, j.Finished = broker.StateRunning, time.Time{}
	if err := store.Update(t.Context(), j, nil); err != nil {
		t.Fatal(err)
	}
	db.Close()

	b := start(t)
	if j := waitJob(t, b, jobID, 30*time.Second); j.State != "done" || len(j.Dispatches) != 1 || *j.Dispatches[0].Note != "paid 10" {
		t.Fatalf("resumed job: %s", explain(j))
	}
	var pooled, paid int
	if err := b.DB.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM node_econ_pool`).Scan(&pooled); err != nil {
		t.Fatal(err)
	}
	if err := b.DB.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM node_econ_job_paid`).Scan(&paid); err != nil {
		t.Fatal(err)
	}
	if pooled != 0 || paid != 1 {
		t.Fatalf("after the resumed job: %d transfers waiting, %d job payments; want 0 and 1", pooled, paid)
	}
	waitAllBalances(t, []*servertest.Node{b, host}, want)
}
