package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// Soak test bounds. The file handles an idle node may keep beyond those it
// had before the burst: the database pool's idle connections (each the
// database, its WAL and a few more) until they expire, and a few of the
// runtime's. The heap may keep some more for sync.Pools and the pool's
// statement caches.
const (
	soakClients   = 2000
	soakFDSlack   = 4*sqlitedb.MaxOpenConns + 8
	soakHeapSlack = 16 << 20
	// soakSettle bounds the wait for handles and memory to come back.
	soakSettle = 30 * time.Second
)

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("count file descriptors: %v", err)
	}
	return len(fds)
}

// heapInUse returns the heap in use after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestSoak runs soakClients concurrent clients against one node for
// OFFGRID_SOAK (a duration, e.g. 20s; `make soak`), mixing quotes (the
// database), health checks (disk and database), announces and shard
// uploads (upload slots), and checks that no answer is a 5xx other than
// 503 with Retry-After, and that afterwards the process's file handles and
// heap come back to their idle level.
func TestSoak(t *testing.T) {
	d := os.Getenv("OFFGRID_SOAK")
	if d == "" {
		t.Skip("set OFFGRID_SOAK to a duration (make soak) to run the soak test")
	}
	duration, err := time.ParseDuration(d)
	if err != nil {
		t.Fatalf("OFFGRID_SOAK=%q: %v", d, err)
	}
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("the soak test counts file handles in /proc/self/fd")
	}
	testutil.CheckGoroutines(t)
	tn := servertest.Start(t, servertest.Options{})
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxConnsPerHost: soakClients, MaxIdleConnsPerHost: soakClients,
	}}
	defer client.CloseIdleConnections()
	for range 3 {
		call(t, tn, "GET", "/quote?type=storage&size=1", nil, false)
		call(t, tn, "GET", "/healthz", nil, false)
	}
	tn.Client.CloseIdleConnections()
	idleFDs, idleHeap := openFDs(t), heapInUse()

	var (
		statuses [600]atomic.Int64
		failures atomic.Int64
		wg       sync.WaitGroup
	)
	stop := time.Now().Add(duration)
	for i := range soakClients {
		wg.Go(func() {
			for n := 0; time.Now().Before(stop); n++ {
				req, err := soakRequest(tn, i, n)
				if err != nil {
					failures.Add(1)
					continue
				}
				resp, err := client.Do(req)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[resp.StatusCode].Add(1)
				if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
					failures.Add(1)
				}
			}
		})
	}
	wg.Wait()
	var total int64
	counts := map[int]int64{}
	for code := range statuses {
		if n := statuses[code].Load(); n > 0 {
			counts[code] = n
			total += n
		}
	}
	t.Logf("%d answers in %v from %d clients: %v; %d transport errors or 503s without Retry-After", total, duration, soakClients, counts, failures.Load())
	for code, n := range counts {
		if code >= 500 && code != http.StatusServiceUnavailable {
			t.Errorf("%d answers with status %d, want none", n, code)
		}
	}
	if f := failures.Load(); f > 0 {
		t.Errorf("%d requests failed in transport or got 503 without Retry-After, want none", f)
	}

	client.CloseIdleConnections()
	deadline := time.Now().Add(soakSettle)
	for {
		fds, heap := openFDs(t), heapInUse()
		if fds <= idleFDs+soakFDSlack && heap <= idleHeap+soakHeapSlack {
			t.Logf("file handles %d (idle %d), heap in use %d MiB (idle %d MiB)", fds, idleFDs, heap>>20, idleHeap>>20)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v after the burst: %d file handles (idle %d, allowed %d more), heap in use %d MiB (idle %d MiB, allowed %d MiB more)",
				soakSettle, fds, idleFDs, soakFDSlack, heap>>20, idleHeap>>20, soakHeapSlack>>20)
		}
		time.Sleep(time.Second)
	}
}

// soakRequest is client i's n-th request: mostly reads, some uploads.
func soakRequest(tn *servertest.Node, i, n int) (*http.Request, error) {
	switch (i + n) % 4 {
	case 0:
		return http.NewRequest("GET", tn.URL+"/quote?type=storage&size=1.5", nil)
	case 1:
		return http.NewRequest("GET", tn.URL+"/healthz", nil)
	case 2:
		return http.NewRequest("GET", tn.URL+"/announce", nil)
	}
	body := fmt.Appendf(nil, "soak shard of client %d", i)
	req, err := http.NewRequest("PUT", fmt.Sprintf("%s/shards/soak-%d/%d", tn.URL, i, n%256), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	return servertest.Authorize(req), nil
}
