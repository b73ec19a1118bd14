package web

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/offgrid-net/offgrid/node"
)

// clientFrom returns a client whose connections come from the loopback
// address ip (any of 127.0.0.0/8 works on Linux), so a test can be several
// clients on one machine. It does not follow redirects.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{
		Transport:     tr,
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// loginFrom posts token to /login with c and returns the response and its
// body.
func (e *testEnv) loginFrom(t *testing.T, c *http.Client, token string) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(e.srv.URL+"/login", url.Values{"token": {token}})
	if err != nil {
		t.Fatalf("POST /login: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST /login: read body: %v", err)
	}
	return resp, string(b)
}

// counter returns the value of the counter called name in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func hasSessionCookie(resp *http.Response) bool {
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie && c.Value != "" {
			return true
		}
	}
	return false
}

// TestLoginBackoff sends 300 guesses from one address, as the issue's
// attacker did: after 5 wrong tokens every attempt is refused unread with
// 429 and Retry-After, the right token included, while another address
// logs in; once the wait is over the right token works and the count is
// forgotten. Only checked failures are events; all are metrics.
func TestLoginBackoff(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	e := newTestEnv(t, envOptions{web: func(c *Config) { c.Registerer = reg }})
	sub := e.subscribe(t)
	attacker, other := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2")

	var got []int
	for i := range 300 {
		resp, body := e.loginFrom(t, attacker, "guess-"+strconv.Itoa(i))
		got = append(got, resp.StatusCode)
		if hasSessionCookie(resp) {
			t.Fatalf("guess %d set a session cookie", i)
		}
		switch {
		case i == 4:
			if msg, _ := testIDText(body, "login-error"); !strings.Contains(msg, "wait 1 second") {
				t.Errorf("5th wrong token: login-error = %q, want it to say to wait 1 second", msg)
			}
		case i >= 5:
			if ra := resp.Header.Get("Retry-After"); ra != "1" {
				t.Fatalf("guess %d: Retry-After = %q, want 1", i, ra)
			}
			if msg, _ := testIDText(body, "login-error"); !strings.Contains(msg, "Too many wrong admin tokens") || !hasTestID(body, "login-token") {
				t.Fatalf("guess %d: want the form saying why, got login-error %q", i, msg)
			}
		}
	}
	want := make([]int, 300)
	for i := range want {
		want[i] = http.StatusTooManyRequests
		if i < loginFreeFailures {
			want[i] = http.StatusUnauthorized
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statuses of 300 guesses from one address (-want +got):\n%s", diff)
	}

	if resp, _ := e.loginFrom(t, attacker, testToken); resp.StatusCode != http.StatusTooManyRequests || hasSessionCookie(resp) {
		t.Errorf("right token during the back-off = %d (cookie %v), want 429 without a session", resp.StatusCode, hasSessionCookie(resp))
	}
	// A proxy header does not make the attacker someone else.
	req, err := http.NewRequest("POST", e.srv.URL+"/login", strings.NewReader(url.Values{"token": {testToken}}.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-For", "192.0.2.99")
	resp, err := attacker.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("right token with X-Forwarded-For during the back-off = %d, want 429", resp.StatusCode)
	}
	if resp, _ := e.loginFrom(t, other, "a wrong one"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("another address's wrong token = %d, want 401: it has its own count", resp.StatusCode)
	}
	if resp, _ := e.loginFrom(t, other, testToken); resp.StatusCode != http.StatusSeeOther || !hasSessionCookie(resp) {
		t.Errorf("another address's right token = %d, want 303 with a session", resp.StatusCode)
	}

	// The wait is over: one more wrong token doubles it.
	e.clock.Advance(time.Second)
	if resp, _ := e.loginFrom(t, attacker, "guess-again"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong token after the back-off = %d, want 401", resp.StatusCode)
	}
	if resp, _ := e.loginFrom(t, attacker, testToken); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("right token in the doubled back-off = %d Retry-After %q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	e.clock.Advance(2 * time.Second)
	if resp, _ := e.loginFrom(t, attacker, testToken); resp.StatusCode != http.StatusSeeOther || !hasSessionCookie(resp) {
		t.Fatalf("right token after the back-off = %d, want 303 with a session", resp.StatusCode)
	}
	// A login forgets the count: the next typo is free again.
	if resp, _ := e.loginFrom(t, attacker, "typo"); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong token after a login = %d, want 401", resp.StatusCode)
	}

	// 5 + 1 + 1 wrong tokens from the attacker, 1 from the other address.
	if got := counter(t, reg, "offgrid_dashboard_login_failures_total"); got != 8 {
		t.Errorf("offgrid_dashboard_login_failures_total = %v, want 8", got)
	}
	// 295 guesses and 3 right tokens refused unread.
	if got := counter(t, reg, "offgrid_dashboard_login_throttled_total"); got != 298 {
		t.Errorf("offgrid_dashboard_login_throttled_total = %v, want 298", got)
	}
	var evs []node.LoginRefused
	for _, ev := range published(sub) {
		if lr, ok := ev.(node.LoginRefused); ok {
			evs = append(evs, lr)
		}
	}
	wantEvs := []node.LoginRefused{
		{Remote: "127.0.0.1", Failures: 1}, {Remote: "127.0.0.1", Failures: 2}, {Remote: "127.0.0.1", Failures: 3},
		{Remote: "127.0.0.1", Failures: 4}, {Remote: "127.0.0.1", Failures: 5, Backoff: time.Second},
		{Remote: "127.0.0.2", Failures: 1},
		{Remote: "127.0.0.1", Failures: 6, Backoff: 2 * time.Second},
		{Remote: "127.0.0.1", Failures: 1},
	}
	if diff := cmp.Diff(wantEvs, evs); diff != "" {
		t.Errorf("LoginRefused events (-want +got):\n%s", diff)
	}
}

// TestLoginRefusedOnFeed checks that a refused login shows up on the
// dashboard's live feed.
func TestLoginRefusedOnFeed(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	conn := e.dialFeed(t, e.login(t))
	if resp, _ := e.do(t, "POST", "/login", url.Values{"token": {"not it"}}, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /login wrong token = %d, want 401", resp.StatusCode)
	}
	msg := readUntil(t, conn, `data-kind="login"`)
	wantAll(t, "login", msg, "Refused a dashboard login from 127.0.0.1", "1 in a row")
}

// TestLoginBackoffTableBounded fills a small back-off table over HTTP:
// the address whose last failure is the oldest is forgotten first.
func TestLoginBackoffTableBounded(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{web: func(c *Config) { c.MaxLoginAddresses = 2 }})
	first := clientFrom(t, "127.0.0.1")
	for range loginFreeFailures {
		e.loginFrom(t, first, "wrong")
	}
	if resp, _ := e.loginFrom(t, first, testToken); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right token while backing off = %d, want 429", resp.StatusCode)
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		e.loginFrom(t, clientFrom(t, ip), "wrong")
	}
	if got := e.h.logins.len(); got != 2 {
		t.Errorf("back-off table holds %d addresses, want its bound 2", got)
	}
	if resp, _ := e.loginFrom(t, first, testToken); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("right token after its entry was evicted = %d, want 303", resp.StatusCode)
	}
}

// TestLoginLimiter checks the back-off schedule, expiry and the table's
// bound with many more addresses than it holds.
func TestLoginLimiter(t *testing.T) {
	t.Parallel()
	t.Run("schedule", func(t *testing.T) {
		clock := newTestClock()
		l := newLoginLimiter(DefaultMaxLoginAddresses, clock.Now)
		a := netip.MustParseAddr("192.0.2.7")
		want := []time.Duration{0, 0, 0, 0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second}
		for range 10 {
			want = append(want, min(2*want[len(want)-1], loginMaxBackoff))
		}
		want = append(want, loginMaxBackoff, loginMaxBackoff) // and it stays there
		var got []time.Duration
		for i := range want {
			failures, backoff := l.fail(a)
			if failures != i+1 {
				t.Fatalf("fail #%d reported %d failures", i+1, failures)
			}
			if w := l.wait(a); w != backoff {
				t.Fatalf("wait after fail #%d = %v, want the back-off %v", i+1, w, backoff)
			}
			got = append(got, backoff)
			clock.Advance(backoff)
			if w := l.wait(a); w != 0 {
				t.Fatalf("wait once the back-off of fail #%d passed = %v, want 0", i+1, w)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("back-off per failure (-want +got):\n%s", diff)
		}
		// A day after the last failure the address starts afresh.
		clock.Advance(loginForget)
		if failures, backoff := l.fail(a); failures != 1 || backoff != 0 {
			t.Errorf("fail a day later = %d failures, back-off %v; want 1 and 0", failures, backoff)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		clock := newTestClock()
		l := newLoginLimiter(DefaultMaxLoginAddresses, clock.Now)
		const n = 10000
		addrs := make([]netip.Addr, n)
		for i := range addrs {
			addrs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			l.fail(addrs[i])
			clock.Advance(time.Millisecond)
			if got := l.len(); got > DefaultMaxLoginAddresses {
				t.Fatalf("table holds %d addresses after %d, want at most %d", got, i+1, DefaultMaxLoginAddresses)
			}
		}
		// The newest addresses are remembered, the oldest forgotten.
		if failures, _ := l.fail(addrs[n-1]); failures != 2 {
			t.Errorf("newest address: %d failures, want 2 (remembered)", failures)
		}
		if failures, _ := l.fail(addrs[0]); failures != 1 {
			t.Errorf("oldest address: %d failures, want 1 (evicted)", failures)
		}
		// Expired entries go before live ones are evicted.
		clock.Advance(loginForget)
		l.fail(netip.MustParseAddr("192.0.2.1"))
		if got := l.len(); got != 1 {
			t.Errorf("table holds %d addresses after all expired and one failure, want 1", got)
		}
	})
}

func TestClientAddr(t *testing.T) {
	t.Parallel()
	tests := []struct {
		remote string
		want   string
		label  string
	}{
		{"192.0.2.7:5555", "192.0.2.7", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:5555", "192.0.2.7", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", "2001:db8:1:2::", "2001:db8:1:2::/64"},
		{"[fe80::1%eth0]:80", "fe80::", "fe80::/64"},
		{"[::1]:80", "::", "::/64"},
		{"not an address", "invalid IP", "invalid IP"},
	}
	for _, tt := range tests {
		r := httptest.NewRequestWithContext(context.Background(), "POST", "/login", nil)
		r.RemoteAddr = tt.remote
		if got := clientAddr(r).String(); got != tt.want {
			t.Errorf("clientAddr(%q) = %q, want %q", tt.remote, got, tt.want)
		}
		if got := addrLabel(clientAddr(r)); got != tt.label {
			t.Errorf("addrLabel(clientAddr(%q)) = %q, want %q", tt.remote, got, tt.label)
		}
	}
}
