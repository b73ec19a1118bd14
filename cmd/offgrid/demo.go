package main

import (
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/offgrid-net/offgrid/node"
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
again reuses them. Every node knows the others as static peers. Ctrl-C stops all.`,
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
			out := cmd.OutOrStdout()
			var (
				mu      sync.Mutex
				ready   = make([]nodeStarted, nodes)
				pending = nodes
			)
			g, ctx := errgroup.WithContext(cmd.Context())
			for i := range nodes {
				o := nodeOptions{
					dataDir:          filepath.Join(dataDir, fmt.Sprintf("node-%d", i+1)),
					name:             fmt.Sprintf("node-%d", i+1),
					cluster:          "offgrid-demo",
					storeConcurrency: 4,
					maxShardBytes:    16 << 20,
					window:           8,
					repairInterval:   30 * time.Second,
					historyInterval:  node.DefaultHistoryInterval,
					peerPoll:         2 * time.Second,
					// Beacons on loopback too: the peer table shows
					// how discovery works even though the nodes also
					// know each other statically.
					radio: radioOptions{radios: []string{"udp"}, group: group, iface: "lo", loopback: true,
						beaconInterval: 2 * time.Second, optional: true},
				}
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
	fmt.Fprintf(out, "Try:       offgrid status --node %s\n", nodes[0].url)
	fmt.Fprintf(out, "Stop:      Ctrl-C\n")
}
