package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/offgrid-net/offgrid/internal/testutil"
	"github.com/offgrid-net/offgrid/server/servertest"
)

// waitTimeout bounds every wait for something another goroutine does.
const waitTimeout = 5 * time.Second

// shardReply is the JSON of a stored shard (Shard and ShardData).
type shardReply struct {
	AssetID string `json:"asset_id"`
	Index   int    `json:"index"`
	Size    int64  `json:"size"`
	Hash    string `json:"hash"`
	DataB64 []byte `json:"data_b64,omitempty"`
}

func decodeShard(t testing.TB, r response) shardReply {
	t.Helper()
	var s shardReply
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("decode shard %q: %v", r.body, err)
	}
	return s
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// putShard uploads data with the admin token and, when hash is not empty,
// an Offgrid-Shard-Hash header.
func putShard(t testing.TB, tn *servertest.Node, path string, data []byte, hash string) response {
	t.Helper()
	req := newRequest(t, tn, "PUT", path, data, true)
	if hash != "" {
		req.Header.Set("Offgrid-Shard-Hash", hash)
	}
	return do(t, tn, req)
}

// uploadStarts reports the path of each shard upload whose body the
// server starts reading, which the node does only once it holds a store
// slot.
type uploadStarts chan string

func (c uploadStarts) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.HasPrefix(r.URL.Path, "/shards/") {
			r.Body = &firstRead{ReadCloser: r.Body, signal: func() { c <- r.URL.Path }}
		}
		next.ServeHTTP(w, r)
	})
}

type firstRead struct {
	io.ReadCloser
	once   sync.Once
	signal func()
}

func (f *firstRead) Read(p []byte) (int, error) {
	f.once.Do(f.signal)
	return f.ReadCloser.Read(p)
}

// TestStoreConcurrencyLimit holds StoreConcurrency uploads open and checks
// that one more is refused at once with 503 and Retry-After, and that
// uploads are accepted again once the held ones finish.
func TestStoreConcurrencyLimit(t *testing.T) {
	testutil.CheckGoroutines(t)
	const limit = 4
	starts := make(uploadStarts, 2*limit)
	tn := servertest.Start(t, servertest.Options{StoreConcurrency: limit, Wrap: starts.wrap})

	type result struct {
		status int
		err    error
	}
	var (
		pipes   []*io.PipeWriter
		results = make(chan result, limit)
		wg      sync.WaitGroup
	)
	defer wg.Wait()
	for i := range limit {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		defer pw.Close()
		req := newRequest(t, tn, "PUT", "/shards/held/"+string(rune('0'+i)), nil, true)
		req.Body = pr
		req.Header.Set("Content-Type", "application/octet-stream")
		wg.Go(func() {
			resp, err := tn.Client.Do(req)
			if err != nil {
				results <- result{err: err}
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			results <- result{status: resp.StatusCode}
		})
	}
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	for range limit {
		select {
		case <-starts:
		case r := <-results:
			t.Fatalf("a held upload ended early: %+v", r)
		case <-timeout.C:
			t.Fatalf("the %d held uploads did not all start within %v", limit, waitTimeout)
		}
	}

	busy := putShard(t, tn, "/shards/extra/0", []byte("one too many"), "")
	checkProblem(t, "upload over the limit", busy, http.StatusServiceUnavailable)
	if got := busy.Header.Get("Retry-After"); got != "2" {
		t.Errorf("upload over the limit: Retry-After = %q, want %q", got, "2")
	}

	for i, pw := range pipes {
		if _, err := pw.Write([]byte("held shard " + string(rune('0'+i)))); err != nil {
			t.Fatalf("write held upload %d: %v", i, err)
		}
		pw.Close()
	}
	for range limit {
		select {
		case r := <-results:
			if r.err != nil || r.status != http.StatusCreated {
				t.Errorf("held upload = %+v, want status 201", r)
			}
		case <-timeout.C:
			t.Fatalf("held uploads did not finish within %v", waitTimeout)
		}
	}
	if r := putShard(t, tn, "/shards/extra/0", []byte("now there is room"), ""); r.StatusCode != http.StatusCreated {
		t.Errorf("upload after the held ones finished = %d, want 201: %s", r.StatusCode, r.body)
	}
}

// TestShardRoundTrips stores shards through both APIs, reads them back and
// checks the store's refusals: hash mismatch, oversize, conflict,
// corruption on disk.
func TestShardRoundTrips(t *testing.T) {
	testutil.CheckGoroutines(t)
	const maxShard = 64 << 10
	tn := servertest.Start(t, servertest.Options{MaxShardBytes: maxShard})

	t.Run("JSON store and fetch", func(t *testing.T) {
		data := randomBytes(t, 3000)
		body := mustJSON(t, map[string]any{"asset_id": "json-asset", "index": 7, "data_b64": base64.StdEncoding.EncodeToString(data), "hash": hashOf(data)})
		r := call(t, tn, "POST", "/store", body, true)
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("POST /store = %d, want 201: %s", r.StatusCode, r.body)
		}
		want := shardReply{AssetID: "json-asset", Index: 7, Size: 3000, Hash: hashOf(data)}
		if diff := cmp.Diff(want, decodeShard(t, r)); diff != "" {
			t.Errorf("POST /store mismatch (-want +got):\n%s", diff)
		}
		f := call(t, tn, "GET", "/fetch?asset_id=json-asset&index=7", nil, true)
		if f.StatusCode != http.StatusOK {
			t.Fatalf("GET /fetch = %d, want 200: %s", f.StatusCode, f.body)
		}
		want.DataB64 = data
		if diff := cmp.Diff(want, decodeShard(t, f)); diff != "" {
			t.Errorf("GET /fetch mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("binary put and get", func(t *testing.T) {
		data := randomBytes(t, maxShard)
		r := putShard(t, tn, "/shards/bin-asset/0", data, hashOf(data))
		if r.StatusCode != http.StatusCreated {
			t.Fatalf("PUT /shards = %d, want 201: %s", r.StatusCode, r.body)
		}
		if diff := cmp.Diff(shardReply{AssetID: "bin-asset", Index: 0, Size: maxShard, Hash: hashOf(data)}, decodeShard(t, r)); diff != "" {
			t.Errorf("PUT /shards mismatch (-want +got):\n%s", diff)
		}
		g := call(t, tn, "GET", "/shards/bin-asset/0", nil, true)
		if g.StatusCode != http.StatusOK {
			t.Fatalf("GET /shards = %d, want 200: %s", g.StatusCode, g.body)
		}
		if !bytes.Equal(g.body, data) {
			t.Errorf("GET /shards returned %d bytes that differ from the %d stored", len(g.body), len(data))
		}
		if got := g.Header.Get("Offgrid-Shard-Hash"); got != hashOf(data) {
			t.Errorf("GET /shards: Offgrid-Shard-Hash = %q, want %q", got, hashOf(data))
		}
		if got := g.Header.Get("Content-Type"); got != "application/octet-stream" {
			t.Errorf("GET /shards: Content-Type = %q, want application/octet-stream", got)
		}

		// Without a hash header the store computes it.
		r = putShard(t, tn, "/shards/bin-asset/1", []byte("no header"), "")
		if r.StatusCode != http.StatusCreated || decodeShard(t, r).Hash != hashOf([]byte("no header")) {
			t.Errorf("PUT /shards without hash = %d %s, want 201 with the content hash", r.StatusCode, r.body)
		}
	})

	t.Run("re-upload is idempotent, other content conflicts", func(t *testing.T) {
		data := []byte("first content")
		for i := range 2 {
			if r := putShard(t, tn, "/shards/same/0", data, hashOf(data)); r.StatusCode != http.StatusCreated {
				t.Fatalf("PUT #%d of the same content = %d, want 201: %s", i+1, r.StatusCode, r.body)
			}
		}
		checkProblem(t, "PUT of other content", putShard(t, tn, "/shards/same/0", []byte("second content"), ""), http.StatusConflict)
		checkProblem(t, "POST /store of other content", call(t, tn, "POST", "/store",
			storeJSON("same", 0, []byte("third content"), ""), true), http.StatusConflict)
		g := call(t, tn, "GET", "/shards/same/0", nil, true)
		if g.StatusCode != http.StatusOK || !bytes.Equal(g.body, data) {
			t.Errorf("GET after conflicts = %d %q, want 200 %q", g.StatusCode, g.body, data)
		}
	})

	t.Run("refused uploads store nothing", func(t *testing.T) {
		before := blobFiles(t, tn)
		checkProblem(t, "PUT with hash mismatch", putShard(t, tn, "/shards/refused/0", []byte("abc"), hashOf([]byte("abd"))), http.StatusBadRequest)
		checkProblem(t, "POST /store with hash mismatch", call(t, tn, "POST", "/store",
			storeJSON("refused", 1, []byte("abc"), `,"hash":"`+hashOf([]byte("abd"))+`"`), true), http.StatusBadRequest)
		checkProblem(t, "PUT oversize", putShard(t, tn, "/shards/refused/2", randomBytes(t, maxShard+1), ""), http.StatusRequestEntityTooLarge)
		checkProblem(t, "POST /store oversize", call(t, tn, "POST", "/store",
			storeJSON("refused", 3, randomBytes(t, maxShard+1), ""), true), http.StatusRequestEntityTooLarge)
		for _, p := range []string{"/shards/refused/0", "/shards/refused/1", "/shards/refused/2", "/shards/refused/3"} {
			checkProblem(t, "GET "+p, call(t, tn, "GET", p, nil, true), http.StatusNotFound)
		}
		if diff := cmp.Diff(before, blobFiles(t, tn)); diff != "" {
			t.Errorf("refused uploads left files (-before +after):\n%s", diff)
		}
	})

	t.Run("corrupt blob is detected and quarantined", func(t *testing.T) {
		data := []byte("bytes that will rot on disk")
		if r := putShard(t, tn, "/shards/rot/0", data, ""); r.StatusCode != http.StatusCreated {
			t.Fatalf("PUT = %d, want 201: %s", r.StatusCode, r.body)
		}
		blob := filepath.Join(tn.Dir, "shards", "blobs", hashOf(data)[:2], hashOf(data))
		b, err := os.ReadFile(blob)
		if err != nil {
			t.Fatalf("read blob: %v", err)
		}
		b[3] ^= 0x01
		if err := os.WriteFile(blob, b, 0o600); err != nil {
			t.Fatalf("flip blob: %v", err)
		}
		checkProblem(t, "GET of a corrupt shard", call(t, tn, "GET", "/shards/rot/0", nil, true), http.StatusGone)
		checkProblem(t, "GET after quarantine", call(t, tn, "GET", "/shards/rot/0", nil, true), http.StatusNotFound)
		checkProblem(t, "fetch after quarantine", call(t, tn, "GET", "/fetch?asset_id=rot&index=0", nil, true), http.StatusNotFound)
		if _, err := os.Stat(blob); !os.IsNotExist(err) {
			t.Errorf("corrupt blob still at %s (err %v), want it moved to quarantine", blob, err)
		}
		q, _ := filepath.Glob(filepath.Join(tn.Dir, "shards", "quarantine", hashOf(data)+"-*"))
		if len(q) != 1 {
			t.Errorf("quarantine holds %v, want one file for %s", q, hashOf(data))
		}
		// The address is free again for a good copy.
		if r := putShard(t, tn, "/shards/rot/0", data, hashOf(data)); r.StatusCode != http.StatusCreated {
			t.Errorf("PUT of a good copy after quarantine = %d, want 201: %s", r.StatusCode, r.body)
		}
	})
}

// TestLargeShards stores shards bigger than the API's 1 MiB JSON body limit
// through both upload paths: PUT must stream (no JSON limit) and POST
// /store must allow a whole base64 shard.
func TestLargeShards(t *testing.T) {
	testutil.CheckGoroutines(t)
	const maxShard = 3 << 20
	tn := servertest.Start(t, servertest.Options{MaxShardBytes: maxShard})
	data := randomBytes(t, maxShard)
	if r := putShard(t, tn, "/shards/large/0", data, hashOf(data)); r.StatusCode != http.StatusCreated {
		t.Errorf("PUT of a %d-byte shard = %d, want 201: %s", len(data), r.StatusCode, r.body)
	}
	if r := call(t, tn, "POST", "/store", storeJSON("large", 1, data, ""), true); r.StatusCode != http.StatusCreated {
		t.Errorf("POST /store of a %d-byte shard = %d, want 201: %s", len(data), r.StatusCode, r.body)
	}
	g := call(t, tn, "GET", "/shards/large/1", nil, true)
	if g.StatusCode != http.StatusOK || !bytes.Equal(g.body, data) {
		t.Errorf("GET /shards/large/1 = %d with %d bytes, want 200 with the %d stored", g.StatusCode, len(g.body), len(data))
	}
}
