package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/offgrid-net/offgrid/api"
	"github.com/offgrid-net/offgrid/internal/backoff"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
	"github.com/offgrid-net/offgrid/web"
)

// Config configures the HTTP server.
type Config struct {
	// Listen is the TCP address to listen on, e.g. "127.0.0.1:8081". With
	// the node's endpoint and AllowedHosts it makes the node's names: a node
	// signature must be made for one of them. Set it also when serving on
	// a listener of your own (Serve) at that address.
	Listen string
	// Node is the engine to serve. Required.
	Node *node.Node
	// AllowedHosts are host names (without port) the server answers to, besides
	// IP literals, "localhost" and the endpoint's host. Requests naming any
	// other Host are refused, so a web page cannot reach the dashboard by DNS
	// rebinding. At the ports of the endpoint and Listen they are also names
	// node signatures may be made for.
	AllowedHosts []string
	// Gatherer provides /metrics. Default: none.
	Gatherer prometheus.Gatherer
	// Registerer receives the server's own metrics. Default: none.
	Registerer prometheus.Registerer
	// Logger receives request logs. Default: discard.
	Logger *slog.Logger
	// ShutdownTimeout bounds draining in-flight requests on stop. Default 10 s.
	ShutdownTimeout time.Duration
	// SecureCookies marks dashboard cookies Secure (when served over TLS by a proxy).
	SecureCookies bool
	// Pprof serves Go's runtime profiles under /debug/pprof/ to loopback
	// clients with the admin token. Default off.
	Pprof bool
}

// Server serves the API and the dashboard.
type Server struct {
	cfg     Config
	handler http.Handler
	log     *slog.Logger
}

// New builds the router. It starts nothing.
func New(cfg Config) (*Server, error) {
	if cfg.Node == nil {
		return nil, errors.New("server: node is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout == 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	log := cfg.Logger.With("component", "server")
	// One back-off table for wrong admin tokens, at the dashboard's login
	// and at the API alike.
	logins := backoff.New(backoff.DefaultMaxAddresses, time.Now)
	dash, err := web.New(web.Config{Node: cfg.Node, Logger: cfg.Logger.With("component", "web"),
		SecureCookies: cfg.SecureCookies, Registerer: cfg.Registerer, Logins: logins})
	if err != nil {
		return nil, err
	}
	m := newHTTPMetrics(cfg.Registerer)
	own := newNames(cfg.Node.Info().Endpoint, cfg.Listen, cfg.AllowedHosts)
	r := chi.NewRouter()
	r.Use(recoverer(log), m.middleware, requestLog(log), hostAllowList(own), bodyDeadline(cfg.Node.BodyLimits()))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		problem.WriteStatus(w, r, http.StatusNotFound, "no such endpoint")
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		problem.WriteStatus(w, r, http.StatusMethodNotAllowed, "method not allowed on this endpoint")
	})
	if err := api.Register(r, api.Config{Node: cfg.Node, Logger: cfg.Logger.With("component", "api"), Gatherer: cfg.Gatherer, OwnHost: own.ownHost, Logins: logins}); err != nil {
		return nil, err
	}
	if cfg.Pprof {
		r.Mount("/debug/pprof", pprofRoutes(cfg.Node, logins, log))
	}
	r.Mount("/", dash.Routes())
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem.WriteStatus(w, r, http.StatusForbidden, "cross-origin request refused")
	}))
	return &Server{cfg: cfg, handler: csrf.Handler(r), log: log}, nil
}

// Handler returns the root handler, for tests with httptest.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on cfg.Listen and serves until ctx ends, then drains
// in-flight requests for up to ShutdownTimeout.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends; see Run.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		// Uploads of large shards over a slow mesh take time; bound idle
		// connections rather than whole requests.
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
		// Shutdown does not wait for hijacked websocket connections; their
		// handlers see this context end and close them.
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.log.Info("HTTP server listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	start := time.Now()
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		srv.Close()
	}
	<-errc
	s.log.Info("HTTP server stopped", "took", time.Since(start).String())
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// hostAllowList refuses requests whose Host is a name not among the node's
// names: IP literals and localhost are always allowed.
func hostAllowList(own *names) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !own.allowedHost(r.Host) {
				host, _ := splitHost(r.Host)
				problem.WriteStatus(w, r, http.StatusMisdirectedRequest,
					fmt.Sprintf("host %q is not allowed; add it with --allowed-hosts", host))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func recoverer(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					log.Error("Handler panicked", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
					problem.WriteInternal(w, r)
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

func requestLog(log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !log.Enabled(r.Context(), slog.LevelDebug) {
				next.ServeHTTP(w, r)
				return
			}
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			next.ServeHTTP(sw, r)
			log.Debug("Request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "took", time.Since(start).String())
		})
	}
}
