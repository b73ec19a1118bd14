package server_test

import (
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/backoff"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// TestAdminTokenBackoff: an address that keeps sending wrong admin tokens
// to the API waits, as at the dashboard's login and in the same table:
// after backoff.FreeFailures wrong tokens every request with a token is 429
// with Retry-After, the right token too, and the dashboard's login from
// that address is refused as well; another address is not affected; once
// the wait is over the right token works again.
func TestAdminTokenBackoff(t *testing.T) {
	tn := servertest.Start(t, servertest.Options{})
	toggle := func(c *http.Client, token string) response {
		t.Helper()
		req := newRequest(t, tn, http.MethodPost, "/toggle", []byte(`{"active":true}`), false)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("POST /toggle: %v", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return response{resp, body}
	}
	from1, from2 := clientFrom(t, "127.0.0.1"), clientFrom(t, "127.0.0.2")
	for i := range backoff.FreeFailures {
		if r := toggle(from1, "wrong-token-0123456789"); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token #%d = %d %s, want 401", i+1, r.StatusCode, r.body)
		}
	}
	for _, token := range []string{"wrong-token-0123456789", servertest.AdminToken} {
		r := toggle(from1, token)
		checkProblem(t, "a token while backing off", r, http.StatusTooManyRequests)
		if ra := r.Header.Get("Retry-After"); ra != "1" {
			t.Errorf("Retry-After = %q, want 1", ra)
		}
		if !strings.Contains(string(r.body), "too many wrong admin tokens") {
			t.Errorf("429 body %s does not say why", r.body)
		}
	}
	resp, err := from1.PostForm(tn.URL+"/login", url.Values{"token": {servertest.AdminToken}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("dashboard login from the same address = %d, want 429 (one table for API and dashboard)", resp.StatusCode)
	}
	if r := toggle(from2, servertest.AdminToken); r.StatusCode != http.StatusOK {
		t.Errorf("right token from another address = %d %s, want 200", r.StatusCode, r.body)
	}
	time.Sleep(backoff.BaseBackoff + 100*time.Millisecond)
	if r := toggle(from1, servertest.AdminToken); r.StatusCode != http.StatusOK {
		t.Errorf("right token after the wait = %d %s, want 200", r.StatusCode, r.body)
	}
}

// clientFrom returns a client whose connections come from the loopback
// address ip (any of 127.0.0.0/8 works on Linux). It does not follow
// redirects.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
