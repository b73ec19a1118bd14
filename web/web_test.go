package web

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/compute/computetest"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/radio"
	"github.com/offgrid-net/offgrid/radio/radiotest"
)

// newTestClock is a settable clock for session expiry tests.
func newTestClock() *testutil.Clock {
	return testutil.NewClock(time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC))
}

// testToken is the admin token of every test node.
const testToken = "s3cret-admin-token"

// testEndpoint is where other nodes would reach a test node's API. Nothing
// listens there: a lone node stores its own shards without HTTP.
const testEndpoint = "http://10.42.0.7:7420"

// envOptions change a test environment. Zero fields keep the defaults.
type envOptions struct {
	// node adjusts the node's configuration before node.New.
	node func(*node.Config)
	// web adjusts the dashboard's configuration before New.
	web func(*Config)
	// handler adjusts the Handler before it serves.
	handler func(*Handler)
	// links are the radio transports the node beacons and listens on, on
	// an in-memory mesh (radio/radiotest: the one fake, for the radio
	// hardware); the test sends other nodes' beacons on them (see
	// testEnv.hear).
	links []radio.Via
	// listener wraps the test server's listener.
	listener func(net.Listener) net.Listener
	// alone starts the node with no cluster document.
	alone bool
}

// testEnv is a real node serving its dashboard on a loopback server.
type testEnv struct {
	srv   *httptest.Server
	h     *Handler
	node  *node.Node
	clock *testutil.Clock
	// db is the node's database: tests break it through this handle.
	db *sql.DB
	// dir is the node's data directory (mesh.json, shard blobs).
	dir string
	// radio holds the test's end of each link in envOptions.links.
	radio map[radio.Via]radio.Link
	// stop cancels every request's context, as server shutdown does.
	stop context.CancelFunc
	// stopNode stops the node (Run returns) and waits for it; later node
	// calls fail with node.ErrStopped. It is safe to call more than once.
	stopNode func()
	// admin signs the node's cluster document (nil when it runs alone).
	admin *identity.Keys
	// keys are the node's own (a witness signs an economy's genesis).
	keys *identity.Keys
}

// newTestEnv starts a node on a SQLite file in a temporary directory,
// runs it until the test ends, and serves a Handler over it on a loopback
// server. The node and the dashboard share one settable clock. Cleanup
// closes the server, then stops the node and waits for Run, then closes
// the database.
func newTestEnv(t *testing.T, opts envOptions) *testEnv {
	t.Helper()
	clock := newTestClock()
	dir := t.TempDir()
	db, err := sqlitedb.Open(t.Context(), filepath.Join(dir, "offgrid.db"))
	if err != nil {
		t.Fatalf("sqlitedb.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	keys, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatalf("identity.Generate: %v", err)
	}

	ncfg := node.DefaultConfig()
	ncfg.Name = "river-pi"
	ncfg.ClusterID = "valley-mesh"
	ncfg.Endpoint = testEndpoint
	ncfg.DataDir = dir
	ncfg.AdminToken = testToken
	ncfg.Now = clock.Now
	// Repairs run when a test asks (RepairAsset), never behind its back.
	ncfg.Assets.RepairInterval = -1
	// Tests write mesh.json and wait for the node to read it.
	ncfg.Peers.MeshPollInterval = 20 * time.Millisecond
	// Compiling a Go WASI module under the race detector takes longer
	// than a dashboard submit may (the compute and server tests do the
	// same).
	ncfg.Jobs.Limits.Interpreter = computetest.Race
	ends := map[radio.Via]radio.Link{}
	if len(opts.links) > 0 {
		mesh := radiotest.NewMesh()
		for _, via := range opts.links {
			ncfg.Peers.Links = append(ncfg.Peers.Links, mesh.Link(via))
			ends[via] = mesh.Link(via)
		}
		// Beacons and expiry checks run often in real time; peers go down
		// or are forgotten only when the test moves the clock.
		ncfg.Peers.BeaconInterval = 20 * time.Millisecond
		ncfg.Peers.DownAfter = time.Hour
		ncfg.Peers.Expiry = 1000 * time.Hour
	}
	if opts.node != nil {
		opts.node(&ncfg)
	}
	n, err := node.New(t.Context(), ncfg, keys, db)
	if err != nil {
		t.Fatalf("node.New: %v", err)
	}
	runCtx, cancelRun := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- n.Run(runCtx) }()
	var stopOnce sync.Once
	stopNode := func() {
		stopOnce.Do(func() {
			cancelRun()
			if err := <-runErr; err != nil {
				t.Errorf("node.Run: %v", err)
			}
		})
	}
	t.Cleanup(stopNode)

	cfg := DefaultConfig()
	cfg.Node = n
	cfg.Now = clock.Now
	if opts.web != nil {
		opts.web(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if opts.handler != nil {
		opts.handler(h)
	}
	ctx, stop := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(h.Routes())
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	if opts.listener != nil {
		srv.Listener = opts.listener(srv.Listener)
	}
	srv.Start()
	t.Cleanup(func() {
		stop()
		srv.Close()
	})
	e := &testEnv{srv: srv, h: h, node: n, keys: keys, clock: clock, db: db, dir: dir, radio: ends, stop: stop, stopNode: stopNode}
	if !opts.alone {
		e.startCluster(t)
	}
	return e
}

// startCluster puts the node in a cluster of its own whose admin key the
// test holds (see admit).
func (e *testEnv) startCluster(t *testing.T) {
	t.Helper()
	admin, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := cluster.NewID(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d, err := cluster.New(id, []identity.NodeID{admin.ID()}, 1, []cluster.Member{{ID: e.node.Info().ID, Name: e.node.Info().Name}})
	if err != nil {
		t.Fatal(err)
	}
	e.admin = admin
	e.install(t, d)
}

// admit admits ids to the node's cluster, as its admin would.
func (e *testEnv) admit(t *testing.T, ids ...identity.NodeID) {
	t.Helper()
	d, _ := e.node.Cluster()
	next := d
	for _, id := range ids {
		var err error
		if next, err = next.WithMember(id, "t-"+string(id[len(id)-6:])); err != nil {
			t.Fatal(err)
		}
	}
	next.Serial = d.Serial + 1
	e.install(t, next)
}

func (e *testEnv) install(t *testing.T, d cluster.Document) {
	t.Helper()
	d, err := d.Sign(e.admin)
	if err != nil {
		t.Fatal(err)
	}
	b, err := d.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.node.JoinCluster(t.Context(), b); err != nil {
		t.Fatalf("install cluster document: %v", err)
	}
}

// waitFor polls cond until it holds, failing t after a few seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// subscribe subscribes to the node's events until the test ends.
func (e *testEnv) subscribe(t *testing.T) *node.Subscription {
	t.Helper()
	sub := e.node.Subscribe(1024)
	t.Cleanup(sub.Close)
	return sub
}

// published returns the events sub has buffered so far, without waiting.
// Node methods publish before they return, so after a response every event
// of its request is there.
func published(sub *node.Subscription) []node.Event {
	var out []node.Event
	for {
		select {
		case env, ok := <-sub.C():
			if !ok {
				return out
			}
			out = append(out, env.Event)
		default:
			return out
		}
	}
}

// announce returns the node's announce.
func (e *testEnv) announce(t *testing.T) node.Announce {
	t.Helper()
	a, err := e.node.Announce(t.Context())
	if err != nil {
		t.Fatalf("Announce: %v", err)
	}
	return a
}

// runJob has the node run a job metered at units compute units, which
// signs and stores a receipt, and returns it.
func (e *testEnv) runJob(t *testing.T, jobID string, units float64) ledger.Receipt {
	t.Helper()
	rc, err := e.node.RunJob(t.Context(), node.RunRequest{JobID: jobID, Metrics: map[string]float64{node.UnitsMetric: units}})
	if err != nil {
		t.Fatalf("RunJob(%s): %v", jobID, err)
	}
	return rc
}

// breakTable renames one of the node's tables through the test's own
// handle on its database, so that every query of it fails as on a damaged
// database. The node keeps running.
func (e *testEnv) breakTable(t *testing.T, table string) {
	t.Helper()
	if _, err := e.db.ExecContext(t.Context(), `ALTER TABLE `+table+` RENAME TO broken_`+table); err != nil {
		t.Fatalf("rename table %s: %v", table, err)
	}
}

// client returns an HTTP client that does not follow redirects.
func (e *testEnv) client() *http.Client {
	c := e.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

// do sends a request and returns the response with its body read.
func (e *testEnv) do(t *testing.T, method, path string, form url.Values, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return e.send(t, req)
}

// send sends req with the test client and returns the response with its
// whole body read.
func (e *testEnv) send(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := e.client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	return resp, string(b)
}

// login logs in with the node's admin token and returns the Cookie header
// value.
func (e *testEnv) login(t *testing.T) string {
	t.Helper()
	resp, _ := e.do(t, "POST", "/login", url.Values{"token": {testToken}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login status = %d, want 303", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			return c.Name + "=" + c.Value
		}
	}
	t.Fatal("POST /login set no session cookie")
	return ""
}

// testIDText returns the text directly inside the element carrying
// data-testid=id, and whether it was found.
func testIDText(body, id string) (string, bool) {
	re := regexp.MustCompile(`data-testid="` + regexp.QuoteMeta(id) + `"[^>]*>([^<]*)`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return "", false
	}
	return strings.TrimSpace(m[1]), true
}

func hasTestID(body, id string) bool {
	return strings.Contains(body, `data-testid="`+id+`"`)
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	n := newTestEnv(t, envOptions{}).node
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no node", Config{}},
		{"negative ttl", Config{Node: n, SessionTTL: -time.Second}},
		{"negative max sessions", Config{Node: n, MaxSessions: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Errorf("New(%+v) error = nil, want an error", tt.cfg)
			}
		})
	}
	if _, err := New(Config{Node: n}); err != nil {
		t.Errorf("New(Config{Node}) = %v, want nil (zero fields take defaults)", err)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})

	resp, body := e.do(t, "GET", "/login", nil, nil)
	if resp.StatusCode != http.StatusOK || !hasTestID(body, "login-token") || !hasTestID(body, "login-submit") {
		t.Fatalf("GET /login = %d, want 200 with the login form:\n%s", resp.StatusCode, body)
	}

	t.Run("wrong token", func(t *testing.T) {
		for _, tok := range []string{"nope", "", testToken + "x"} {
			resp, body := e.do(t, "POST", "/login", url.Values{"token": {tok}}, nil)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("POST /login token=%q status = %d, want 401", tok, resp.StatusCode)
			}
			if !hasTestID(body, "login-error") || !hasTestID(body, "login-token") {
				t.Errorf("POST /login token=%q: want the form with login-error, got:\n%s", tok, body)
			}
			if len(resp.Cookies()) != 0 {
				t.Errorf("POST /login token=%q set cookies %v, want none", tok, resp.Cookies())
			}
		}
	})

	t.Run("right token", func(t *testing.T) {
		resp, _ := e.do(t, "POST", "/login", url.Values{"token": {testToken}}, nil)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
			t.Fatalf("POST /login = %d Location %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
		}
		var c *http.Cookie
		for _, ck := range resp.Cookies() {
			if ck.Name == sessionCookie {
				c = ck
			}
		}
		if c == nil {
			t.Fatal("no session cookie")
		}
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
			t.Errorf("cookie = %+v, want HttpOnly, SameSite=Strict, Path=/, not Secure", c)
		}
		if c.MaxAge != int(DefaultSessionTTL/time.Second) {
			t.Errorf("cookie MaxAge = %d, want %d", c.MaxAge, int(DefaultSessionTTL/time.Second))
		}
		if len(c.Value) < 43 {
			t.Errorf("session id %q is shorter than 32 bytes of base64", c.Value)
		}
		resp, body := e.do(t, "GET", "/", nil, map[string]string{"Cookie": c.Name + "=" + c.Value})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET / with session = %d, want 200", resp.StatusCode)
		}
		if got, found := testIDText(body, "node-id"); !found || got != string(e.node.Info().ID) {
			t.Errorf("node-id = %q, want %q", got, e.node.Info().ID)
		}
		// Logged in: /login sends you home.
		resp, _ = e.do(t, "GET", "/login", nil, map[string]string{"Cookie": c.Name + "=" + c.Value})
		if resp.StatusCode != http.StatusSeeOther {
			t.Errorf("GET /login with session = %d, want 303", resp.StatusCode)
		}
	})
}

func TestSecureCookies(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{web: func(c *Config) { c.SecureCookies = true }})
	resp, _ := e.do(t, "POST", "/login", url.Values{"token": {testToken}}, nil)
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && !c.Secure {
			t.Errorf("cookie %+v not Secure with SecureCookies", c)
		}
	}
}

func TestSessionRequired(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	before := e.announce(t)
	sub := e.subscribe(t)
	htmx := map[string]string{"HX-Request": "true"}
	tests := []struct {
		method, path string
		hdr          map[string]string
		wantStatus   int
		wantLocation string
		wantHXRedir  string
	}{
		{"GET", "/", nil, http.StatusSeeOther, "/login", ""},
		{"GET", "/", htmx, http.StatusUnauthorized, "", "/login"},
		{"GET", "/ui/receipts", htmx, http.StatusUnauthorized, "", "/login"},
		{"GET", "/ui/peers", htmx, http.StatusUnauthorized, "", "/login"},
		{"POST", "/ui/toggle", htmx, http.StatusUnauthorized, "", "/login"},
		{"POST", "/ui/prices", htmx, http.StatusUnauthorized, "", "/login"},
		{"POST", "/ui/toggle", nil, http.StatusUnauthorized, "", ""},
		{"GET", "/ui/ws", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket"}, http.StatusUnauthorized, "", ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %s htmx=%v", tt.method, tt.path, tt.hdr != nil), func(t *testing.T) {
			var form url.Values
			if tt.method == "POST" {
				form = url.Values{"active": {"false"}}
			}
			resp, _ := e.do(t, tt.method, tt.path, form, tt.hdr)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := resp.Header.Get("Location"); got != tt.wantLocation {
				t.Errorf("Location = %q, want %q", got, tt.wantLocation)
			}
			if got := resp.Header.Get("HX-Redirect"); got != tt.wantHXRedir {
				t.Errorf("HX-Redirect = %q, want %q", got, tt.wantHXRedir)
			}
		})
	}
	// Nothing changed: no event, and the settings are as they were.
	if evs := published(sub); len(evs) != 0 {
		t.Errorf("node events after requests without a session: %+v, want none", evs)
	}
	if diff := cmp.Diff(before, e.announce(t)); diff != "" {
		t.Errorf("announce changed by requests without a session (-before +after):\n%s", diff)
	}
	// A made-up cookie is no session.
	resp, _ := e.do(t, "GET", "/", nil, map[string]string{"Cookie": sessionCookie + "=forged"})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / with forged cookie = %d, want 303", resp.StatusCode)
	}
}

func TestSessionExpiresAndLogout(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{web: func(c *Config) { c.SessionTTL = time.Hour }})
	cookie := e.login(t)
	hdr := map[string]string{"Cookie": cookie}
	if resp, _ := e.do(t, "GET", "/", nil, hdr); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d, want 200", resp.StatusCode)
	}
	e.clock.Advance(time.Hour)
	if resp, _ := e.do(t, "GET", "/", nil, hdr); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / after TTL = %d, want 303", resp.StatusCode)
	}

	cookie = e.login(t)
	hdr = map[string]string{"Cookie": cookie}
	resp, _ := e.do(t, "POST", "/logout", url.Values{}, hdr)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("POST /logout = %d %q, want 303 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}
	cleared := false
	for _, c := range resp.Cookies() {
		cleared = cleared || (c.Name == sessionCookie && c.MaxAge < 0)
	}
	if !cleared {
		t.Errorf("POST /logout cookies %v, want the session cookie cleared", resp.Cookies())
	}
	if resp, _ := e.do(t, "GET", "/", nil, hdr); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / after logout = %d, want 303", resp.StatusCode)
	}
}

func TestSessionStoreBounded(t *testing.T) {
	t.Parallel()
	clock := newTestClock()
	s := newSessionStore(3, time.Hour, clock.Now)
	var ids []string
	for range 5 {
		id, err := s.create()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		clock.Advance(time.Minute)
	}
	if got := s.len(); got != 3 {
		t.Errorf("len after 5 creates with max 3 = %d, want 3", got)
	}
	var got []bool
	for _, id := range ids {
		got = append(got, s.valid(id))
	}
	if diff := cmp.Diff([]bool{false, false, true, true, true}, got); diff != "" {
		t.Errorf("valid(ids) mismatch, want the oldest evicted (-want +got):\n%s", diff)
	}
	// Expired sessions are pruned before anything live is evicted.
	clock.Advance(time.Hour)
	if _, err := s.create(); err != nil {
		t.Fatal(err)
	}
	if got := s.len(); got != 1 {
		t.Errorf("len after expiry and one create = %d, want 1", got)
	}
}

func TestDashboardFullPageAndFragment(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{links: []radio.Via{"udp"}})
	e.runJob(t, "job-0001-7f3a9c2e", 1.25)
	e.runJob(t, "job-0002-7f3a9c2e", 2.5)
	for i := range 3 {
		e.hear(t, "udp", newTestPeer(t, fmt.Sprintf("http://10.42.0.%d:7420", 8+i), fmt.Sprintf("peer-%d", i)), true)
	}
	cookie := e.login(t)

	resp, body := e.do(t, "GET", "/", nil, map[string]string{"Cookie": cookie})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / = %d", resp.StatusCode)
	}
	if !strings.HasPrefix(body, "<!doctype html>") {
		t.Errorf("GET / is not a full page: %.80q", body)
	}
	for _, id := range []string{"node-id", "node-name", "active-state", "toggle-button", "price-compute", "price-storage",
		"oncall-min", "burst-max", "prices-save", "receipts-table", "peers-table", "feed", "header-node-name"} {
		if !hasTestID(body, id) {
			t.Errorf("GET / has no data-testid=%q", id)
		}
	}
	for _, want := range []string{`ws-connect="/ui/ws?after=`, `hx-ext="ws"`, "/static/vendor/htmx.min.js", "/static/vendor/ws.min.js", "river-pi", "valley-mesh"} {
		if !strings.Contains(body, want) {
			t.Errorf("GET / lacks %q", want)
		}
	}
	if got, _ := testIDText(body, "active-state"); got != "Active" {
		t.Errorf("active-state = %q, want Active", got)
	}
	if got := strings.Count(body, `data-testid="receipt-row"`); got != 2 {
		t.Errorf("receipt rows = %d, want 2", got)
	}
	if got := strings.Count(body, `data-testid="peer-row"`); got != 3 {
		t.Errorf("peer rows = %d, want 3", got)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("Content-Security-Policy = %q, want script-src 'self'", csp)
	}

	tests := []struct {
		path, wantID string
	}{
		{"/", "node-id"},
		{"/ui/receipts", "receipts-table"},
		{"/ui/peers", "peers-table"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := e.do(t, "GET", tt.path, nil, map[string]string{"Cookie": cookie, "HX-Request": "true"})
			if resp.StatusCode != http.StatusOK || !hasTestID(body, tt.wantID) {
				t.Fatalf("htmx GET %s = %d, want 200 with %s:\n%s", tt.path, resp.StatusCode, tt.wantID, body)
			}
			if strings.Contains(body, "<html") || strings.Contains(body, "<head") {
				t.Errorf("htmx GET %s returned a full page, want only the fragment", tt.path)
			}
			resp, body = e.do(t, "GET", tt.path, nil, map[string]string{"Cookie": cookie})
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "<!doctype html>") || !hasTestID(body, tt.wantID) {
				t.Errorf("plain GET %s = %d, want a full page with %s", tt.path, resp.StatusCode, tt.wantID)
			}
		})
	}
}

func TestToggle(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	sub := e.subscribe(t)
	cookie := e.login(t)
	hdr := map[string]string{"Cookie": cookie, "HX-Request": "true"}

	resp, body := e.do(t, "POST", "/ui/toggle", url.Values{"active": {"false"}}, hdr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /ui/toggle = %d:\n%s", resp.StatusCode, body)
	}
	if !strings.HasPrefix(body, `<section id="status-card"`) {
		t.Errorf("POST /ui/toggle body starts %.60q, want the status card fragment", body)
	}
	if got, _ := testIDText(body, "active-state"); got != "Inactive" {
		t.Errorf("active-state after switching off = %q, want Inactive", got)
	}
	if got, _ := testIDText(body, "toggle-button"); got != "Switch on" {
		t.Errorf("toggle-button = %q, want Switch on", got)
	}
	// Without "active" it flips; a plain form post is redirected home.
	resp, _ = e.do(t, "POST", "/ui/toggle", url.Values{}, map[string]string{"Cookie": cookie})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("plain POST /ui/toggle = %d %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = e.do(t, "POST", "/ui/toggle", url.Values{"active": {"maybe"}}, hdr)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("POST /ui/toggle active=maybe = %d, want 400", resp.StatusCode)
	}
	want := []node.Event{node.ToggleChanged{Active: false}, node.ToggleChanged{Active: true}}
	if diff := cmp.Diff(want, published(sub)); diff != "" {
		t.Errorf("node events mismatch, want one switch off and one on (-want +got):\n%s", diff)
	}
	if !e.announce(t).Active {
		t.Error("the node is off after switching off and flipping back")
	}
}

func TestPricesBadInput(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	before := e.announce(t)
	sub := e.subscribe(t)
	cookie := e.login(t)
	good := map[string]string{fieldCompute: "2.5", fieldStorage: "0.1", fieldOncallMin: "20", fieldBurstMax: "80"}
	tests := []struct {
		name, field, value string
	}{
		{"negative price", fieldCompute, "-1"},
		{"word", fieldCompute, "abc"},
		{"float syntax", fieldStorage, "1e3"},
		{"too many decimals", fieldStorage, "0.0000001"},
		{"empty", fieldCompute, ""},
		{"huge", fieldCompute, "99999999999999999999"},
		{"percent over 100", fieldOncallMin, "101"},
		{"negative percent", fieldBurstMax, "-5"},
		{"fraction percent", fieldBurstMax, "50.5"},
		{"min over burst", fieldOncallMin, "90"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{}
			for k, v := range good {
				form.Set(k, v)
			}
			form.Set(tt.field, tt.value)
			resp, body := e.do(t, "POST", "/ui/prices", form, map[string]string{"Cookie": cookie, "HX-Request": "true"})
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("status = %d, want 422", resp.StatusCode)
			}
			if !hasTestID(body, "prices-error") {
				t.Errorf("no prices-error in:\n%s", body)
			}
			if !strings.Contains(body, `id="e-`+tt.field+`"`) {
				t.Errorf("no inline error for %s", tt.field)
			}
			if !strings.Contains(body, `value="`+tt.value+`"`) {
				t.Errorf("the submitted value %q is not shown back", tt.value)
			}
			if strings.Contains(body, "<html") {
				t.Errorf("htmx request got a full page")
			}
		})
	}
	// The inline error for the field (not the node's form-wide summary)
	// says the dashboard refused the input itself; nothing changed.
	if evs := published(sub); len(evs) != 0 {
		t.Errorf("node events after bad input: %+v, want none", evs)
	}
	if diff := cmp.Diff(before, e.announce(t)); diff != "" {
		t.Errorf("announce changed by bad input (-before +after):\n%s", diff)
	}
}

func TestPricesSave(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	cookie := e.login(t)
	form := url.Values{fieldCompute: {" 2.5 "}, fieldStorage: {"0.000001"}, fieldOncallMin: {"10"}, fieldBurstMax: {"100"}}
	resp, body := e.do(t, "POST", "/ui/prices", form, map[string]string{"Cookie": cookie, "HX-Request": "true"})
	if resp.StatusCode != http.StatusOK || !hasTestID(body, "prices-saved") {
		t.Fatalf("POST /ui/prices = %d, want 200 with prices-saved:\n%s", resp.StatusCode, body)
	}
	a := e.announce(t)
	got := []any{a.Prices.Compute, a.Prices.Storage, a.MinOncallPercent, a.BurstPercentMax}
	if diff := cmp.Diff([]any{int64(2_500_000), int64(1), 10, 100}, got); diff != "" {
		t.Errorf("the node's settings after saving mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(body, `value="2.5"`) {
		t.Errorf("saved form does not show compute 2.5")
	}
}

func TestPricesNodeRefuses(t *testing.T) {
	t.Parallel()
	hdr := func(cookie string) map[string]string {
		return map[string]string{"Cookie": cookie, "HX-Request": "true"}
	}
	form := url.Values{fieldCompute: {"1"}, fieldStorage: {"1"}, fieldOncallMin: {"5"}, fieldBurstMax: {"10"}}

	// The form takes any price it can parse; the node at most a million
	// credits.
	e := newTestEnv(t, envOptions{})
	sub := e.subscribe(t)
	cookie := e.login(t)
	tooHigh := url.Values{fieldCompute: {"2000000"}, fieldStorage: {"1"}, fieldOncallMin: {"5"}, fieldBurstMax: {"10"}}
	resp, body := e.do(t, "POST", "/ui/prices", tooHigh, hdr(cookie))
	if resp.StatusCode != http.StatusUnprocessableEntity || !hasTestID(body, "prices-error") {
		t.Fatalf("POST /ui/prices = %d, want 422 with prices-error", resp.StatusCode)
	}
	if !strings.Contains(body, "compute price must be between 0 and 1000000") || strings.Contains(body, "invalid request:") {
		t.Errorf("want the node's message without the sentinel prefix, got:\n%s", body)
	}
	if !strings.Contains(body, `value="2000000"`) {
		t.Error("the refused value is not shown back")
	}
	if evs := published(sub); len(evs) != 0 {
		t.Errorf("node events after a refused update: %+v, want none", evs)
	}

	tests := []struct {
		name       string
		breakNode  func(t *testing.T, e *testEnv)
		wantStatus int
	}{
		// A damaged database is an internal error: its text stays in the log.
		{"internal", func(t *testing.T, e *testEnv) { e.breakTable(t, "node_settings") }, http.StatusInternalServerError},
		{"stopped", func(_ *testing.T, e *testEnv) { e.stopNode() }, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, envOptions{})
			cookie := e.login(t)
			tt.breakNode(t, e)
			resp, body := e.do(t, "POST", "/ui/prices", form, hdr(cookie))
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, "could not save the settings") {
				t.Errorf("POST /ui/prices = %d, want %d with the generic message:\n%s", resp.StatusCode, tt.wantStatus, body)
			}
			for _, leak := range []string{"node_settings", "no such table"} {
				if strings.Contains(body, leak) {
					t.Errorf("the form shows %q:\n%s", leak, body)
				}
			}
		})
	}
}
