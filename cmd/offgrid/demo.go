package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/tetratelabs/wazero"
	"golang.org/x/sync/errgroup"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
)

func demoCmd(getenv env) *cobra.Command {
	var (
		nodes    int
		basePort int
		dataDir  string
		host     string
		logLevel string
		group    string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a local demo mesh: several nodes on this machine, each with its own data dir and database",
		Long: `Run a local demo mesh of --nodes nodes on HOST:BASE-PORT, HOST:BASE-PORT+1, ...
Each node keeps its keys, database and shards in DATA/node-N, so running the demo
again reuses them. Every node knows the others as static peers, and all are
members of one cluster with node-1 as its admin. Ctrl-C stops all.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Flags(), getenv); err != nil {
				return err
			}
			if nodes < 1 || nodes > 64 {
				return fmt.Errorf("--nodes must be between 1 and 64")
			}
			if net.ParseIP(host) == nil || !net.ParseIP(host).IsLoopback() {
				return fmt.Errorf("--host must be a loopback address, not %q", host)
			}
			log, err := newLogger(cmd.ErrOrStderr(), logLevel)
			if err != nil {
				return err
			}
			// Listen on every port first, so each node knows its peers' URLs.
			lns := make([]net.Listener, nodes)
			urls := make([]string, nodes)
			for i := range nodes {
				ln, err := net.Listen("tcp", net.JoinHostPort(host, fmt.Sprint(basePort+i)))
				if err != nil {
					for _, l := range lns[:i] {
						l.Close()
					}
					return fmt.Errorf("demo node %d: %w", i+1, err)
				}
				lns[i], urls[i] = ln, "http://"+ln.Addr().String()
			}
			dirs, names := make([]string, nodes), make([]string, nodes)
			for i := range nodes {
				names[i] = fmt.Sprintf("node-%d", i+1)
				dirs[i] = filepath.Join(dataDir, names[i])
			}
			doc, err := ownCluster(dirs, names)
			if err == nil {
				doc, err = withEconomy(doc, dirs, min(nodes, demoWitnesses), demoAlloc)
			}
			if err != nil {
				for _, l := range lns {
					l.Close()
				}
				return err
			}
			out := cmd.OutOrStdout()
			var (
				mu      sync.Mutex
				ready   = make([]nodeStarted, nodes)
				pending = nodes
			)
			// The nodes compile a job's module once between them.
			wasmCache := wazero.NewCompilationCache()
			defer wasmCache.Close(context.WithoutCancel(cmd.Context()))
			g, ctx := errgroup.WithContext(cmd.Context())
			for i := range nodes {
				// Every option a flag would leave at its default starts
				// there (one definition: node.DefaultConfig); the demo then
				// sets what makes it a demo.
				o := defaultNodeOptions()
				// Five nodes share this process: no per-node memory limit.
				o.memoryLimit = 0
				o.wasmCache = wasmCache
				o.dataDir = dirs[i]
				o.name = names[i]
				o.clusterDoc = doc
				o.cluster = "offgrid-demo"
				o.repairInterval = 30 * time.Second
				o.settleInterval = time.Minute
				// Owners pay their hosts for storage every two minutes,
				// so the demo shows it within minutes.
				o.storageWindow = 2 * time.Minute
				o.peerPoll = 2 * time.Second
				// Beacons on loopback too: the peer table shows how
				// discovery works even though the nodes also know each
				// other statically.
				o.radio = radioOptions{radios: []string{"udp"}, group: group, iface: "lo", loopback: true,
					beaconInterval: 2 * time.Second, optional: true}
				for j, u := range urls {
					if j != i {
						o.peers = append(o.peers, u)
					}
				}
				g.Go(func() error {
					return runNode(ctx, o, lns[i], log.With("node", o.name), func(s nodeStarted) {
						mu.Lock()
						defer mu.Unlock()
						ready[i] = s
						if pending--; pending == 0 {
							printDemo(out, ready, dataDir)
						}
					})
				})
			}
			return g.Wait()
		},
	}
	fs := cmd.Flags()
	fs.IntVar(&nodes, "nodes", 5, "number of nodes")
	fs.IntVar(&basePort, "base-port", 8081, "port of the first node; the others follow")
	fs.StringVar(&dataDir, "data", "./demo-data", "directory for the nodes' data dirs")
	fs.StringVar(&host, "host", "127.0.0.1", "loopback address to listen on")
	fs.StringVar(&logLevel, "log-level", "warn", "debug, info, warn or error")
	fs.StringVar(&group, "multicast-group", "239.23.0.7:47007", "multicast group for the nodes' beacons on lo")
	return cmd
}

func printDemo(out interface{ Write([]byte) (int, error) }, nodes []nodeStarted, dataDir string) {
	fmt.Fprintf(out, "Offgrid-Net demo mesh: %d nodes (data in %s)\n\n", len(nodes), dataDir)
	for _, s := range nodes {
		fmt.Fprintf(out, "  %-8s %s  token %s\n", s.name, s.url, s.token)
	}
	fmt.Fprintf(out, "\nDashboard: %s/  (log in with %s's admin token: %s)\n", nodes[0].url, nodes[0].name, nodes[0].token)
	self, onPath := selfCommand()
	fmt.Fprintf(out, "Try:       %s status --node %s --token %s\n", self, nodes[0].url, nodes[0].token)
	fmt.Fprintf(out, "           %s put FILE --node %s --token %s\n", self, nodes[0].url, nodes[0].token)
	fmt.Fprintf(out, "           %s balances --node %s --token %s   (credits; the wallet page: %s/wallet)\n", self, nodes[0].url, nodes[0].token, nodes[0].url)
	if !onPath {
		fmt.Fprintf(out, "           (or put %s on your PATH and run offgrid ...)\n", filepath.Dir(self))
	}
	fmt.Fprintf(out, "Stop:      Ctrl-C\n")
}

// ownCluster makes the keys of the nodes in dirs (keeping existing ones)
// and returns the first version of a cluster admitting all of them under
// names, with the first node as its admin. The cluster ID
// is derived from that node's key, so that a rerun makes the same
// document and the nodes keep the one they hold.
func ownCluster(dirs, names []string) ([]byte, error) {
	var (
		admin   *identity.Keys
		members []cluster.Member
	)
	for i, dir := range dirs {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		k, _, err := identity.LoadOrCreate(dir, rand.Reader)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			admin = k
		}
		members = append(members, cluster.Member{ID: k.ID(), Name: names[i]})
	}
	sum := sha256.Sum256(append([]byte("offgrid/demo-cluster\x00"), admin.SignPublic()...))
	var id cluster.ID
	copy(id[:], sum[:])
	d, err := cluster.New(id, []identity.NodeID{admin.ID()}, 1, members)
	if err != nil {
		return nil, err
	}
	if d, err = d.Sign(admin); err != nil {
		return nil, err
	}
	return d.Encode()
}

// The demo's economy: its first nodes witness (equal weights) and every
// node starts with the same credits.
const (
	demoWitnesses = 4
	demoAlloc     = 1000_000000
)

// withEconomy returns the next version of the cluster document doc (made
// by ownCluster for the nodes in dirs) with an economy: the first
// witnesses nodes witness with weight 1, every node starts with alloc
// micro-credits, fees 0.001 to 0.003 credits, host reserve 1 %. It is
// signed by the admin and by every witness, as the genesis of an economy
// must be; a rerun makes the same document.
func withEconomy(doc []byte, dirs []string, witnesses int, alloc int64) ([]byte, error) {
	d, err := cluster.Parse(doc)
	if err != nil {
		return nil, err
	}
	keys := make([]*identity.Keys, len(dirs))
	e := cluster.Economy{TxFeeMin: 1000, TxFeeMax: 3000, HostReserveBP: cluster.DefaultHostReserveBP}
	for i, dir := range dirs {
		if keys[i], _, err = identity.LoadOrCreate(dir, rand.Reader); err != nil {
			return nil, err
		}
		if i < witnesses {
			e.Witnesses = append(e.Witnesses, cluster.Witness{ID: keys[i].ID(), Weight: 1})
		}
		e.Genesis = append(e.Genesis, cluster.Alloc{ID: keys[i].ID(), Amount: alloc})
	}
	if d, err = d.WithEconomy(e); err != nil {
		return nil, err
	}
	for i := range max(witnesses, 1) {
		if d, err = d.Sign(keys[i]); err != nil {
			return nil, err
		}
	}
	return d.Encode()
}

// selfCommand is how a shell in the current directory runs this binary:
// "offgrid" when that name on PATH is this binary, otherwise its path
// (relative, like bin/offgrid, when it is below the current directory).
// onPath says which.
func selfCommand() (cmd string, onPath bool) {
	exe, err := os.Executable()
	if err != nil {
		return "offgrid", false
	}
	exe, _ = filepath.EvalSymlinks(exe)
	if found, err := exec.LookPath("offgrid"); err == nil {
		if abs, err := filepath.Abs(found); err == nil {
			if real, err := filepath.EvalSymlinks(abs); err == nil && real == exe {
				return "offgrid", true
			}
		}
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, exe); err == nil && filepath.IsLocal(rel) {
			if !strings.ContainsRune(rel, filepath.Separator) {
				rel = "." + string(filepath.Separator) + rel
			}
			return rel, false
		}
	}
	return exe, false
}
