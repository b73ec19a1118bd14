package server_test

import (
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/internal/sqlitedb"
	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// healthReply is the JSON of GET /healthz.
type healthReply struct {
	Status string `json:"status"`
	Disk   struct {
		OK           bool  `json:"ok"`
		FreeBytes    int64 `json:"free_bytes"`
		MinFreeBytes int64 `json:"min_free_bytes"`
	} `json:"disk"`
	Database struct {
		OK              bool `json:"ok"`
		OpenConnections int  `json:"open_connections"`
	} `json:"database"`
}

// health asks tn's /healthz and checks the status against the body.
func health(t *testing.T, tn *servertest.Node) (int, healthReply) {
	t.Helper()
	r := call(t, tn, "GET", "/healthz", nil, false)
	var h healthReply
	decodeJSON(t, r, &h)
	switch {
	case r.StatusCode == http.StatusOK && h.Status != "ok",
		r.StatusCode == http.StatusServiceUnavailable && (h.Status != "unhealthy" || r.Header.Get("Retry-After") == ""):
		t.Errorf("GET /healthz = %d with status %q, Retry-After %q", r.StatusCode, h.Status, r.Header.Get("Retry-After"))
	}
	return r.StatusCode, h
}

// mountTmpfs mounts a tmpfs of size (e.g. "4m") on a fresh directory, or
// skips the test where that is not possible, and unmounts it at cleanup,
// after whatever the test registers later has stopped.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a full disk is tested on a small tmpfs, which only root can mount; run the test as root")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "offgrid-test", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s); the full-disk test needs one", err, strings.TrimSpace(string(out)))
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fill writes a file at path until the disk is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 64<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatalf("fill %s: %v", path, err)
		}
	}
}

// TestFullDisk runs a node on a 4 MiB tmpfs: a shard that does not fit,
// one sent when the disk is full and a receipt that cannot be written
// (SQLITE_FULL) are 507 with nothing left behind,
// /healthz answers 503 while the disk is below --min-free-bytes, and the
// node takes shards again once there is room.
func TestFullDisk(t *testing.T) {
	testutil.CheckGoroutines(t)
	dir := mountTmpfs(t, "4m")
	tn := servertest.Start(t, servertest.Options{Dir: dir, MinFreeBytes: 1 << 20, MaxShardBytes: 8 << 20})

	if status, h := health(t, tn); status != http.StatusOK || !h.Disk.OK || !h.Database.OK || h.Disk.MinFreeBytes != 1<<20 {
		t.Fatalf("GET /healthz on an empty disk = %d %+v, want 200 with disk and database ok", status, h)
	}
	first := randomBytes(t, 1<<20)
	if r := putShard(t, tn, "/shards/fits/0", first, hashOf(first)); r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT of a shard that fits = %d, want 201: %s", r.StatusCode, r.body)
	}
	stored := blobFiles(t, tn)

	r := putShard(t, tn, "/shards/toolarge/0", randomBytes(t, 5<<20), "")
	checkProblem(t, "PUT of a shard larger than the disk", r, http.StatusInsufficientStorage)
	if !strings.Contains(string(r.body), "no space") {
		t.Errorf("PUT of a shard larger than the disk: body %s does not say the disk is full", r.body)
	}
	checkProblem(t, "GET of the shard that did not fit", call(t, tn, "GET", "/shards/toolarge/0", nil, true), http.StatusNotFound)
	if diff := cmp.Diff(stored, blobFiles(t, tn)); diff != "" {
		t.Errorf("files after the refused shard (-before +after):\n%s", diff)
	}

	filler := filepath.Join(dir, "filler")
	fill(t, filler)
	if status, h := health(t, tn); status != http.StatusServiceUnavailable || h.Disk.OK || h.Disk.FreeBytes >= 1<<20 {
		t.Errorf("GET /healthz on a full disk = %d %+v, want 503 with disk not ok", status, h)
	}
	checkProblem(t, "PUT on a full disk", putShard(t, tn, "/shards/full/0", randomBytes(t, 64<<10), ""), http.StatusInsufficientStorage)
	// The receipt's INSERT grows the WAL: SQLITE_FULL, rolled back.
	checkProblem(t, "POST /run on a full disk", call(t, tn, "POST", "/run", []byte(`{"job_id":"on-a-full-disk"}`), true), http.StatusInsufficientStorage)
	if diff := cmp.Diff(stored, blobFiles(t, tn)); diff != "" {
		t.Errorf("files after a PUT on a full disk (-before +after):\n%s", diff)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if status, h := health(t, tn); status != http.StatusOK {
		t.Errorf("GET /healthz after freeing space = %d %+v, want 200", status, h)
	}
	if r := putShard(t, tn, "/shards/full/0", []byte("room again"), ""); r.StatusCode != http.StatusCreated {
		t.Errorf("PUT after freeing space = %d, want 201: %s", r.StatusCode, r.body)
	}
	if r := call(t, tn, "GET", "/receipts/export", nil, false); strings.Contains(string(r.body), "on-a-full-disk") {
		t.Errorf("GET /receipts/export = %s, want no receipt of the job refused on a full disk", r.body)
	}
	if r := call(t, tn, "POST", "/run", []byte(`{"job_id":"on-a-full-disk"}`), true); r.StatusCode != http.StatusOK {
		t.Errorf("POST /run after freeing space = %d, want 200: %s", r.StatusCode, r.body)
	}
	if r := call(t, tn, "GET", "/receipts/export", nil, false); !strings.Contains(string(r.body), "on-a-full-disk") {
		t.Errorf("GET /receipts/export = %s, want the receipt of the job run after freeing space", r.body)
	}
}

// TestStartRemovesLeftovers leaves in a data directory what a node killed
// mid-upload leaves (partial uploads, a blob without its row), starts a
// node on it and checks that they are gone and counted in /metrics.
func TestStartRemovesLeftovers(t *testing.T) {
	testutil.CheckGoroutines(t)
	dir := t.TempDir()
	orphan := hashOf([]byte("a blob whose row was never written"))
	for name, data := range map[string]string{
		"shards/tmp/shard-1":                        "partial",
		"shards/tmp/shard-2":                        "partial",
		"shards/tmp/shard-3":                        "partial",
		"shards/blobs/" + orphan[:2] + "/" + orphan: "a blob whose row was never written",
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tn := servertest.Start(t, servertest.Options{Dir: dir})
	if files := blobFiles(t, tn); len(files) != 0 {
		t.Errorf("shard files after start: %v, want none", files)
	}
	m := call(t, tn, "GET", "/metrics", nil, false)
	for _, want := range []string{
		`offgrid_shard_store_startup_removed{kind="tmp"} 3`,
		`offgrid_shard_store_startup_removed{kind="blob"} 1`,
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestDatabasePoolIsBounded sends many concurrent requests that read the
// database and checks that every one is answered while the pool never has
// more than sqlitedb.MaxOpenConns connections open.
func TestDatabasePoolIsBounded(t *testing.T) {
	testutil.CheckGoroutines(t)
	tn := servertest.Start(t, servertest.Options{})
	if got := tn.DB.Stats().MaxOpenConnections; got != sqlitedb.MaxOpenConns {
		t.Fatalf("MaxOpenConnections = %d, want %d", got, sqlitedb.MaxOpenConns)
	}
	const requests = 200
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: requests, MaxIdleConnsPerHost: requests}}
	defer client.CloseIdleConnections()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		answers = map[int]int{}
		maxOpen int
		done    = make(chan struct{})
	)
	wg.Go(func() {
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			open := tn.DB.Stats().OpenConnections
			mu.Lock()
			maxOpen = max(maxOpen, open)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	var reqs sync.WaitGroup
	for range requests {
		reqs.Go(func() {
			resp, err := client.Get(tn.URL + "/quote?type=storage&size=1.5")
			status := -1
			if err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			mu.Lock()
			answers[status]++
			mu.Unlock()
		})
	}
	reqs.Wait()
	close(done)
	wg.Wait()
	if diff := cmp.Diff(map[int]int{http.StatusOK: requests}, answers); diff != "" {
		t.Errorf("answers to %d concurrent quotes by status (-want +got):\n%s", requests, diff)
	}
	if maxOpen > sqlitedb.MaxOpenConns || maxOpen == 0 {
		t.Errorf("at most %d database connections were open, want 1 to %d", maxOpen, sqlitedb.MaxOpenConns)
	}
	t.Logf("peak open connections %d, waits for a connection %d", maxOpen, tn.DB.Stats().WaitCount)
}

// TestConcurrentDifferentUploadsLeaveOneBlob races uploads of different
// bytes to one shard address: one is stored, the others are 409, and the
// store holds exactly the winner's blob, no loser's and no temp file.
func TestConcurrentDifferentUploadsLeaveOneBlob(t *testing.T) {
	testutil.CheckGoroutines(t)
	const uploads = 8
	tn := servertest.Start(t, servertest.Options{StoreConcurrency: uploads})
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
		start    = make(chan struct{})
	)
	for range uploads {
		data := randomBytes(t, 64<<10)
		req := newRequest(t, tn, "PUT", "/shards/contested/3", data, true)
		wg.Go(func() {
			<-start
			resp, err := tn.Client.Do(req)
			status := -1
			if err == nil {
				status = resp.StatusCode
				resp.Body.Close()
			}
			mu.Lock()
			statuses[status]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	if diff := cmp.Diff(map[int]int{http.StatusCreated: 1, http.StatusConflict: uploads - 1}, statuses); diff != "" {
		t.Errorf("answers to %d different uploads of one address (-want +got):\n%s", uploads, diff)
	}
	g := call(t, tn, "GET", "/shards/contested/3", nil, true)
	if g.StatusCode != http.StatusOK {
		t.Fatalf("GET of the contested shard = %d, want 200", g.StatusCode)
	}
	h := hashOf(g.body)
	if diff := cmp.Diff([]string{"blobs/" + h[:2] + "/" + h}, blobFiles(t, tn)); diff != "" {
		t.Errorf("shard files, want only the winner's blob (-want +got):\n%s", diff)
	}
}
