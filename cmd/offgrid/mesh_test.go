package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/compute/computetest"
)

// meshNode is one node of a test mesh: a real node with its own data dir,
// SQLite file and loopback port, run in-process and stoppable.
type meshNode struct {
	opts  nodeOptions
	addr  string
	url   string
	token string
	stop  func()
}

// testMesh is a mesh of real nodes on 127.0.0.1, each listing the others as
// static peers.
type testMesh struct {
	t     testing.TB
	nodes []*meshNode
}

// meshPeerPoll is how often each node of a test mesh of size nodes polls
// its peers: 200 ms (down seen within a fraction of a second), slower as
// the mesh grows (2 s for 20 nodes), as every node polls every other: under
// the race detector 20 nodes polling at 200 ms keep both cores busy, and
// at 800 ms polling was a sixth of a 20-node test's CPU.
func meshPeerPoll(size int) time.Duration {
	return max(200*time.Millisecond, time.Duration(size)*100*time.Millisecond)
}

func startMesh(t testing.TB, size int, tweak func(i int, o *nodeOptions)) *testMesh {
	t.Helper()
	m := &testMesh{t: t}
	lns := make([]net.Listener, size)
	for i := range size {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		m.nodes = append(m.nodes, &meshNode{addr: ln.Addr().String(), url: "http://" + ln.Addr().String()})
	}
	dirs, names := make([]string, size), make([]string, size)
	for i := range dirs {
		dirs[i], names[i] = t.TempDir(), fmt.Sprintf("node-%d", i)
	}
	// One cluster, node 0 its admin, as the demo makes it.
	doc, err := ownCluster(dirs, names)
	if err != nil {
		t.Fatal(err)
	}
	for i, mn := range m.nodes {
		mn.opts = nodeOptions{
			dataDir:          dirs[i],
			clusterDoc:       doc,
			name:             names[i],
			cluster:          "test",
			storeConcurrency: 4,
			maxShardBytes:    16 << 20,
			window:           8,
			peerPoll:         meshPeerPoll(size),
		}
		for j, other := range m.nodes {
			if j != i {
				mn.opts.peers = append(mn.opts.peers, other.url)
			}
		}
		withTestWasm(&mn.opts)
		if tweak != nil {
			tweak(i, &mn.opts)
		}
		m.launch(mn, lns[i])
	}
	t.Cleanup(func() {
		for _, mn := range m.nodes {
			if mn.stop != nil {
				mn.stop()
			}
		}
	})
	return m
}

func (m *testMesh) launch(mn *meshNode, ln net.Listener) {
	m.t.Helper()
	if ln == nil {
		var err error
		// The old listener is closed; the kernel lets us bind the port again.
		for range 50 {
			if ln, err = net.Listen("tcp", mn.addr); err == nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			m.t.Fatalf("relisten on %s: %v", mn.addr, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan nodeStarted, 1)
	done := make(chan error, 1)
	go func() {
		done <- runNode(ctx, mn.opts, ln, slog.New(slog.DiscardHandler), func(s nodeStarted) { started <- s })
	}()
	select {
	case s := <-started:
		mn.token = s.token
	case err := <-done:
		m.t.Fatalf("node %s did not start: %v", mn.opts.name, err)
	}
	mn.stop = func() {
		cancel()
		if err := <-done; err != nil {
			m.t.Errorf("node %s: %v", mn.opts.name, err)
		}
		mn.stop = nil
	}
}

// kill stops node i, as a crash or power cut would look to its peers.
func (m *testMesh) kill(i int) { m.nodes[i].stop() }

// restart starts node i again on the same port and data.
func (m *testMesh) restart(i int) { m.launch(m.nodes[i], nil) }

// waitPeers waits until node i sees want peers up.
func (m *testMesh) waitPeers(i, want int) {
	m.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		up := -1
		if resp, err := http.Get(m.nodes[i].url + "/peers"); err == nil {
			var pl struct{ Peers []struct{ State string } }
			if json.NewDecoder(resp.Body).Decode(&pl) == nil {
				up = 0
				for _, p := range pl.Peers {
					if p.State == "up" {
						up++
					}
				}
			}
			resp.Body.Close()
		}
		if up == want {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("node %d sees %d peers up after 30s, want %d", i, up, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// env returns the CLI environment for talking to node i.
func (m *testMesh) env(i int) map[string]string {
	return map[string]string{"OFFGRID_NODE": m.nodes[i].url, "OFFGRID_TOKEN": m.nodes[i].token}
}

func randomFile(t testing.TB, size int64) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "random.bin")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func sameBytes(t *testing.T, a, b string) {
	t.Helper()
	if err := sameFiles(a, b); err != nil {
		t.Fatal(err)
	}
}

type assetJSON struct {
	AssetID      string `json:"asset_id"`
	State        string
	K, N         int
	Stripes      int
	MinLive      int   `json:"min_live"`
	StripeShards []int `json:"stripe_shards"`
	Hosts        int
	Survives     int
}

func putFile(t *testing.T, env map[string]string, path string, args ...string) assetJSON {
	t.Helper()
	out := mustCLI(t, env, append([]string{"put", path, "--json", "--no-progress"}, args...)...)
	var a assetJSON
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatalf("put output %q: %v", out, err)
	}
	return a
}

func TestStorageSurvivesHostLoss(t *testing.T) {
	// 64 MiB is several stripes of the default shard size; under the race
	// detector 16 MiB (two stripes) keeps it to seconds.
	size := int64(64 << 20)
	switch {
	case testing.Short():
		size = 8 << 20
	case computetest.Race:
		size = 16 << 20
	}
	m := startMesh(t, 20, nil)
	m.waitPeers(0, 19)
	src := randomFile(t, size)
	a := putFile(t, m.env(0), src, "--k", "12", "--n", "20")
	if a.State != "stored" || a.K != 12 || a.N != 20 || a.MinLive != 20 || a.Hosts != 20 || a.Survives != 8 {
		t.Fatalf("put = %+v, want stored 12/20 with 20 live shards per stripe on 20 hosts, surviving 8 host losses", a)
	}
	got := filepath.Join(t.TempDir(), "got.bin")
	for i := 1; i <= 8; i++ {
		m.kill(i)
	}
	m.waitPeers(0, 11)
	mustCLI(t, m.env(0), "get", a.AssetID, "-o", got, "--no-progress")
	sameBytes(t, src, got)

	m.kill(9)
	m.waitPeers(0, 10)
	os.Remove(got)
	_, err := cli(t, m.env(0), "get", a.AssetID, "-o", got, "--no-progress")
	if err == nil || !strings.Contains(err.Error(), "stripe 0") || !strings.Contains(err.Error(), "of the 12 shards it needs") {
		t.Fatalf("get with 9 of 20 hosts down = %v, want an error naming the stripe and the shards it needs", err)
	}
	if _, serr := os.Stat(got); serr == nil {
		t.Error("a failed get left the output file behind")
	}
	for i := 1; i <= 9; i++ {
		m.restart(i)
	}
	m.waitPeers(0, 19)
	mustCLI(t, m.env(0), "get", a.AssetID, "-o", got, "--no-progress")
	sameBytes(t, src, got)
}

func TestPutResumesWithoutResending(t *testing.T) {
	m := startMesh(t, 6, nil)
	m.waitPeers(0, 5)
	src := randomFile(t, 6<<20)
	// Send a third of the file and hang up, as Ctrl-C or a lost link would.
	// The half-closed connection lets us read the node's answer, so the
	// node has finished with the upload before we look.
	hash, size, err := hashFile(src)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", m.nodes[0].addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /assets?k=4&n=6&shard_size=65536&name=r.bin HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/octet-stream\r\nOffgrid-Content-Hash: %s\r\nContent-Length: %d\r\n\r\n",
		m.nodes[0].addr, m.nodes[0].token, hash, size)
	conn.Write(data[:size/3])
	conn.(*net.TCPConn).CloseWrite()
	answer, _ := io.ReadAll(conn)
	conn.Close()
	if !bytes.Contains(answer, []byte("400 Bad Request")) || !bytes.Contains(answer, []byte("interrupted")) {
		t.Fatalf("interrupted upload answered %q, want 400 saying it was interrupted", answer)
	}
	// The node notices the broken upload and keeps what hosts acknowledged.
	var pending struct{ Assets []assetJSON }
	if err := json.Unmarshal([]byte(mustCLI(t, m.env(0), "assets", "--json")), &pending); err != nil {
		t.Fatal(err)
	}
	acked := 0
	if len(pending.Assets) == 1 && pending.Assets[0].State == "pending" {
		for _, c := range pending.Assets[0].StripeShards {
			acked += c
		}
	}
	if acked == 0 {
		t.Fatalf("after the interruption assets = %+v, want one pending asset with acknowledged shards", pending.Assets)
	}
	// Shards stored on any host, the owner's own (which take no HTTP) included.
	// A host may still be storing a shard whose upload the owner gave up
	// when the client hung up (it had the whole body): count from after it.
	const storedShards = `offgrid_shards_stored_total`
	sentBefore := settledMetric(t, m, storedShards)
	a := putFile(t, m.env(0), src, "--k", "4", "--n", "6", "--shard-size", "65536")
	if a.State != "stored" || a.AssetID != pending.Assets[0].AssetID {
		t.Fatalf("resumed put = %+v, want asset %s stored", a, pending.Assets[0].AssetID)
	}
	sent := sumMetric(t, m, storedShards) - sentBefore
	if want := a.Stripes*a.N - acked; sent != want {
		t.Errorf("resuming sent %d shards, want %d (%d stripes x %d shards - %d already acknowledged)", sent, want, a.Stripes, a.N, acked)
	}
	got := filepath.Join(t.TempDir(), "got.bin")
	mustCLI(t, m.env(0), "get", a.AssetID, "-o", got, "--no-progress")
	sameBytes(t, src, got)
	// The owner hosts some of the shards itself, through its local
	// transport: it never sent one to its own HTTP API.
	if own := metricOf(t, m.nodes[0].url, storedShards); own == 0 {
		t.Errorf("the owner stored none of its own shards; want some (it is one of the 6 hosts)")
	}
	for _, route := range []string{`method="PUT",route="/shards/{asset_id}/{index}"`, `method="GET",route="/shards/{asset_id}/{index}"`} {
		if self := metricOf(t, m.nodes[0].url, `offgrid_http_requests_total{code="201",`+route+`}`) +
			metricOf(t, m.nodes[0].url, `offgrid_http_requests_total{code="200",`+route+`}`); self != 0 {
			t.Errorf("the owner answered %d shard requests (%s) on its own API, want 0: its own shards go through the local transport", self, route)
		}
	}
}

// metricOf reads one Prometheus sample of the node at url (0 if absent).
func metricOf(t *testing.T, url, sample string) int {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	total := 0
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			total += int(f)
		}
	}
	return total
}

// sumMetric adds up one Prometheus sample over every running node.
// settledMetric is sumMetric once it has stayed the same for half a
// second (at most 10 s): what the nodes were still doing has finished.
func settledMetric(t *testing.T, m *testMesh, sample string) int {
	t.Helper()
	last := sumMetric(t, m, sample)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		now := sumMetric(t, m, sample)
		if now == last {
			return now
		}
		last = now
	}
	t.Fatalf("%s still changing after 10 s", sample)
	return 0
}

func sumMetric(t *testing.T, m *testMesh, sample string) int {
	t.Helper()
	total := 0
	for _, mn := range m.nodes {
		if mn.stop != nil {
			total += metricOf(t, mn.url, sample)
		}
	}
	return total
}

func TestCorruptHostIsIgnored(t *testing.T) {
	const liar = 19
	var proxy *httptest.Server
	m := startMesh(t, 20, func(i int, o *nodeOptions) {
		if i == liar {
			// Requests node 0 signs for the proxy reach the liar: the
			// proxy's address must be one of its names.
			o.endpoint = proxy.URL
			return
		}
		if i != 0 {
			return
		}
		// Node 0 reaches node 19 only through a proxy that flips a byte of
		// every shard it serves: a host whose disk or owner lies.
		target := o.peers[liar-1]
		u, _ := url.Parse(target)
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.ModifyResponse = func(resp *http.Response) error {
			if resp.Request.Method != http.MethodGet || !strings.HasPrefix(resp.Request.URL.Path, "/shards/") || resp.StatusCode != 200 {
				return nil
			}
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if len(b) > 0 {
				b[len(b)/2] ^= 0x40
			}
			resp.Body = io.NopCloser(bytes.NewReader(b))
			return nil
		}
		proxy = httptest.NewServer(rp)
		t.Cleanup(proxy.Close)
		o.peers[liar-1] = proxy.URL
	})
	m.waitPeers(0, 19)
	src := randomFile(t, 4<<20)
	a := putFile(t, m.env(0), src, "--k", "12", "--n", "20", "--shard-size", "65536")
	if a.Hosts != 20 {
		t.Fatalf("put = %+v, want shards on all 20 hosts", a)
	}
	// With 7 hosts gone, reads need the liar's shards in most stripes.
	for i := 1; i <= 7; i++ {
		m.kill(i)
	}
	m.waitPeers(0, 12)
	got := filepath.Join(t.TempDir(), "got.bin")
	mustCLI(t, m.env(0), "get", a.AssetID, "-o", got, "--no-progress")
	sameBytes(t, src, got)
	if n := sumMetric(t, &testMesh{t: t, nodes: m.nodes[:1]}, "offgrid_shards_corrupt_total"); n == 0 {
		t.Error("node 0 counted no corrupt shards, want the liar's shards detected")
	}
}

func TestRepairRestoresRedundancy(t *testing.T) {
	m := startMesh(t, 20, nil)
	m.waitPeers(0, 19)
	src := randomFile(t, 4<<20)
	a := putFile(t, m.env(0), src, "--k", "12", "--n", "20", "--shard-size", "65536")
	for i := 1; i <= 4; i++ {
		m.kill(i)
	}
	m.waitPeers(0, 15)
	var rep struct {
		Asset      assetJSON
		Rebuilt    int
		Unplaced   int
		MarkedDead int `json:"marked_dead"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, m.env(0), "repair", a.AssetID, "--json", "--timeout", "5m")), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.MarkedDead != 4*a.Stripes || rep.Rebuilt != 4*a.Stripes || rep.Unplaced != 0 ||
		rep.Asset.MinLive != 20 || rep.Asset.State != "stored" {
		t.Fatalf("repair = %+v, want %d shards found dead and rebuilt, every stripe back to 20 live", rep, 4*a.Stripes)
	}
	// The rebuilt shards carry the redundancy now: lose 4 more hosts.
	for i := 5; i <= 8; i++ {
		m.kill(i)
	}
	m.waitPeers(0, 11)
	got := filepath.Join(t.TempDir(), "got.bin")
	mustCLI(t, m.env(0), "get", a.AssetID, "-o", got, "--no-progress")
	sameBytes(t, src, got)
}

// TestAutomaticRepairAfterPeerLoss: hosts that stay down past the repair
// grace have their shards rebuilt elsewhere, without anyone asking: the
// end of the grace triggers the pass (the interval is an hour).
func TestAutomaticRepairAfterPeerLoss(t *testing.T) {
	m := startMesh(t, 10, func(i int, o *nodeOptions) {
		if i == 0 {
			o.repairInterval = time.Hour // peer loss and the grace's end trigger the check, not the clock
			o.repairGrace = time.Second
			o.repairThreshold = 8 // rebuild any stripe below n (default: below k+2)
		}
	})
	m.waitPeers(0, 9)
	src := randomFile(t, 1<<20)
	a := putFile(t, m.env(0), src, "--k", "4", "--n", "8", "--shard-size", "65536")
	for i := 1; i <= 4; i++ {
		m.kill(i)
	}
	deadline := time.Now().Add(60 * time.Second)
	var cur assetJSON
	for time.Now().Before(deadline) {
		if err := json.Unmarshal([]byte(mustCLI(t, m.env(0), "assets", a.AssetID, "--json")), &cur); err != nil {
			t.Fatal(err)
		}
		if cur.MinLive == 8 && cur.State == "stored" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if cur.MinLive != 8 || cur.State != "stored" {
		t.Fatalf("after losing 4 hosts the asset is %+v, want it repaired to 8 live shards per stripe", cur)
	}
}

// TestRepairWaitsForReturningHosts: hosts down for less than the repair
// grace keep their shards. Meanwhile the file reads as degraded and still
// comes back, nothing is rebuilt, and once the hosts return it is whole
// again on the same hosts (before the grace, a host's restart marked its
// shards dead and rebuilt them elsewhere at once).
func TestRepairWaitsForReturningHosts(t *testing.T) {
	m := startMesh(t, 8, func(i int, o *nodeOptions) {
		if i == 0 {
			o.repairInterval = 100 * time.Millisecond
			o.repairGrace = time.Hour
		}
	})
	m.waitPeers(0, 7)
	src := randomFile(t, 1<<20)
	a := putFile(t, m.env(0), src, "--k", "4", "--n", "8", "--shard-size", "65536")
	// One host after another: the records keep the 8 shards (nothing is
	// rebuilt, below); the file's health counts those that can be read now.
	var cur assetJSON
	for i := 1; i <= 3; i++ {
		m.kill(i)
		cur = m.waitAsset(t, a.AssetID, func(a assetJSON) bool { return a.MinLive == 8-i })
		if i == 1 {
			// The dashboard's storage feed follows each loss, even one
			// that leaves the state as it was (7 is above the threshold).
			m.waitStorageFeed(t, "stored: at least 7/8 shards on every stripe")
		}
	}
	m.waitPeers(0, 4)
	if cur.State != "degraded" {
		t.Errorf("with 3 of 8 hosts down the asset is %s, want degraded", cur.State)
	}
	if cur.Hosts != 5 || cur.Survives != 1 {
		t.Errorf("with 3 of 8 hosts down the asset is %+v, want 5 hosts and 1 more loss survived", cur)
	}
	m.waitStorageFeed(t, "degraded: a stripe is down to 5/8 shards")
	got := filepath.Join(t.TempDir(), "got.bin")
	mustCLI(t, m.env(0), "get", a.AssetID, "-o", got, "--no-progress")
	sameBytes(t, src, got)
	for i := 1; i <= 3; i++ {
		m.restart(i)
	}
	m.waitPeers(0, 7)
	m.waitAsset(t, a.AssetID, func(a assetJSON) bool { return a.State == "stored" && a.MinLive == 8 })
	m.waitStorageFeed(t, "stored: 8/8 shards on every stripe")
	for i := range 8 {
		if n := m.shardsOn(i, a.AssetID, 8); n != 1 {
			t.Errorf("node %d holds %d shards of stripe 0, want 1 (nothing rebuilt elsewhere)", i, n)
		}
	}
}

// lostFile puts a 1 MiB file at 3/6 with 64 KiB shards on a 6-node mesh
// whose node 0 repairs every 100 ms with no grace and no rebuilds (so only
// revivals happen), kills hosts 1 to 4 and waits until node 0 calls the
// file lost. It returns the mesh, the file and its source.
func lostFile(t *testing.T) (*testMesh, assetJSON, string) {
	t.Helper()
	m := startMesh(t, 6, func(i int, o *nodeOptions) {
		if i == 0 {
			o.repairInterval = 100 * time.Millisecond
			o.repairThreshold = 3 // no rebuilds while hosts go: only the revival is tested
		}
	})
	m.waitPeers(0, 5)
	src := randomFile(t, 1<<20)
	a := putFile(t, m.env(0), src, "--k", "3", "--n", "6", "--shard-size", "65536")
	for i := 1; i <= 4; i++ {
		m.kill(i)
	}
	m.waitPeers(0, 1)
	m.waitAsset(t, a.AssetID, func(a assetJSON) bool { return a.State == "lost" })
	return m, a, src
}

// TestLostStripesComeBackWithTheirHosts: with no grace, hosts that go down
// are given up at once, and a stripe left with fewer than k shards is lost.
// When the hosts come back still holding their shards (one by one, as the
// repair passes run), the passes take them back and the file reads again.
func TestLostStripesComeBackWithTheirHosts(t *testing.T) {
	m, a, src := lostFile(t)
	if _, err := cli(t, m.env(0), "get", a.AssetID, "-o", filepath.Join(t.TempDir(), "lost.bin"), "--no-progress"); err == nil {
		t.Fatal("get of a file with 2 of 6 shards per stripe reachable worked")
	}
	for i := 1; i <= 4; i++ {
		m.restart(i)
	}
	m.waitPeers(0, 5)
	m.waitAsset(t, a.AssetID, func(a assetJSON) bool { return a.State == "stored" && a.MinLive == 6 })
	got := filepath.Join(t.TempDir(), "got.bin")
	mustCLI(t, m.env(0), "get", a.AssetID, "-o", got, "--no-progress")
	sameBytes(t, src, got)
}

// TestRevivalNeedsProof: a host that comes back with other bytes of the
// same size under its shards (a disk that returned garbage, or a host that
// lies) still says, asked by HEAD, that it holds them under their hashes.
// The repair pass counts a shard marked dead live again only once its host
// proves it holds the bytes (an audit challenge), so that host's shards
// stay dead and the file shows the shards it really has.
func TestRevivalNeedsProof(t *testing.T) {
	const liar = 1
	m, a, src := lostFile(t)
	blobs, err := filepath.Glob(filepath.Join(m.nodes[liar].opts.dataDir, "shards", "blobs", "*", "*"))
	if err != nil || len(blobs) != a.Stripes {
		t.Fatalf("host %d holds %d blobs (%v), want one per stripe (%d)", liar, len(blobs), err, a.Stripes)
	}
	for _, b := range blobs {
		st, err := os.Stat(b)
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, st.Size())
		rand.Read(junk)
		if err := os.WriteFile(b, junk, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 4; i++ {
		m.restart(i)
	}
	m.waitPeers(0, 5)
	m.waitAsset(t, a.AssetID, func(a assetJSON) bool { return a.State == "stored" && a.MinLive == 5 })
	// Passes go on every 100 ms: the liar's shards must stay dead.
	time.Sleep(time.Second)
	if got := m.waitAsset(t, a.AssetID, func(assetJSON) bool { return true }); got.MinLive != 5 {
		t.Fatalf("after the host with other bytes came back the file has %d live shards per stripe, want 5", got.MinLive)
	}
	got := filepath.Join(t.TempDir(), "got.bin")
	mustCLI(t, m.env(0), "get", a.AssetID, "-o", got, "--no-progress")
	sameBytes(t, src, got)
}

// waitStorageFeed waits until the storage page of node 0's dashboard shows
// text in its feed (the page renders the recent events).
func (m *testMesh) waitStorageFeed(t *testing.T, text string) {
	t.Helper()
	c := m.dashboard(t, 0)
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := c.Get(m.nodes[0].url + "/storage")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && strings.Contains(string(body), text) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s the storage page does not say %q:\n%s", text, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dashboard returns a client logged in to node i's dashboard.
func (m *testMesh) dashboard(t *testing.T, i int) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	resp, err := c.PostForm(m.nodes[i].url+"/login", url.Values{"token": {m.nodes[i].token}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("log in to node %d's dashboard: %s", i, resp.Status)
	}
	return c
}

// waitAsset waits until node 0 reports the asset as ok wants and returns it.
func (m *testMesh) waitAsset(t *testing.T, id string, ok func(assetJSON) bool) assetJSON {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var cur assetJSON
		out, err := cli(t, m.env(0), "assets", id, "--json")
		if err == nil {
			err = json.Unmarshal([]byte(out), &cur)
		}
		if err == nil && ok(cur) {
			return cur
		}
		if time.Now().After(deadline) {
			t.Fatalf("asset %s is %+v (%v) after 30s", id, cur, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStorageRefusesBadInput(t *testing.T) {
	m := startMesh(t, 3, nil)
	m.waitPeers(0, 2)
	env := m.env(0)
	src := randomFile(t, 100_000)
	for _, args := range [][]string{
		{"--k", "13", "--n", "12"},
		{"--k", "12", "--n", "257"},
		{"--k", "0", "--n", "4"},
		{"--mode", "rep", "--k", "2", "--n", "3"},
		{"--mode", "raid"},
		{"--shard-size", "100"},
		{"--recipient", "not-a-key"},
	} {
		if out, err := cli(t, env, append([]string{"put", src, "--no-progress"}, args...)...); err == nil || !strings.Contains(err.Error(), "400") {
			t.Errorf("put %v = %v (%s), want a 400 error", args, err, out)
		}
	}
	if _, err := cli(t, env, "get", "a0123456789abcdef0123456789abcdef", "-o", filepath.Join(t.TempDir(), "x")); err == nil ||
		err.Error() != "no file with ID a0123456789abcdef0123456789abcdef on this node; see `offgrid assets`" {
		t.Errorf("get of an unknown asset = %v, want it to say there is no such file", err)
	}
	if _, err := cli(t, env, "repair", "nope"); err == nil || err.Error() != "no file with ID nope on this node; see `offgrid assets`" {
		t.Errorf("repair of an unknown asset = %v, want it to say there is no such file", err)
	}

	// A truncated upload (the connection ends before Content-Length) stores nothing.
	conn, err := net.Dial("tcp", m.nodes[0].addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /assets?name=short HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: 1048576\r\n\r\n", m.nodes[0].addr, m.nodes[0].token)
	conn.Write(make([]byte, 300_000))
	conn.(*net.TCPConn).CloseWrite()
	io.Copy(io.Discard, conn)
	conn.Close()

	// A policy with a bad signature is refused and nothing is stored.
	keysDir := t.TempDir()
	mustCLI(t, nil, "keys", "gen", "--data", keysDir)
	hash, _, _ := hashFile(src)
	policy := filepath.Join(t.TempDir(), "policy.json")
	mustCLI(t, nil, "policy", "sign", "--data", keysDir, "--asset", "b3:"+hash, "--license", "MIT", "--mode", "replication", "--r", "2", "-o", policy)
	mustCLI(t, nil, "policy", "verify", policy)
	b, _ := os.ReadFile(policy)
	forged := filepath.Join(t.TempDir(), "forged.json")
	os.WriteFile(forged, bytes.Replace(b, []byte(`"MIT"`), []byte(`"GPL-3.0"`), 1), 0o644)
	if _, err := cli(t, nil, "policy", "verify", forged); err == nil {
		t.Error("policy verify accepted a forged policy")
	}
	if _, err := cli(t, env, "put", src, "--mode", "rep", "--r", "2", "--policy", forged, "--no-progress"); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("put with a forged policy = %v, want a 400 error", err)
	}
	var list struct{ Assets []assetJSON }
	if err := json.Unmarshal([]byte(mustCLI(t, env, "assets", "--json")), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Assets) != 0 {
		t.Errorf("after refused puts the node lists %+v, want no assets", list.Assets)
	}
	a := putFile(t, env, src, "--mode", "rep", "--r", "2", "--policy", policy)
	if a.State != "stored" {
		t.Errorf("put with a valid policy = %+v, want stored", a)
	}
}

func TestPutSurvivesHostsDyingMidway(t *testing.T) {
	m := startMesh(t, 20, nil)
	m.waitPeers(0, 19)
	src := randomFile(t, 24<<20)
	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"put", src, "--json", "--no-progress", "--k", "12", "--n", "20", "--shard-size", "262144"},
			func(k string) string { return m.env(0)[k] }, &out, &errOut)
		done <- result{out.String(), err}
	}()
	// Once hosts have taken the first stripes, 8 of them die.
	waitStoredShards := func(min int) {
		deadline := time.Now().Add(30 * time.Second)
		for sumMetric(t, m, "offgrid_shards_stored_total") < min {
			if time.Now().After(deadline) {
				t.Fatalf("hosts stored fewer than %d shards within 30s", min)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitStoredShards(40)
	for i := 10; i < 18; i++ {
		m.kill(i)
	}
	res := <-done
	if res.err != nil {
		// Allowed: the put says what is missing, and resuming completes it.
		if !strings.Contains(res.err.Error(), "stripe") {
			t.Fatalf("put with hosts dying = %v, want it to name the stripes short of shards", res.err)
		}
		for i := 10; i < 18; i++ {
			m.restart(i)
		}
		m.waitPeers(0, 19)
		res.out = mustCLI(t, m.env(0), "put", src, "--json", "--no-progress", "--k", "12", "--n", "20", "--shard-size", "262144")
	}
	var a assetJSON
	if err := json.Unmarshal([]byte(res.out), &a); err != nil {
		t.Fatalf("put output %q: %v", res.out, err)
	}
	if a.State == "pending" || a.State == "lost" || a.MinLive < a.K {
		t.Fatalf("put = %+v, want every stripe with at least k live shards", a)
	}
	got := filepath.Join(t.TempDir(), "got.bin")
	mustCLI(t, m.env(0), "get", a.AssetID, "-o", got, "--no-progress")
	sameBytes(t, src, got)
}
