package servertest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/node/jobs"
	"github.com/offgrid-net/offgrid/peerclient"
	"github.com/offgrid-net/offgrid/server"
)

// AdminToken is the admin token of every test node.
const AdminToken = "test-admin-token-0123456789"

// Options changes a test node's configuration. Zero fields keep the node's
// defaults.
type Options struct {
	// Name is the node's name. Default "t".
	Name string
	// StoreConcurrency, MaxShardBytes, StaticPeers and PeerPollInterval are
	// copied into node.Config.
	StoreConcurrency int
	MaxShardBytes    int64
	StaticPeers      []string
	PeerPollInterval time.Duration
	// BodyGrace, BodyMinRate and MinFreeBytes are copied into node.Config.
	BodyGrace    time.Duration
	BodyMinRate  int64
	MinFreeBytes int64
	// AllowedHosts is copied into server.Config.
	AllowedHosts []string
	// ReplaySenders is copied into node.Config.
	ReplaySenders int
	// Dir and Keys, when set, are the node's data directory and keys
	// instead of fresh ones, and Addr its listen address instead of a free
	// port on 127.0.0.1: together they restart a node stopped earlier (a
	// subtest's node stops when the subtest ends).
	Dir  string
	Keys *identity.Keys
	Addr string
	// Wrap, if set, wraps the server's handler, e.g. to observe requests.
	Wrap func(http.Handler) http.Handler
	// Cluster, if set, is the cluster the node joins (admitted at start).
	// Default: a cluster of its own.
	Cluster *Cluster
	// Members are admitted with the node, e.g. the keys a test signs
	// requests with.
	Members []identity.NodeID
	// Alone starts the node with no cluster document (Cluster and Members
	// are ignored): it serves no node-signed request.
	Alone bool
	// StorageBillWindow is copied into node.Config.
	StorageBillWindow time.Duration
	// TrustPollInterval is copied into node.Config.Trust.PollInterval.
	TrustPollInterval time.Duration
	// LedgerSyncInterval and LedgerFlushInterval are copied into
	// node.Config.Ledger (SyncInterval, Outbox.FlushInterval).
	LedgerSyncInterval  time.Duration
	LedgerFlushInterval time.Duration
	// Jobs, if set, is copied into node.Config.Jobs.
	Jobs *jobs.Config
}

// Node is a running test node.
type Node struct {
	*node.Node
	// Server is the HTTP server built for the node.
	Server *server.Server
	// HTTP serves Server's handler on loopback; URL is its base URL.
	HTTP *httptest.Server
	URL  string
	// Dir is the node's data directory.
	Dir string
	// Keys are the node's keys.
	Keys *identity.Keys
	// DB is the node's database.
	DB *sql.DB
	// Registry holds the node's and the server's metrics.
	Registry *prometheus.Registry
	// Client talks to HTTP with its own transport (closed at cleanup).
	Client *http.Client
}

// Start starts a node and its server and stops them when t ends: the HTTP
// server first (waiting for in-flight requests), then the node (waiting for
// Run to return), then the database.
func Start(t testing.TB, opts Options) *Node {
	t.Helper()
	ctx := t.Context()
	dir := opts.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	db, err := sqlitedb.Open(ctx, filepath.Join(dir, "offgrid.db"))
	if err != nil {
		t.Fatalf("sqlitedb.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	keys := opts.Keys
	if keys == nil {
		if keys, err = identity.Generate(rand.Reader); err != nil {
			t.Fatalf("identity.Generate: %v", err)
		}
	}

	ts := httptest.NewUnstartedServer(nil)
	if opts.Addr != "" {
		ts.Listener.Close()
		if ts.Listener, err = relisten(opts.Addr); err != nil {
			t.Fatal(err)
		}
	}
	url := "http://" + ts.Listener.Addr().String()
	reg := prometheus.NewRegistry()
	cfg := node.DefaultConfig()
	cfg.Name = "t"
	if opts.Name != "" {
		cfg.Name = opts.Name
	}
	cfg.Endpoint = url
	cfg.DataDir = dir
	cfg.AdminToken = AdminToken
	cfg.Registerer = reg
	if opts.StoreConcurrency != 0 {
		cfg.StoreConcurrency = opts.StoreConcurrency
	}
	if opts.MaxShardBytes != 0 {
		cfg.MaxShardBytes = opts.MaxShardBytes
	}
	cfg.StorageBillWindow = opts.StorageBillWindow
	if opts.ReplaySenders != 0 {
		cfg.ReplaySenders = opts.ReplaySenders
	}
	if opts.BodyGrace != 0 {
		cfg.BodyGrace = opts.BodyGrace
	}
	if opts.BodyMinRate != 0 {
		cfg.BodyMinRate = opts.BodyMinRate
	}
	if opts.MinFreeBytes != 0 {
		cfg.MinFreeBytes = opts.MinFreeBytes
	}
	if opts.PeerPollInterval != 0 {
		cfg.Peers.PollInterval = opts.PeerPollInterval
		cfg.Peers.PollTimeout = 2 * opts.PeerPollInterval
	}
	// One client for the node's outgoing calls (peer polls, shard moves),
	// with its own transport so that cleanup can close its connections.
	peerClient := &http.Client{Transport: &http.Transport{}, Timeout: 5 * time.Second}
	cfg.Connect = peerclient.Connect(peerClient, peerClient)
	cfg.Peers.StaticPeers = opts.StaticPeers
	if opts.TrustPollInterval != 0 {
		cfg.Trust.PollInterval = opts.TrustPollInterval
	}
	if opts.LedgerSyncInterval != 0 {
		cfg.Ledger.SyncInterval = opts.LedgerSyncInterval
	}
	if opts.LedgerFlushInterval != 0 {
		cfg.Ledger.Outbox.FlushInterval = opts.LedgerFlushInterval
	}
	if opts.Jobs != nil {
		cfg.Jobs = *opts.Jobs
	}
	n, err := node.New(ctx, cfg, keys, db)
	if err != nil {
		ts.Listener.Close()
		t.Fatalf("node.New: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- n.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-runErr; err != nil {
			t.Errorf("node.Run: %v", err)
		}
		peerClient.CloseIdleConnections()
	})

	srv, err := server.New(server.Config{Node: n, Gatherer: reg, Registerer: reg, AllowedHosts: opts.AllowedHosts})
	if err != nil {
		ts.Listener.Close()
		t.Fatalf("server.New: %v", err)
	}
	h := srv.Handler()
	if opts.Wrap != nil {
		h = opts.Wrap(h)
	}
	ts.Config.Handler = h
	ts.Start()
	client := &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}
	t.Cleanup(func() {
		client.CloseIdleConnections()
		ts.Close()
	})
	tn := &Node{Node: n, Server: srv, HTTP: ts, URL: url, Dir: dir, Keys: keys, DB: db, Registry: reg, Client: client}
	if !opts.Alone {
		c := opts.Cluster
		if c == nil {
			c = NewCluster(t)
		}
		c.add(t, tn, opts.Members)
	}
	return tn
}

// relisten listens on addr, retrying while a just-closed listener of the
// same address still holds the port.
func relisten(addr string) (net.Listener, error) {
	var err error
	for range 50 {
		var ln net.Listener
		if ln, err = net.Listen("tcp", addr); err == nil {
			return ln, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("listen on %s: %w", addr, err)
}

// Authorize sets the admin token on req and returns it.
func Authorize(req *http.Request) *http.Request {
	req.Header.Set("Authorization", "Bearer "+AdminToken)
	return req
}
