package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// TestHostAllowList refuses Host names that are not IP literals, localhost
// or configured, so that DNS rebinding cannot reach the node.
func TestHostAllowList(t *testing.T) {
	testutil.CheckGoroutines(t)
	tn := servertest.Start(t, servertest.Options{AllowedHosts: []string{"node.example"}})
	for _, tc := range []struct {
		host string
		want int
	}{
		{"evil.example", http.StatusMisdirectedRequest},
		{"evil.example:8081", http.StatusMisdirectedRequest},
		{"node.example.evil.example", http.StatusMisdirectedRequest},
		{"node.example", http.StatusOK},
		{"NODE.example:8081", http.StatusOK},
		{"localhost:8081", http.StatusOK},
		{"127.0.0.1", http.StatusOK},
		{"[::1]:8081", http.StatusOK},
	} {
		t.Run(tc.host, func(t *testing.T) {
			req := newRequest(t, tn, "GET", "/announce", nil, false)
			req.Host = tc.host
			r := do(t, tn, req)
			if tc.want != http.StatusOK {
				checkProblem(t, "GET /announce with Host "+tc.host, r, tc.want)
			} else if r.StatusCode != tc.want {
				t.Errorf("GET /announce with Host %s = %d, want %d", tc.host, r.StatusCode, tc.want)
			}
		})
	}
}

// TestCrossOriginProtection refuses state-changing requests a browser
// makes from another site, even with the admin token, and lets
// non-browser clients (no Origin) and same-origin pages through.
func TestCrossOriginProtection(t *testing.T) {
	testutil.CheckGoroutines(t)
	tn := servertest.Start(t, servertest.Options{})
	before := snapshot(t, tn)
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"cross-site fetch", map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"old browser, foreign Origin", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(t, tn, "POST", "/toggle", []byte(`{"active":false}`), true)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			checkProblem(t, "POST /toggle "+tc.name, do(t, tn, req), tc.want)
		})
	}
	if after := snapshot(t, tn); after.Announce != before.Announce {
		t.Errorf("refused cross-origin toggles changed the announce:\nbefore %s\nafter  %s", before.Announce, after.Announce)
	}
	for _, tc := range []struct {
		name   string
		header map[string]string
	}{
		{"curl (no Origin)", nil},
		{"same-origin page", map[string]string{"Origin": tn.URL, "Sec-Fetch-Site": "same-origin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := newRequest(t, tn, "POST", "/toggle", []byte(`{"active":true}`), true)
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			if r := do(t, tn, req); r.StatusCode != http.StatusOK {
				t.Errorf("POST /toggle from %s = %d, want 200: %s", tc.name, r.StatusCode, r.body)
			}
		})
	}
}

// TestLoginMetrics checks that the dashboard's login counters reach
// /metrics through the server's wiring.
func TestLoginMetrics(t *testing.T) {
	testutil.CheckGoroutines(t)
	tn := servertest.Start(t, servertest.Options{})
	for range 6 {
		req := newRequest(t, tn, "POST", "/login", []byte("token=wrong"), false)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		do(t, tn, req)
	}
	body := string(call(t, tn, "GET", "/metrics", nil, false).body)
	for _, want := range []string{"offgrid_dashboard_login_failures_total 5", "offgrid_dashboard_login_throttled_total 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
