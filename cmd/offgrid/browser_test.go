package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/compute/computetest"
)

// TestBrowser drives the dashboard of a real node in Debian's Chromium with
// Playwright (web/e2e/*.mjs, each built on web/e2e/harness.mjs). `make
// test-browser` sets OFFGRID_BROWSER_TESTS=1 after installing chromium and
// the npm packages; then a missing browser is a failure, not a skip.
func TestBrowser(t *testing.T) {
	if os.Getenv("OFFGRID_BROWSER_TESTS") != "1" {
		t.Skip("browser tests run with OFFGRID_BROWSER_TESTS=1 (make test-browser)")
	}
	for _, need := range []string{"/usr/bin/chromium", "../../web/node_modules/playwright-core"} {
		if _, err := os.Stat(need); err != nil {
			t.Fatalf("%s missing: run `make deps assets` (%v)", need, err)
		}
	}
	all, err := filepath.Glob("../../web/e2e/*.mjs")
	// harness.mjs is the scripts' shared part, not a script.
	scripts := slices.DeleteFunc(all, func(s string) bool { return filepath.Base(s) == "harness.mjs" })
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no browser scripts in web/e2e (%v)", err)
	}
	// The jobs script drops the word-count module; the mesh's nodes run it.
	wc := computetest.Path(t, computetest.WordCount)
	shots, err := filepath.Abs("../../web/screenshots")
	if err != nil {
		t.Fatal(err)
	}
	for _, script := range scripts {
		t.Run(filepath.Base(script), func(t *testing.T) {
			// A small mesh that also beacons on loopback, so the storage
			// page has hosts and the peers page can watch a newcomer.
			group := fmt.Sprintf("239.23.0.7:%d", 40000+rand.IntN(20000))
			beacons := func(o *nodeOptions) {
				o.radio = radioOptions{radios: []string{"udp"}, group: group, iface: "lo", loopback: true,
					beaconInterval: 500 * time.Millisecond, gossip: "127.0.0.1:0"}
			}
			// History every second, so the overview's charts have data.
			// The jobs page's job runs on two of them.
			m := startMesh(t, 3, func(_ int, o *nodeOptions) {
				beacons(o)
				o.historyInterval = time.Second
				jobDefaults(o)
			})
			m.waitPeers(0, 2)
			// Credits, for the wallet page: every node a witness.
			m.installEconomy(t, 3, 1000_000000)
			url, token := m.nodes[0].url, m.nodes[0].token

			// The peers script asks for a new node once its page is open;
			// it is found by its beacons alone.
			newcomer, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			late := &meshNode{addr: newcomer.Addr().String(), url: "http://" + newcomer.Addr().String()}
			late.opts = nodeOptions{dataDir: t.TempDir(), name: "newcomer", storeConcurrency: 4, maxShardBytes: 16 << 20}
			beacons(&late.opts)
			var once sync.Once
			ctl := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				once.Do(func() {
					m.nodes = append(m.nodes, late)
					m.launch(late, newcomer)
				})
			}))
			defer ctl.Close()
			startCmd := fmt.Sprintf(`node -e "fetch('%s',{method:'POST'}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))" && exec sleep 300`, ctl.URL)

			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "node", script)
			cmd.Env = append(os.Environ(), "OFFGRID_URL="+url, "OFFGRID_TOKEN="+token, "OFFGRID_SCREENSHOTS="+shots,
				"OFFGRID_START_PEER_CMD="+startCmd, "OFFGRID_START_PEER_URL="+late.url, "OFFGRID_WC_WASM="+wc)
			out, err := cmd.CombinedOutput()
			t.Logf("%s:\n%s", filepath.Base(script), out)
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(script), err)
			}
		})
	}
}
