package main

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/storage"
)

// TestGetSurvivesFrozenHost: one host stops answering shard reads (as a
// SIGSTOPped process would, while its peer entry still looks up): a get
// still completes, costing at most one per-shard deadline more than a
// healthy get. Then 3 more hosts are killed, leaving exactly k: the get
// still completes within the same bound, before the peer table noticed.
func TestGetSurvivesFrozenHost(t *testing.T) {
	const (
		size      = 8
		frozenIdx = 5
		shardSize = 64 << 10
	)
	var frozen atomic.Bool
	var proxyURL string
	m := startMesh(t, size, func(i int, o *nodeOptions) {
		if i == frozenIdx {
			// Requests through the proxy are signed for the proxy's
			// address: node 5 must count it as one of its names.
			o.endpoint = proxyURL
		}
		if i != 0 {
			return
		}
		// Node 0 reaches node 5 through a proxy that, once frozen, holds
		// every shard read open without a byte until the client gives up.
		u, _ := url.Parse(o.peers[frozenIdx-1])
		rp := httputil.NewSingleHostReverseProxy(u)
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if frozen.Load() && r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/shards/") {
				<-r.Context().Done()
				return
			}
			rp.ServeHTTP(w, r)
		}))
		t.Cleanup(proxy.Close)
		proxyURL = proxy.URL
		o.peers[frozenIdx-1] = proxy.URL
	})
	m.waitPeers(0, size-1)
	src := randomFile(t, 2<<20)
	a := putFile(t, m.env(0), src, "--k", "4", "--n", "8", "--shard-size", "65536")
	if a.Hosts != size {
		t.Fatalf("put = %+v, want shards on all %d hosts", a, size)
	}
	get := func() time.Duration {
		got := filepath.Join(t.TempDir(), "got.bin")
		start := time.Now()
		mustCLI(t, m.env(0), "get", a.AssetID, "-o", got, "--no-progress", "--timeout", "2m")
		took := time.Since(start)
		sameBytes(t, src, got)
		return took
	}
	healthy := get()
	frozen.Store(true)
	slow := get()
	deadline := storage.DefaultTransferConfig().ShardDeadline(shardSize)
	// Generous for a loaded machine: the frozen host really costs one hedge
	// delay (500 ms), not the deadline.
	if slow > 2*healthy+deadline {
		t.Errorf("get with a frozen host took %s, healthy %s: want at most one shard deadline (%s) more", slow, healthy, deadline)
	}
	for i := 1; i <= 3; i++ {
		m.kill(i)
	}
	degraded := get()
	if degraded > 2*healthy+deadline {
		t.Errorf("get with a frozen and 3 killed hosts took %s, healthy %s: want at most one shard deadline (%s) more",
			degraded, healthy, deadline)
	}
	t.Logf("healthy get %s, with a frozen host %s, and 3 killed %s", healthy, slow, degraded)
}
