package server_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/offgrid-net/offgrid/server"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// TestPprof: the profiles are off by default; with Pprof on they are served
// only to a loopback client with the admin token.
func TestPprof(t *testing.T) {
	tn := servertest.Start(t, servertest.Options{})
	srv, err := server.New(server.Config{Node: tn.Node, Pprof: true})
	if err != nil {
		t.Fatal(err)
	}
	on := httptest.NewServer(srv.Handler())
	t.Cleanup(on.Close)

	tests := []struct {
		name, base, path, token string
		want                    int
		// body is a part of the answer's body.
		body string
	}{
		{name: "off by default", base: tn.URL, path: "/debug/pprof/", token: servertest.AdminToken, want: 404},
		{name: "no token", base: on.URL, path: "/debug/pprof/", want: 401, body: "admin token"},
		{name: "wrong token", base: on.URL, path: "/debug/pprof/goroutine", token: "wrong-token-0123456789", want: 401},
		{name: "index", base: on.URL, path: "/debug/pprof/", token: servertest.AdminToken, want: 200, body: "goroutine"},
		{name: "named profile", base: on.URL, path: "/debug/pprof/goroutine?debug=1", token: servertest.AdminToken,
			want: 200, body: "goroutine profile"},
		{name: "cmdline", base: on.URL, path: "/debug/pprof/cmdline", token: servertest.AdminToken, want: 200},
		{name: "unknown profile", base: on.URL, path: "/debug/pprof/nosuch", token: servertest.AdminToken, want: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tt.base+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := tn.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want || !strings.Contains(string(body), tt.body) {
				t.Errorf("GET %s = %d %.200q, want %d containing %q", tt.path, resp.StatusCode, body, tt.want, tt.body)
			}
		})
	}

	// A client from another machine is refused even with the token. (No
	// packet leaves the host: the request goes to the handler directly.)
	req := httptest.NewRequest(http.MethodGet, "/debug/pprof/", nil)
	req.Host = "127.0.0.1"
	req.RemoteAddr = "192.0.2.7:40000"
	req.Header.Set("Authorization", "Bearer "+servertest.AdminToken)
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("GET /debug/pprof/ from 192.0.2.7 = %d, want 403", rec.Code)
	}
}
