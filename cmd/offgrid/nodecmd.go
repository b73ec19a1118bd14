package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/tetratelabs/wazero"
	"golang.org/x/sync/errgroup"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/internal/fixed"
	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/peerclient"
	"github.com/offgrid-net/offgrid/radio/ble"
	"github.com/offgrid-net/offgrid/radio/meshhealth"
	"github.com/offgrid-net/offgrid/radio/udp"
	"github.com/offgrid-net/offgrid/server"
	"github.com/offgrid-net/offgrid/storage"
)

// DBFile is the node's SQLite database inside its data directory.
const DBFile = "offgrid.db"

// nodeOptions are the settings of one node process.
type nodeOptions struct {
	dataDir          string
	listen           string
	name             string
	endpoint         string
	cluster          string
	peers            []string
	adminToken       string
	storeConcurrency int
	maxShardBytes    int64
	replaySenders    int
	bodyGrace        time.Duration
	bodyMinRate      int64
	minFreeBytes     int64
	jobConcurrency   int
	jobActivate      time.Duration
	jobStallAge      time.Duration
	jobCooldown      time.Duration
	jobRetries       int
	// wasmCache, set by the demo and the tests (no flag), is a wazero
	// compilation cache the nodes of one process share, so that a job's
	// module is compiled once for all of them.
	wasmCache wazero.CompilationCache
	// wasmInterpreter (no flag) runs jobs with wazero's interpreter: the
	// race detector's tests use it, as compiling a Go module under -race
	// takes half a minute.
	wasmInterpreter bool
	allowedHosts    []string
	meshFile        string
	logLevel        string
	window          int
	repairThreshold int
	repairInterval  time.Duration
	repairGrace     time.Duration
	scrubInterval   time.Duration
	settleInterval  time.Duration
	storageWindow   time.Duration
	maxStoragePrice creditsFlag
	auditInterval   time.Duration
	minLinkRate     int64
	hedgeDelay      time.Duration
	claimInterval   time.Duration
	shardGrace      time.Duration
	historyInterval time.Duration
	blockSync       time.Duration
	sealInterval    time.Duration
	peerPoll        time.Duration
	radio           radioOptions
	batctlIface     string
	babel           string
	meshPoll        time.Duration
	memoryLimit     int64
	pprof           bool
	// crashOnStop makes a stop look like a crash to the cluster (tests).
	crashOnStop bool
	peerExpiry  time.Duration
	joinCluster string
	// clusterDoc, when set, is a cluster document installed at start (the
	// demo and tests admit their own nodes); a node holding a newer one
	// keeps it.
	clusterDoc []byte
	// clusterPoll overrides how often members are asked for their
	// cluster document (tests).
	clusterPoll time.Duration
}

// defaultNodeOptions returns the options `offgrid node` runs with when no
// flag is given, so that the demo cannot miss a default a new flag adds.
func defaultNodeOptions() nodeOptions {
	var o nodeOptions
	o.flags(&cobra.Command{})
	return o
}

func (o *nodeOptions) flags(cmd *cobra.Command) {
	// Defaults come from the engine's DefaultConfig, the one definition
	// README.md's flag tables document (TestFlagDefaultsMatchREADME).
	d := node.DefaultConfig()
	fs := cmd.Flags()
	fs.StringVar(&o.dataDir, "data", "./offgrid-data", "data directory (keys, database, shards)")
	fs.StringVar(&o.listen, "listen", "127.0.0.1:8081", "address for the API and dashboard")
	fs.StringVar(&o.name, "name", "", "node name shown to peers (default: the host name)")
	fs.StringVar(&o.endpoint, "endpoint", "", "URL other nodes reach this node at (default: http://LISTEN)")
	fs.StringVar(&o.cluster, "cluster", d.ClusterID, "cluster ID written into receipts")
	fs.StringSliceVar(&o.peers, "peers", nil, "static peers' API URLs, comma-separated")
	fs.StringVar(&o.adminToken, "admin-token", "", "admin token (default: the saved one, or a new random one)")
	fs.IntVar(&o.storeConcurrency, "store-concurrency", d.StoreConcurrency, "shard uploads served at once; more get 503")
	fs.Int64Var(&o.maxShardBytes, "max-shard-bytes", d.MaxShardBytes, "largest shard accepted, in bytes")
	fs.IntVar(&o.replaySenders, "replay-senders", d.ReplaySenders, "senders of signed requests whose replay state is kept; a new one beyond this is refused")
	fs.StringSliceVar(&o.allowedHosts, "allowed-hosts", nil, "host names the node answers to (and node signatures may name), besides IPs, localhost and the endpoint's")
	fs.DurationVar(&o.bodyGrace, "body-grace", d.BodyGrace, "how long a request body may stall before --body-min-rate applies")
	fs.Int64Var(&o.bodyMinRate, "body-min-rate", d.BodyMinRate, "slowest a request body may arrive after the grace, in bytes/s; a slower sender gets 408")
	fs.Int64Var(&o.minFreeBytes, "min-free-bytes", d.MinFreeBytes, "free disk space under the data directory below which /healthz answers 503")
	fs.IntVar(&o.jobConcurrency, "job-concurrency", d.Jobs.Concurrency, "WebAssembly jobs run (or held accepted) at once; more get 503")
	fs.DurationVar(&o.jobActivate, "job-activate", d.Jobs.SLA.Activate, "t_activate: a host must report a dispatched job started within this")
	fs.DurationVar(&o.jobStallAge, "job-stall-age", d.Jobs.SLA.StallAge, "a running job whose progress rose less than 0.05 for this long is stalled and moved on")
	fs.DurationVar(&o.jobCooldown, "job-cooldown", d.Jobs.SLA.Cooldown, "least time between two re-dispatches of one job")
	fs.IntVar(&o.jobRetries, "job-retries", d.Jobs.SLA.MaxRetries, "re-dispatches of one job (late hosts, disagreeing results) before it fails")
	fs.StringVar(&o.meshFile, "mesh-file", "", "manual mesh metrics file (default: DATA/mesh.json)")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.IntVar(&o.window, "window", d.Assets.Transfer.Window, "shard transfers a put, get or repair runs at once")
	fs.IntVar(&o.repairThreshold, "repair-threshold", 0, "rebuild a stripe with fewer live shards than this (default k+2)")
	fs.DurationVar(&o.repairInterval, "repair-interval", d.Assets.RepairInterval, "how often the node checks its own files (0: never on its own)")
	fs.DurationVar(&o.repairGrace, "repair-grace", d.Assets.RepairGrace, "how long a host may be down before its shards are rebuilt elsewhere (0: at once)")
	fs.DurationVar(&o.scrubInterval, "scrub-interval", d.ScrubInterval, "how often the node re-reads every shard it hosts, quarantining lost or corrupt ones (0: never)")
	fs.DurationVar(&o.settleInterval, "settle-interval", d.SettleInterval, "how often the node bills its consumers that are up and pays the receipts it owes (0: never)")
	fs.DurationVar(&o.storageWindow, "storage-bill-window", d.StorageBillWindow, "the storage windows this node pays its hosts for (as an owner) and bills at least (as a host); whole seconds")
	o.maxStoragePrice = creditsFlag(d.MaxStoragePrice)
	fs.Var(&o.maxStoragePrice, "max-storage-price", "the highest storage price, in credits per gigabyte-hour, this node pays its hosts")
	fs.DurationVar(&o.auditInterval, "audit-interval", d.Assets.AuditInterval, "how often the node challenges the hosts of its files to prove they hold their shards (0: never)")
	fs.Int64Var(&o.minLinkRate, "min-link-rate", d.Assets.Transfer.MinLinkRate, "slowest rate in bytes/s a host may send a shard at; sets each shard request's deadline")
	fs.DurationVar(&o.hedgeDelay, "hedge-delay", d.Assets.Transfer.HedgeDelay, "shortest wait for a shard before a get also asks a spare one")
	fs.DurationVar(&o.claimInterval, "claim-interval", d.Assets.ClaimInterval, "how often (and at start) the node renews its claim on its files' shards on their hosts")
	fs.DurationVar(&o.shardGrace, "shard-grace", d.ShardGrace, "drop a shard another node stored once nobody has claimed it this long (at least twice --claim-interval)")
	fs.DurationVar(&o.historyInterval, "history-interval", d.History.Interval, "how often the node records its history for the overview charts (0: never)")
	fs.DurationVar(&o.blockSync, "block-sync-interval", d.Ledger.SyncInterval, "how often the node exchanges the blocks it lacks with a few peers (0: never; pushed blocks still arrive)")
	fs.DurationVar(&o.sealInterval, "seal-interval", d.Ledger.SealInterval, "how often the node puts its new receipts into a block (0: only on `offgrid ledger seal`)")
	fs.DurationVar(&o.peerPoll, "peer-poll-interval", d.Peers.PollInterval, "how often static peers are asked whether they are up")
	fs.StringVar(&o.batctlIface, "batman", "", "read BATMAN-adv health with batctl for this mesh interface, e.g. bat0")
	fs.StringVar(&o.babel, "babel", "", "read Babel health from babeld's control socket, e.g. [::1]:33123 (babeld -G 33123)")
	fs.DurationVar(&o.meshPoll, "mesh-poll-interval", d.Peers.MeshPollInterval, "how often mesh health is read")
	fs.DurationVar(&o.peerExpiry, "peer-expiry", d.Peers.Expiry, "forget a discovered peer silent this long (static peers stay)")
	fs.StringVar(&o.joinCluster, "join-cluster", d.Trust.Join, "cluster ID (32 hex digits) to join: the first valid document of it that admits this node, from a static peer or a pending node, is installed")
	fs.Int64Var(&o.memoryLimit, "memory-limit", 120<<20, "soft heap limit in bytes for the Go runtime (0: none; GOMEMLIMIT wins), to keep a Raspberry Pi's RAM free")
	fs.BoolVar(&o.pprof, "pprof", false, "serve Go's runtime profiles under /debug/pprof/ to loopback clients with the admin token")
	r := &o.radio
	fs.StringSliceVar(&r.radios, "radio", []string{"udp"}, "discovery links: udp, lora, ble, bt_lr, file (comma-separated; none for static peers only)")
	ud := udp.DefaultConfig()
	fs.StringVar(&r.group, "multicast-group", ud.Group, "UDP multicast group and port for beacons")
	fs.StringVar(&r.iface, "multicast-iface", "", "interface for beacons, e.g. bat0, wlan0 or lo (default: the system's)")
	fs.BoolVar(&r.loopback, "multicast-loopback", ud.Loopback, "hear beacons of other nodes on this host (several nodes on one machine); --multicast-loopback=false turns it off")
	fs.StringVar(&r.serial, "serial", "", "LoRa modem serial port, e.g. /dev/ttyUSB0")
	fs.IntVar(&r.baud, "baud", 57600, "LoRa modem serial speed")
	fs.Float64Var(&r.dutyCycle, "lora-duty-cycle", 0.01, "share of airtime LoRa beacons may use")
	fs.StringVar(&r.fileBus, "filebus", "", "shared file for --radio file")
	bd := ble.DefaultConfig()
	fs.StringVar(&r.btAdapter, "bt-adapter", bd.Adapter, "Bluetooth adapter for --radio ble/bt_lr, e.g. hci0 (default: the first BlueZ lists)")
	fs.Float64Var(&r.btDutyCycle, "bt-duty-cycle", bd.DutyCycle, "share of airtime Bluetooth beacon advertisements may use (per minute)")
	fs.StringVar(&r.gossip, "gossip", "", "memberlist address HOST:PORT (default: the API's host, any port, when a radio is on; off: none)")
	fs.StringVar(&r.clusterKey, "cluster-key", "", "hex key (16, 24 or 32 bytes) encrypting gossip; the same on every node")
	fs.DurationVar(&r.beaconInterval, "beacon-interval", d.Peers.BeaconInterval, "how often a signed beacon goes out on every link")
	fs.BoolVar(&r.noise, "noise", false, "encrypt frames on udp and file links in pairwise Noise sessions; nodes without a session are refused")
}

func nodeCmd(getenv env) *cobra.Command {
	var o nodeOptions
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a node: HTTP API, dashboard and engine",
		Long: `Run a node. Every flag can also be set as an OFFGRID_* environment variable
(--admin-token is OFFGRID_ADMIN_TOKEN) or in DATA/offgrid.toml; flags beat the
environment, which beats the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), getenv); err != nil {
				return err
			}
			if err := applyTOML(cmd.Flags(), o.dataDir); err != nil {
				return err
			}
			log, err := newLogger(cmd.ErrOrStderr(), o.logLevel)
			if err != nil {
				return err
			}
			if o.memoryLimit > 0 && getenv("GOMEMLIMIT") == "" {
				// A soft limit: the GC works harder near it instead of letting
				// the heap double while a large file streams through.
				debug.SetMemoryLimit(o.memoryLimit)
			}
			if o.pprof {
				// Block and mutex profiles are empty unless sampling is on;
				// these rates cost little next to a node's I/O.
				runtime.SetBlockProfileRate(int(10 * time.Microsecond))
				runtime.SetMutexProfileFraction(10)
			}
			ln, err := net.Listen("tcp", o.listen)
			if err != nil {
				return fmt.Errorf("listen on %s: %w", o.listen, err)
			}
			return runNode(cmd.Context(), o, ln, log, func(s nodeStarted) {
				fmt.Fprintf(cmd.OutOrStdout(), "node %s (%s)\n  API:       %s\n  dashboard: %s/\n", s.name, s.id, s.url, s.url)
				if s.tokenCreated {
					fmt.Fprintf(cmd.OutOrStdout(), "  admin token (new, saved in %s): %s\n",
						filepath.Join(o.dataDir, node.AdminTokenFile), s.token)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "  admin token: in %s\n", filepath.Join(o.dataDir, node.AdminTokenFile))
				}
			})
		},
	}
	o.flags(cmd)
	return cmd
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// nodeStarted is what a started node reports to the user.
type nodeStarted struct {
	name, id, url, token string
	tokenCreated         bool
}

// runNode runs one node on ln until ctx ends. started is called once the
// node is ready to serve.
func runNode(ctx context.Context, o nodeOptions, ln net.Listener, log *slog.Logger, started func(nodeStarted)) error {
	defer ln.Close()
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	keys, _, err := identity.LoadOrCreate(o.dataDir, rand.Reader)
	if err != nil {
		return err
	}
	token, tokenCreated, err := node.LoadOrCreateAdminToken(o.dataDir, o.adminToken, rand.Reader)
	if err != nil {
		return err
	}
	name := o.name
	if name == "" {
		name, _ = os.Hostname()
	}
	url := "http://" + ln.Addr().String()
	endpoint := o.endpoint
	if endpoint == "" {
		endpoint = url
	}
	db, err := sqlitedb.Open(ctx, filepath.Join(o.dataDir, DBFile))
	if err != nil {
		return err
	}
	defer db.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	cfg := node.DefaultConfig()
	cfg.Name = name
	cfg.ClusterID = o.cluster
	cfg.Endpoint = endpoint
	cfg.DataDir = o.dataDir
	cfg.AdminToken = token
	cfg.Peers.StaticPeers = o.peers
	cfg.StoreConcurrency = o.storeConcurrency
	cfg.MaxShardBytes = o.maxShardBytes
	cfg.ReplaySenders = o.replaySenders
	cfg.BodyGrace = o.bodyGrace
	cfg.BodyMinRate = o.bodyMinRate
	cfg.MinFreeBytes = o.minFreeBytes
	cfg.Jobs.Concurrency = o.jobConcurrency
	cfg.Jobs.SLA.Activate = o.jobActivate
	cfg.Jobs.SLA.StallAge = o.jobStallAge
	cfg.Jobs.SLA.Cooldown = o.jobCooldown
	cfg.Jobs.SLA.MaxRetries = o.jobRetries
	cfg.Jobs.Limits.Shared = o.wasmCache
	cfg.Jobs.Limits.Interpreter = o.wasmInterpreter
	cfg.Peers.MeshFile = o.meshFile
	if o.batctlIface != "" {
		cfg.Peers.Batctl = &meshhealth.Batctl{Iface: o.batctlIface}
	}
	cfg.Peers.BabelAddr = o.babel
	cfg.Peers.MeshPollInterval = o.meshPoll
	// Every shard put and get is bounded by its own deadline, derived
	// from its size (storage.TransferConfig.ShardDeadline). The client
	// bounds the parts that do not depend on size by the deadline's
	// base: connecting (a dead host), and twice that for the answer's
	// headers once the request is sent, which wait for the host's disk
	// (a get's read and hash check, a put's write and fsync) and never
	// come from a frozen host, whose kernel still accepts connections.
	// Its whole-request limit only backstops the small requests (stat,
	// delete, claim): the deadline of the largest shard.
	tcfg := storage.TransferConfig{MinLinkRate: o.minLinkRate}
	base := storage.DefaultTransferConfig().ShardTimeoutBase
	shardClient := &http.Client{Timeout: tcfg.ShardDeadline(int(o.maxShardBytes)), Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: base, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: 2 * base,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
	}}
	cfg.Connect = peerclient.Connect(shardClient, &http.Client{Timeout: 5 * time.Second})
	cfg.Assets.Transfer = storage.TransferConfig{Window: o.window, RepairThreshold: o.repairThreshold,
		MinLinkRate: o.minLinkRate, HedgeDelay: o.hedgeDelay}
	cfg.Assets.AuditInterval = o.auditInterval
	if o.auditInterval == 0 {
		cfg.Assets.AuditInterval = -1
	}
	cfg.ScrubInterval = o.scrubInterval
	if o.scrubInterval == 0 {
		cfg.ScrubInterval = -1
	}
	cfg.SettleInterval = o.settleInterval
	cfg.StorageBillWindow = o.storageWindow
	cfg.MaxStoragePrice = int64(o.maxStoragePrice)
	if o.settleInterval == 0 {
		cfg.SettleInterval = -1
	}
	cfg.Assets.RepairInterval = o.repairInterval
	if o.repairInterval == 0 {
		cfg.Assets.RepairInterval = -1
	}
	cfg.Assets.RepairGrace = o.repairGrace
	if o.repairGrace == 0 {
		cfg.Assets.RepairGrace = -1
	}
	cfg.Ledger.SyncInterval = o.blockSync
	if o.blockSync == 0 {
		cfg.Ledger.SyncInterval = -1
	}
	cfg.Ledger.SealInterval = o.sealInterval
	if o.sealInterval == 0 {
		cfg.Ledger.SealInterval = -1
	}
	cfg.History.Interval = o.historyInterval
	if o.historyInterval == 0 {
		cfg.History.Interval = -1
	}
	cfg.Peers.PollInterval = o.peerPoll
	links, err := buildLinks(o.radio, endpoint, keys, log)
	if err != nil {
		return err
	}
	cfg.Peers.Links = links
	cfg.Peers.BeaconInterval = o.radio.beaconInterval
	if o.crashOnStop {
		cfg.Peers.LeaveTimeout = -1
	}
	cfg.Peers.Expiry = o.peerExpiry
	cfg.Trust.Join = o.joinCluster
	if o.clusterPoll != 0 {
		cfg.Trust.PollInterval = o.clusterPoll
	}
	cfg.Assets.ClaimInterval = o.claimInterval
	cfg.ShardGrace = o.shardGrace
	cfg.Peers.GossipAddr = gossipAddr(o.radio, ln.Addr(), links)
	if cfg.Peers.ClusterKey, err = parseClusterKey(o.radio.clusterKey); err != nil {
		return err
	}
	cfg.Logger = log
	cfg.Registerer = reg
	n, err := node.New(ctx, cfg, keys, db)
	if err != nil {
		return err
	}
	if o.clusterDoc != nil {
		if _, err := n.JoinCluster(ctx, o.clusterDoc); err != nil && !errors.Is(err, node.ErrConflict) {
			return fmt.Errorf("install cluster document: %w", err)
		}
	}
	srv, err := server.New(server.Config{
		Node: n,
		// The node's names (endpoint, listen address, allowed hosts) are
		// what node signatures must be made for.
		Listen:       ln.Addr().String(),
		AllowedHosts: o.allowedHosts,
		Gatherer:     reg,
		Registerer:   reg,
		Logger:       log,
		Pprof:        o.pprof,
	})
	if err != nil {
		return err
	}
	started(nodeStarted{name: name, id: string(keys.ID()), url: url, token: token, tokenCreated: tokenCreated})
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return n.Run(ctx) })
	g.Go(func() error { return srv.Serve(ctx, ln) })
	return g.Wait()
}

// creditsFlag is a flag holding micro-credits, written as a decimal
// number of credits ("0.5").
type creditsFlag int64

func (c *creditsFlag) String() string { return fixed.Format(int64(*c)) }

func (c *creditsFlag) Set(s string) error {
	v, err := fixed.Parse(s)
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("%s is negative", s)
	}
	*c = creditsFlag(v)
	return nil
}

func (c *creditsFlag) Type() string { return "credits" }
