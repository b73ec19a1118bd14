package web

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/offgrid-net/offgrid/internal/backoff"
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
		if i < backoff.FreeFailures {
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
	for range backoff.FreeFailures {
		e.loginFrom(t, first, "wrong")
	}
	if resp, _ := e.loginFrom(t, first, testToken); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right token while backing off = %d, want 429", resp.StatusCode)
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		e.loginFrom(t, clientFrom(t, ip), "wrong")
	}
	if got := e.h.logins.Len(); got != 2 {
		t.Errorf("back-off table holds %d addresses, want its bound 2", got)
	}
	if resp, _ := e.loginFrom(t, first, testToken); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("right token after its entry was evicted = %d, want 303", resp.StatusCode)
	}
}
