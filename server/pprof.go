package server

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/offgrid-net/offgrid/internal/backoff"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
)

// pprofRoutes serves Go's runtime profiles under /debug/pprof/ (Config
// Pprof). A profile shows the process's memory and code paths, and a CPU
// profile or trace keeps a CPU busy for as long as asked, so both are
// needed: the request must come from a loopback address (someone on this
// machine; a proxy in front would make every client look local, which is
// why the admin token is checked as well) and carry the admin token, with
// the same back-off for wrong tokens as the API and the dashboard.
func pprofRoutes(n *node.Node, logins *backoff.Limiter, log *slog.Logger) http.Handler {
	r := chi.NewRouter()
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ap, err := netip.ParseAddrPort(r.RemoteAddr)
			if err != nil || !ap.Addr().Unmap().IsLoopback() {
				problem.WriteStatus(w, r, http.StatusForbidden, "profiles are served only to loopback clients")
				return
			}
			addr := backoff.ClientAddr(r.RemoteAddr)
			if wait := logins.Wait(addr); wait > 0 {
				problem.Write(log, w, r, &problem.TooManyRequests{Wait: wait,
					Reason: fmt.Sprintf("too many wrong admin tokens; try again in %d s", backoff.Seconds(wait))})
				return
			}
			tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok {
				problem.WriteStatus(w, r, http.StatusUnauthorized, "send the admin token as Authorization: Bearer TOKEN")
				return
			}
			if !n.CheckAdminToken(tok) {
				logins.Fail(addr)
				problem.WriteStatus(w, r, http.StatusUnauthorized, "wrong admin token")
				return
			}
			logins.Succeed(addr)
			next.ServeHTTP(w, r)
		})
	})
	r.Get("/cmdline", pprof.Cmdline)
	r.Get("/profile", pprof.Profile)
	r.Get("/symbol", pprof.Symbol)
	r.Post("/symbol", pprof.Symbol)
	r.Get("/trace", pprof.Trace)
	// Index lists the profiles and serves each named one (heap, block,
	// goroutine, ...) by the last element of the path.
	r.Get("/*", pprof.Index)
	return r
}
