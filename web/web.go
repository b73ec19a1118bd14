package web

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/offgrid-net/offgrid/broker"
	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/backoff"
	"github.com/offgrid-net/offgrid/ledger"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/node/jobs"
)

// Node is what the dashboard needs from the engine. *node.Node satisfies it.
//
// It has more than the usual five methods because the dashboard is a view of
// the whole node; each method is one thing the page shows or changes. All
// methods must be safe for concurrent use: every HTTP request and every live
// feed connection calls them from its own goroutine.
type Node interface {
	// Info returns the node's identity. It must not block.
	Info() node.Info
	// Announce returns the node's current availability and prices.
	Announce(ctx context.Context) (node.Announce, error)
	// SetActive switches the node on or off and returns the new announce.
	SetActive(ctx context.Context, active bool) (node.Announce, error)
	// UpdateAnnounce changes prices and on-call settings. Bad values give an
	// error wrapping node.ErrInvalid, and nothing changes.
	UpdateAnnounce(ctx context.Context, u node.AnnounceUpdate) (node.Announce, error)
	// RecentReceipts returns up to limit receipts, newest first.
	RecentReceipts(ctx context.Context, limit int) ([]ledger.Receipt, error)
	// RecentBlocks returns up to limit blocks, newest first, and how many
	// are stored.
	RecentBlocks(ctx context.Context, before int64, limit int) ([]ledger.StoredBlock, int, error)
	// Block returns the block named name (hex), or an error wrapping
	// node.ErrNotFound.
	Block(ctx context.Context, name string) (ledger.Block, error)
	// Peers returns the peer table.
	Peers(ctx context.Context) ([]node.Peer, error)
	// Mesh returns the mesh routing health. Without a routing daemon or a
	// readable metrics file it reports Source "none".
	Mesh(ctx context.Context) (node.MeshMetrics, error)
	// Subscribe returns a subscription to node events with the given buffer.
	// It must not block. A closed channel means the subscriber was dropped
	// for being slow, or the node stopped.
	Subscribe(buffer int) *node.Subscription
	// EventHistory returns the node's last events (at most
	// node.EventHistorySize), oldest first. It must not block.
	EventHistory() []node.Envelope
	// SubscribeAfter is Subscribe that also returns the kept events with a
	// sequence number above after, oldest first, taken together with the
	// subscription so that none is missed or repeated. It must not block.
	SubscribeAfter(buffer int, after uint64) ([]node.Envelope, *node.Subscription)
	// CheckAdminToken reports whether token is the node's admin token, in
	// constant time.
	CheckAdminToken(token string) bool
	// ReportLoginRefused shows a refused login on the node's event feed.
	// It must not block.
	ReportLoginRefused(e node.LoginRefused)
	// PutAsset stores the plaintext read from r across the mesh, reading it
	// as a stream. Errors wrap node.ErrInvalid (bad options, or a file
	// too large for the node's shard size limit) or node.ErrUnavailable
	// (not enough live hosts).
	PutAsset(ctx context.Context, r io.Reader, opts node.PutOptions) (node.Asset, error)
	// StoredAsset returns the file PutAsset with opts would answer
	// "already stored" with, reading nothing; an error wrapping
	// node.ErrNotFound when it would upload.
	StoredAsset(ctx context.Context, opts node.PutOptions) (node.Asset, error)
	// Assets lists the stored files, newest first.
	Assets(ctx context.Context) ([]node.Asset, error)
	// Cluster returns the installed cluster document; ok is false when
	// the node runs alone. ClusterProposal returns a change waiting for
	// admins' signatures. Neither blocks.
	Cluster() (cluster.Document, bool)
	ClusterProposal() (cluster.Document, bool)
	// PendingNodes lists non-members heard recently. It must not block.
	PendingNodes() []node.PendingNode
	// InitCluster starts a cluster with this node as admin and member;
	// AdmitNode admits a node (this node must be an admin). Errors wrap
	// node.ErrConflict or node.ErrInvalid.
	InitCluster(ctx context.Context, admins []identity.NodeID, threshold int) (cluster.Document, bool, error)
	AdmitNode(ctx context.Context, id identity.NodeID, name string) (cluster.Document, bool, error)
	// OpenAsset returns the plaintext of a stored file as a stream, with the
	// first stripe already fetched, so availability errors (wrapping
	// node.ErrUnavailable) and node.ErrNotFound come back here; a later Read
	// may still fail.
	OpenAsset(ctx context.Context, id string) (io.ReadCloser, node.Asset, error)
	// DeleteAsset forgets a stored file and asks its hosts to drop its
	// shards; node.ErrNotFound for an unknown ID.
	DeleteAsset(ctx context.Context, id string) (node.DeleteReport, error)
	// ImportAsset records a file another node shared with this one from its
	// share manifest; node.ErrForbidden when it names another node,
	// node.ErrBadSignature when its signature fails.
	ImportAsset(ctx context.Context, manifest []byte) (node.Asset, error)
	// ShareAsset returns a signed share manifest (JSON) of one of this
	// node's files for the node to, whose X25519 key is toBox (hex).
	ShareAsset(ctx context.Context, id string, to identity.NodeID, toBox string) ([]byte, error)
	// HostedShards returns how many shards the node holds and the bytes
	// their blobs take on disk.
	HostedShards(ctx context.Context) (count int, bytes int64, err error)
	// AssetDetail returns one stored file and where each of its shards is.
	// An unknown ID gives an error wrapping node.ErrNotFound.
	AssetDetail(ctx context.Context, id string) (node.Asset, []node.ShardPlace, error)
	// PeerDetail returns the peer whose node ID or endpoint is key, with
	// the shards each side holds for the other. An unknown key gives an
	// error wrapping node.ErrNotFound.
	PeerDetail(ctx context.Context, key string) (node.PeerDetail, error)
	// Balances returns every account's balance from final certificates;
	// TxPool this node's transactions not final yet. Both give an error
	// wrapping node.ErrConflict when the cluster has no economy.
	Balances(ctx context.Context) (node.Balances, error)
	TxPool(ctx context.Context) ([]node.TxState, error)
	// Owed returns up to limit accepted receipts the node has not paid
	// with a final payment, newest first, and what they sum to.
	Owed(ctx context.Context, limit int) ([]node.Owed, int64, error)
	// Transfer sends credits from this node's account (see
	// node.Node.Transfer).
	Transfer(ctx context.Context, req node.TransferRequest) (node.TxState, error)
	// Usage returns the node's storage and network figures now.
	Usage(ctx context.Context) (node.Usage, error)
	// History returns the node's recorded samples since a time, oldest
	// first.
	History(ctx context.Context, since time.Time) ([]node.Usage, error)
	// SubmitJob brokers a job to the mesh; bad input wraps
	// node.ErrInvalid or node.ErrTooLarge. Job and JobOutput give an
	// error wrapping node.ErrNotFound for an unknown ID; Jobs lists up to
	// limit jobs, newest first.
	SubmitJob(ctx context.Context, req jobs.SubmitRequest) (broker.Job, error)
	Job(ctx context.Context, id string) (broker.Job, error)
	Jobs(ctx context.Context, limit int) ([]broker.Job, error)
	JobOutput(ctx context.Context, id string) ([]byte, error)
}

// Config configures a Handler. Start from DefaultConfig.
type Config struct {
	// Node is the engine the dashboard shows and controls. Required.
	Node Node
	// Logger receives request-boundary errors and login events. Nil
	// discards them.
	Logger *slog.Logger
	// SessionTTL is how long a dashboard login lasts (fixed, not sliding).
	// Zero means the default, 12h; shorter is safer on shared machines.
	SessionTTL time.Duration
	// MaxSessions bounds the in-memory session table. When it is full, a new
	// login evicts the session closest to expiry. Zero means the default,
	// 256.
	MaxSessions int
	// MaxLoginAddresses bounds the login back-off table (client addresses
	// that recently sent a wrong admin token). When it is full, the
	// address whose last failure is the oldest is forgotten. Zero means
	// the default, 4096.
	MaxLoginAddresses int
	// Logins is the back-off table for wrong admin tokens, shared with the
	// API. Default: a table of MaxLoginAddresses of its own.
	Logins *backoff.Limiter
	// Registerer receives the dashboard's metrics (failed and throttled
	// logins). Nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock for session expiry, the login back-off and uptime.
	// Nil means time.Now.
	Now func() time.Time
	// SecureCookies marks the session cookie Secure. Set it when the
	// dashboard is served over HTTPS; browsers then never send the cookie
	// over plain HTTP. Off by default because mesh nodes usually serve HTTP.
	SecureCookies bool
}

// Defaults used when a Config field is zero.
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultMaxSessions = 256
)

// DefaultConfig returns a Config with every optional field set to its
// default. The caller still has to set Node.
func DefaultConfig() Config {
	return Config{
		SessionTTL:        DefaultSessionTTL,
		MaxSessions:       DefaultMaxSessions,
		MaxLoginAddresses: backoff.DefaultMaxAddresses,
		Now:               time.Now,
	}
}

// Handler serves the dashboard. Create it with New; it starts no goroutines
// of its own (each live feed connection runs two, owned by its request).
type Handler struct {
	node     Node
	log      *slog.Logger
	now      func() time.Time
	secure   bool
	ttl      time.Duration
	sessions *sessionStore
	logins   *backoff.Limiter
	metrics  *metrics
	assets   *assetServer
	upgrader websocket.Upgrader
	// peerHTTP reads other nodes' keys when a file is shared.
	peerHTTP limitedDoer
	// feedBuffer is the live feed subscription buffer; tests lower it.
	feedBuffer int
	// assetsThrottle is the least time between two assets card refreshes
	// on one live feed connection; tests lower it.
	assetsThrottle time.Duration
	// networkThrottle is the least time between two refreshes of the
	// peers card or the mesh card on one live feed connection; tests lower
	// it.
	networkThrottle time.Duration
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Node == nil {
		return nil, errors.New("web: Config.Node is nil")
	}
	if cfg.SessionTTL < 0 {
		return nil, fmt.Errorf("web: Config.SessionTTL %v is negative", cfg.SessionTTL)
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.MaxSessions < 0 {
		return nil, fmt.Errorf("web: Config.MaxSessions %d is negative", cfg.MaxSessions)
	}
	if cfg.MaxSessions == 0 {
		cfg.MaxSessions = DefaultMaxSessions
	}
	if cfg.MaxLoginAddresses < 0 {
		return nil, fmt.Errorf("web: Config.MaxLoginAddresses %d is negative", cfg.MaxLoginAddresses)
	}
	if cfg.MaxLoginAddresses == 0 {
		cfg.MaxLoginAddresses = backoff.DefaultMaxAddresses
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	assets, err := newAssetServer()
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	h := &Handler{
		node:            cfg.Node,
		log:             cfg.Logger,
		now:             cfg.Now,
		secure:          cfg.SecureCookies,
		ttl:             cfg.SessionTTL,
		sessions:        newSessionStore(cfg.MaxSessions, cfg.SessionTTL, cfg.Now),
		logins:          cmp.Or(cfg.Logins, backoff.New(cfg.MaxLoginAddresses, cfg.Now)),
		metrics:         m,
		assets:          assets,
		feedBuffer:      feedBuffer,
		assetsThrottle:  assetsThrottle,
		networkThrottle: networkThrottle,
		peerHTTP:        limitedDoer{&http.Client{Timeout: nodeCallTimeout}},
	}
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: 10 * time.Second,
		ReadBufferSize:   1024,
		WriteBufferSize:  4096,
		CheckOrigin:      sameOrigin,
	}
	return h, nil
}

// Routes returns the dashboard's router. Mount it at "/"; its paths (/,
// /storage, /network/..., /login, /logout, /ui/..., /static/...) do not
// overlap the API's.
func (h *Handler) Routes() http.Handler {
	r := chi.NewRouter()
	r.Use(securityHeaders)
	r.Get(staticPrefix+"*", h.assets.ServeHTTP)
	r.Get("/login", h.loginPage)
	r.Post("/login", h.login)
	r.Post("/logout", h.logout)
	r.Group(func(r chi.Router) {
		r.Use(h.requireSession)
		r.Get("/", h.dashboard)
		r.Get("/storage", h.storage)
		r.Get("/storage/{id}", h.filePage)
		r.Get("/network/peers", h.networkPeers)
		r.Get("/network/peers/{id}", h.peerPage)
		r.Get("/network/mesh", h.networkMesh)
		r.Get("/ledger", h.ledgerPage)
		r.Get("/wallet", h.wallet)
		r.Get("/compute", h.jobsPage)
		r.Get("/compute/{id}", h.jobPage)
		r.Route("/ui", func(r chi.Router) {
			r.Post("/toggle", h.toggle)
			r.Post("/prices", h.savePrices)
			r.Get("/receipts", h.receipts)
			r.Get("/peers", h.peers)
			r.Get("/ws", h.feed)
			r.Get("/assets", h.assetList)
			r.Post("/assets", h.putAsset)
			r.Get("/assets/stored", h.storedAsset)
			r.Get("/assets/{id}/download", h.downloadAsset)
			r.Delete("/assets/{id}", h.deleteAsset)
			r.Post("/assets/{id}/share", h.shareAsset)
			r.Post("/assets/import", h.importAsset)
			r.Get("/network/peers", h.peersTable)
			r.Get("/network/mesh", h.meshPart)
			r.Get("/cluster", h.clusterPart)
			r.Post("/cluster/init", h.clusterInit)
			r.Post("/cluster/admit", h.clusterAdmit)
			r.Get("/wallet", h.walletPart)
			r.Post("/wallet/transfer", h.transfer)
			r.Get("/jobs", h.jobsPart)
			r.Post("/jobs", h.submitJob)
			r.Get("/jobs/{id}", h.jobPart)
			r.Get("/jobs/{id}/output", h.jobOutput)
		})
	})
	return r
}

// contentSecurityPolicy allows only this origin's files: no inline scripts
// or styles, no eval, no framing.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", contentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		next.ServeHTTP(w, r)
	})
}

// isHTMX reports whether htmx made the request, so only a fragment is wanted.
func isHTMX(r *http.Request) bool {
	return r.Header.Get("HX-Request") == "true"
}

// render writes c with status. It renders into a buffer first so that a
// rendering error becomes a clean 500 instead of half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	var buf bytes.Buffer
	if err := c.Render(r.Context(), &buf); err != nil {
		h.log.Error("Render dashboard view", "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	hd.Add("Vary", "HX-Request")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderPage writes body alone for htmx, and wrapped in the page layout,
// with nav as the current header link, for a plain browser request.
func (h *Handler) renderPage(w http.ResponseWriter, r *http.Request, status int, title, nav string, body templ.Component) {
	if isHTMX(r) {
		h.render(w, r, status, body)
		return
	}
	p := h.pageMeta(title, true)
	p.Nav = nav
	h.render(w, r, status, layout(p, body))
}

// renderPart writes a card as renderPage does, with no header link marked.
func (h *Handler) renderPart(w http.ResponseWriter, r *http.Request, status int, title string, fragment templ.Component) {
	h.renderPage(w, r, status, title, "", fragment)
}

// pageMeta returns what the layout needs for a page titled title.
func (h *Handler) pageMeta(title string, loggedIn bool) pageMeta {
	info := h.node.Info()
	return pageMeta{
		Title:    title,
		NodeName: info.Name,
		Cluster:  info.ClusterID,
		LoggedIn: loggedIn,
		Assets:   h.assets.urls,
	}
}

// pageMeta is the data the layout shows around every page.
type pageMeta struct {
	Title    string
	NodeName string
	Cluster  string
	LoggedIn bool
	Assets   assetURLs
	// Nav is the header link of the current page (navDashboard,
	// navStorage, navPeers, navMesh), or "" for none.
	Nav string
}

// Header navigation keys.
const (
	navDashboard = "dashboard"
	navStorage   = "storage"
	navPeers     = "peers"
	navMesh      = "mesh"
	navLedger    = "ledger"
	navWallet    = "wallet"
	navJobs      = "jobs"
)
