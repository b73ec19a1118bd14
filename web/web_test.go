package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/node"
)

// testClock is a settable clock for session expiry tests.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type testEnv struct {
	srv   *httptest.Server
	h     *Handler
	fake  *fakeNode
	clock *testClock
	// stop cancels every request's context, as server shutdown does.
	stop context.CancelFunc
}

// newTestEnv serves a Handler over a fake node on a loopback server.
func newTestEnv(t *testing.T, mod ...func(*Config)) *testEnv {
	t.Helper()
	return newTestEnvH(t, nil, mod...)
}

// newTestEnvH is newTestEnv with a hook to adjust the Handler before it
// serves.
func newTestEnvH(t *testing.T, hmod func(*Handler), mod ...func(*Config)) *testEnv {
	t.Helper()
	clock := newTestClock()
	fake := newFakeNode(clock.Now)
	cfg := DefaultConfig()
	cfg.Node = fake
	cfg.Now = clock.Now
	for _, m := range mod {
		m(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if hmod != nil {
		hmod(h)
	}
	ctx, stop := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(h.Routes())
	srv.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	srv.Start()
	t.Cleanup(func() {
		stop()
		srv.Close()
	})
	return &testEnv{srv: srv, h: h, fake: fake, clock: clock, stop: stop}
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
	resp, err := e.client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, string(b)
}

// login logs in with the fake's token and returns the Cookie header value.
func (e *testEnv) login(t *testing.T) string {
	t.Helper()
	resp, _ := e.do(t, "POST", "/login", url.Values{"token": {fakeToken}}, nil)
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
	fake := newFakeNode(time.Now)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no node", Config{}},
		{"negative ttl", Config{Node: fake, SessionTTL: -time.Second}},
		{"negative max sessions", Config{Node: fake, MaxSessions: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Errorf("New(%+v) error = nil, want an error", tt.cfg)
			}
		})
	}
	if _, err := New(Config{Node: fake}); err != nil {
		t.Errorf("New(Config{Node}) = %v, want nil (zero fields take defaults)", err)
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)

	resp, body := e.do(t, "GET", "/login", nil, nil)
	if resp.StatusCode != http.StatusOK || !hasTestID(body, "login-token") || !hasTestID(body, "login-submit") {
		t.Fatalf("GET /login = %d, want 200 with the login form:\n%s", resp.StatusCode, body)
	}

	t.Run("wrong token", func(t *testing.T) {
		for _, tok := range []string{"nope", "", fakeToken + "x"} {
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
		resp, _ := e.do(t, "POST", "/login", url.Values{"token": {fakeToken}}, nil)
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
		if got, _ := testIDText(body, "node-id"); got != string(fakeID) {
			t.Errorf("node-id = %q, want %q", got, fakeID)
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
	e := newTestEnv(t, func(c *Config) { c.SecureCookies = true })
	resp, _ := e.do(t, "POST", "/login", url.Values{"token": {fakeToken}}, nil)
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && !c.Secure {
			t.Errorf("cookie %+v not Secure with SecureCookies", c)
		}
	}
}

func TestSessionRequired(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
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
	if sa, up := e.fake.calls(); len(sa) != 0 || len(up) != 0 {
		t.Errorf("node calls without a session: SetActive %v, UpdateAnnounce %v; want none", sa, up)
	}
	// A made-up cookie is no session.
	resp, _ := e.do(t, "GET", "/", nil, map[string]string{"Cookie": sessionCookie + "=forged"})
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET / with forged cookie = %d, want 303", resp.StatusCode)
	}
}

func TestSessionExpiresAndLogout(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, func(c *Config) { c.SessionTTL = time.Hour })
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
	e := newTestEnv(t)
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
	for _, want := range []string{`ws-connect="/ui/ws"`, `hx-ext="ws"`, "/static/vendor/htmx.min.js", "/static/vendor/ws.min.js", "river-pi", "valley-mesh"} {
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
	e := newTestEnv(t)
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
	setActive, _ := e.fake.calls()
	if diff := cmp.Diff([]bool{false, true}, setActive); diff != "" {
		t.Errorf("SetActive calls mismatch (-want +got):\n%s", diff)
	}
}

func TestPricesBadInput(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
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
	if _, up := e.fake.calls(); len(up) != 0 {
		t.Errorf("UpdateAnnounce called %d times for bad input, want 0", len(up))
	}
	if got := e.fake.currentAnnounce().Prices.Compute; got != 1_500_000 {
		t.Errorf("compute price = %d after bad input, want unchanged 1500000", got)
	}
}

func TestPricesSave(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	cookie := e.login(t)
	form := url.Values{fieldCompute: {" 2.5 "}, fieldStorage: {"0.000001"}, fieldOncallMin: {"10"}, fieldBurstMax: {"100"}}
	resp, body := e.do(t, "POST", "/ui/prices", form, map[string]string{"Cookie": cookie, "HX-Request": "true"})
	if resp.StatusCode != http.StatusOK || !hasTestID(body, "prices-saved") {
		t.Fatalf("POST /ui/prices = %d, want 200 with prices-saved:\n%s", resp.StatusCode, body)
	}
	_, up := e.fake.calls()
	if len(up) != 1 {
		t.Fatalf("UpdateAnnounce calls = %d, want 1", len(up))
	}
	got := []any{*up[0].ComputePrice, *up[0].StoragePrice, *up[0].MinOncallPercent, *up[0].BurstPercentMax}
	if diff := cmp.Diff([]any{int64(2_500_000), int64(1), 10, 100}, got); diff != "" {
		t.Errorf("AnnounceUpdate mismatch (-want +got):\n%s", diff)
	}
	if !strings.Contains(body, `value="2.5"`) {
		t.Errorf("saved form does not show compute 2.5")
	}
}

func TestPricesNodeRefuses(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	e.fake.mu.Lock()
	e.fake.updateErr = fmt.Errorf("%w: min_oncall_percent (20) must not exceed burst_percent_max (10)", node.ErrInvalid)
	e.fake.mu.Unlock()
	cookie := e.login(t)
	form := url.Values{fieldCompute: {"1"}, fieldStorage: {"1"}, fieldOncallMin: {"5"}, fieldBurstMax: {"10"}}
	resp, body := e.do(t, "POST", "/ui/prices", form, map[string]string{"Cookie": cookie, "HX-Request": "true"})
	if resp.StatusCode != http.StatusUnprocessableEntity || !hasTestID(body, "prices-error") {
		t.Fatalf("POST /ui/prices = %d, want 422 with prices-error", resp.StatusCode)
	}
	if !strings.Contains(body, "must not exceed burst_percent_max") || strings.Contains(body, "invalid request:") {
		t.Errorf("want the node's message without the sentinel prefix, got:\n%s", body)
	}

	e.fake.mu.Lock()
	e.fake.updateErr = errors.New("disk I/O error at sector 7")
	e.fake.mu.Unlock()
	resp, body = e.do(t, "POST", "/ui/prices", form, map[string]string{"Cookie": cookie, "HX-Request": "true"})
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(body, "sector 7") {
		t.Errorf("internal error: status %d, leaked text %v; want 500 and no internal text", resp.StatusCode, strings.Contains(body, "sector 7"))
	}
}
