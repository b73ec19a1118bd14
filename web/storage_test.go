package web

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zeebo/blake3"

	"github.com/offgrid-net/offgrid/node"
)

// put sends body to POST /ui/assets?query as the page's script does.
// size < 0 sends it chunked (no Content-Length).
func (e *testEnv) put(t *testing.T, cookie, query string, body io.Reader, size int64) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+"/ui/assets?"+query, body)
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/octet-stream")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	return e.send(t, req)
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// putFile stores data as a file through the node, as a put from the API
// or the command line does, and returns the asset.
func (e *testEnv) putFile(t *testing.T, data []byte, opts node.PutOptions) node.Asset {
	t.Helper()
	opts.Size = int64(len(data))
	// The test node is alone: it holds every shard of a stripe itself.
	opts.AllowSharedHosts = true
	a, err := e.node.PutAsset(t.Context(), bytes.NewReader(data), opts)
	if err != nil {
		t.Fatalf("PutAsset(%q): %v", opts.Name, err)
	}
	return a
}

// shardBlob returns the file in the node's data directory that holds the
// bytes of the shard the node stores under (hostAssetID, index): the
// stripe's asset ID is "<asset ID>.<stripe>".
func (e *testEnv) shardBlob(t *testing.T, hostAssetID string, index int) string {
	t.Helper()
	sh, err := e.node.StatShard(t.Context(), hostAssetID, index)
	if err != nil {
		t.Fatalf("StatShard(%s, %d): %v", hostAssetID, index, err)
	}
	var path string
	err = filepath.WalkDir(filepath.Join(e.dir, "shards"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == sh.Hash {
			path = p
		}
		return err
	})
	if err != nil || path == "" {
		t.Fatalf("no blob %s for shard %s/%d under %s (%v)", sh.Hash, hostAssetID, index, e.dir, err)
	}
	return path
}

// loseShard deletes a shard's bytes from the node's data directory, as a
// failing disk would, and has the node read it: it notices, and forgets
// the shard.
func (e *testEnv) loseShard(t *testing.T, hostAssetID string, index int) {
	t.Helper()
	if err := os.Remove(e.shardBlob(t, hostAssetID, index)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.node.OpenShard(t.Context(), hostAssetID, index, ""); !errors.Is(err, node.ErrCorrupt) {
		t.Fatalf("OpenShard(%s, %d) of a deleted blob = %v, want ErrCorrupt", hostAssetID, index, err)
	}
}

// breakShardWrites replaces the shard store's directory for uploads in
// progress (DATA/shards/tmp) with a file, so that the node can store no
// new shard, as on a failing disk, while it still serves those it has.
func (e *testEnv) breakShardWrites(t *testing.T) {
	t.Helper()
	tmp := filepath.Join(e.dir, "shards", "tmp")
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPutAssetStreams(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	cookie := e.login(t)
	sub := e.subscribe(t)

	// The body goes through a pipe, and the writer never gets more than
	// window bytes ahead of what the node has stored (each 1 MiB shard of
	// a 2-of-3 stripe holds half a MiB of the file). A handler that read
	// the whole body before calling PutAsset would stall here.
	const total = 16 << 20
	const window = 4 << 20
	const k, n = 2, 3
	data := randomBytes(t, total)
	pr, pw := io.Pipe()
	writeErr := make(chan error, 1)
	go func() {
		deadline := time.NewTimer(10 * time.Second)
		defer deadline.Stop()
		var stored int64
		for off := 0; off < total; off += 64 << 10 {
			for int64(off)-stored > window {
				select {
				case env := <-sub.C():
					if sh, ok := env.Event.(node.ShardStored); ok {
						stored += sh.Size * k / n
					}
				case <-deadline.C:
					err := fmt.Errorf("the node had stored shards for %d bytes after %d were sent: the handler is not streaming", stored, off)
					pw.CloseWithError(err)
					writeErr <- err
					return
				}
			}
			if _, err := pw.Write(data[off : off+64<<10]); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- pw.Close()
	}()
	q := url.Values{paramName: {"river survey.tar"}, paramMode: {"ec"}, paramK: {"2"}, paramN: {"3"}, paramShared: {"1"}}
	resp, body := e.put(t, cookie, q.Encode(), pr, -1)
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /ui/assets = %d, want 201:\n%s", resp.StatusCode, body)
	}
	as, err := e.node.Assets(t.Context())
	if err != nil || len(as) != 1 {
		t.Fatalf("the node has assets %+v (%v), want 1", as, err)
	}
	a := as[0]
	sum := blake3.Sum256(data)
	got := []any{a.Name, a.Mode, a.K, a.N, a.Adaptive, a.Size, a.FileHash, a.State}
	want := []any{"river survey.tar", "ec", k, n, false, int64(total), hex.EncodeToString(sum[:]), node.AssetStored}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored asset (name, mode, k, n, adaptive, size, hash, state) mismatch (-want +got):\n%s", diff)
	}
	wantAll(t, "put result", body, `data-testid="put-result"`, `data-asset-id="`+a.ID+`"`, `data-state="stored"`,
		"river survey.tar", "16.0 MiB", "ec 2/3", `data-testid="put-result-id">`+a.ID+`<`,
		`data-testid="put-result-survives" data-survives="0"`, "survives 0 host losses")
	if strings.Contains(body, "<html") {
		t.Error("put result is a full page, want a fragment")
	}

	// With a Content-Length, the node knows the size: a small file gets
	// small shards, not the 1 MiB of a file of unknown size.
	small := randomBytes(t, 1000)
	resp, body = e.put(t, cookie, url.Values{paramName: {"a.bin"}, paramMode: {"rep"}, paramR: {"3"}, paramShared: {"1"}}.Encode(), bytes.NewReader(small), int64(len(small)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /ui/assets = %d:\n%s", resp.StatusCode, body)
	}
	as, err = e.node.Assets(t.Context())
	if err != nil || len(as) != 2 {
		t.Fatalf("the node has assets %+v (%v), want 2", as, err)
	}
	i := slices.IndexFunc(as, func(a node.Asset) bool { return a.Name == "a.bin" })
	if i < 0 {
		t.Fatalf("no a.bin among %+v", as)
	}
	got = []any{as[i].Name, as[i].Mode, as[i].K, as[i].N, as[i].Size, as[i].ShardSize}
	if diff := cmp.Diff([]any{"a.bin", "rep", 1, 3, int64(1000), 4096}, got); diff != "" {
		t.Errorf("stored asset (name, mode, k, n, size, shard size) mismatch (-want +got):\n%s", diff)
	}
}

func TestPutAssetBadParams(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	sub := e.subscribe(t)
	cookie := e.login(t)
	tests := []struct {
		name, query, want string
	}{
		{"no name", "mode=ec", "needs a name"},
		{"blank name", "name=%20%20&mode=ec", "needs a name"},
		{"long name", "name=" + strings.Repeat("a", 256), "longer than 255"},
		{"long unicode name", "name=" + strings.Repeat("%C3%A9", 256), "longer than 255"},
		{"newline in name", "name=a%0Ab.txt", "control characters"},
		{"bad utf-8", "name=%FF%FE.txt", "UTF-8"},
		{"mode", "name=a&mode=raid5", "Mode must be"},
		{"k word", "name=a&k=twelve", "k must be a whole number"},
		{"k zero", "name=a&k=0&n=20", "k must be a whole number"},
		{"n negative", "name=a&k=12&n=-20", "n must be a whole number"},
		{"n huge", "name=a&k=12&n=99999999999999999999", "n must be a whole number"},
		{"r fraction", "name=a&mode=rep&r=2.5", "r must be a whole number"},
		{"r with ec", "name=a&mode=ec&r=3", "rep mode only"},
		{"k with rep", "name=a&mode=rep&k=3", "ec mode only"},
		{"allow_shared_hosts word", "name=a&allow_shared_hosts=yes", "allow_shared_hosts must be 1 or 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.put(t, cookie, tt.query, strings.NewReader("hello"), 5)
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", resp.StatusCode)
			}
			wantAll(t, "bad params", body, `data-testid="put-error"`, tt.want)
		})
	}
	t.Run("not octet-stream", func(t *testing.T) {
		for _, ct := range []string{"", "text/plain", "multipart/form-data; boundary=x", "application/x-www-form-urlencoded"} {
			req, _ := http.NewRequest("POST", e.srv.URL+"/ui/assets?name=a", strings.NewReader("hello"))
			req.Header.Set("Cookie", cookie)
			if ct != "" {
				req.Header.Set("Content-Type", ct)
			}
			resp, err := e.client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnsupportedMediaType {
				t.Errorf("Content-Type %q: status = %d, want 415", ct, resp.StatusCode)
			}
		}
	})
	if as, err := e.node.Assets(t.Context()); err != nil || len(as) != 0 {
		t.Errorf("the node has assets %+v (%v) after bad requests, want none", as, err)
	}
	if evs := published(sub); len(evs) != 0 {
		t.Errorf("node events after bad requests: %+v, want none", evs)
	}
}

func TestPutAssetErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// query and body are the upload; prepare, when set, brings the node
		// into the state under test first.
		query      string
		body       []byte
		opts       envOptions
		prepare    func(t *testing.T, e *testEnv)
		wantStatus int
		want       string
		notWant    string
	}{
		{name: "invalid", query: "name=photo.jpg&k=12&n=8", body: []byte("hello"),
			wantStatus: 400, want: "need 1 &lt;= k &lt;= n &lt;= 256, got k=12 n=8.", notWant: "invalid request"},
		// A file whose one shard would be larger than the node accepts.
		{name: "over the shard limit", query: "name=photo.jpg&k=1&n=1", body: make([]byte, 256<<10),
			opts:       envOptions{node: func(c *node.Config) { c.MaxShardBytes = 64 << 10 }},
			wantStatus: 400, want: "exceeds this node&#39;s limit of 65536 bytes.", notWant: "invalid request"},
		{name: "no hosts", query: "name=photo.jpg", body: []byte("hello"),
			prepare: func(t *testing.T, e *testEnv) {
				if _, err := e.node.SetActive(t.Context(), false); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: 503, want: "no live, active hosts to store on.", notWant: "unavailable:"},
		// One live host cannot take the 3 shards of a stripe on 3 distinct
		// hosts: refused, naming the host found, until shared hosts are allowed.
		{name: "too few hosts", query: "name=photo.jpg&k=2&n=3", body: []byte("hello"),
			wantStatus: 409, want: "ec k=2 n=3 needs 3 distinct live hosts and this node found 1: river-pi (" + testEndpoint + ")", notWant: "conflict:"},
		{name: "too few hosts for replicas", query: "name=photo.jpg&mode=rep&r=2", body: []byte("hello"),
			wantStatus: 409, want: "rep r=2 needs 2 distinct live hosts and this node found 1: river-pi", notWant: "conflict:"},
		{name: "stopped", query: "name=photo.jpg", body: []byte("hello"),
			prepare: func(_ *testing.T, e *testEnv) { e.stopNode() }, wantStatus: 503, want: "node stopped."},
		{name: "internal", query: "name=photo.jpg", body: []byte("hello"),
			prepare:    func(t *testing.T, e *testEnv) { e.breakTable(t, "storage_assets") },
			wantStatus: 500, want: "its log has the details", notWant: "storage_assets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, tt.opts)
			cookie := e.login(t)
			if tt.prepare != nil {
				tt.prepare(t, e)
			}
			// The page's question before it sends the file gets the same
			// refusal, so a refused file is never sent.
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			q.Set(paramSize, strconv.Itoa(len(tt.body)))
			sum := blake3.Sum256(tt.body)
			if st, body := e.probeStored(t, cookie, q, hex.EncodeToString(sum[:])); st != tt.wantStatus || !strings.Contains(body, tt.want) {
				t.Errorf("probe = %d, want %d with %q:\n%s", st, tt.wantStatus, tt.want, body)
			}
			resp, body := e.put(t, cookie, tt.query, bytes.NewReader(tt.body), int64(len(tt.body)))
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			wantAll(t, tt.name, body, `data-testid="put-error"`, "photo.jpg", tt.want)
			if tt.notWant != "" && strings.Contains(body, tt.notWant) {
				t.Errorf("body shows %q:\n%s", tt.notWant, body)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type = %q, want HTML", ct)
			}
		})
	}
}

func TestStorageSessionRequired(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	a := e.putFile(t, []byte("hi"), node.PutOptions{Name: "a.txt"})
	tests := []struct {
		method, path string
		hdr          map[string]string
		wantStatus   int
	}{
		{"GET", "/storage", nil, http.StatusSeeOther},
		{"GET", "/storage", map[string]string{"HX-Request": "true"}, http.StatusUnauthorized},
		{"GET", "/ui/assets", map[string]string{"HX-Request": "true"}, http.StatusUnauthorized},
		{"GET", "/ui/assets/" + a.ID + "/download", nil, http.StatusSeeOther},
	}
	for _, tt := range tests {
		resp, body := e.do(t, tt.method, tt.path, nil, tt.hdr)
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.wantStatus)
		}
		if strings.Contains(body, "a.txt") || body == "hi" {
			t.Errorf("%s %s without a session leaks the asset: %q", tt.method, tt.path, body)
		}
	}
	resp, _ := e.put(t, "", "name=x.bin", strings.NewReader("hello"), 5)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /ui/assets without session = %d, want 401", resp.StatusCode)
	}
	resp, _ = e.put(t, sessionCookie+"=forged", "name=x.bin", strings.NewReader("hello"), 5)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /ui/assets with a forged session = %d, want 401", resp.StatusCode)
	}
	if as, err := e.node.Assets(t.Context()); err != nil || len(as) != 1 {
		t.Errorf("the node has assets %+v (%v) after uploads without a session, want only a.txt", as, err)
	}
}

func TestStoragePage(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	// lost.img lost three of its four shards an hour ago (any two restore
	// it); the photo, stored two minutes ago, lost one of six, which the
	// node, unable to write, could not rebuild: it is still above its
	// repair threshold of four.
	lost := e.putFile(t, randomBytes(t, 100<<10), node.PutOptions{Name: "lost.img", Mode: "ec", K: 2, N: 4})
	for i := range 3 {
		e.loseShard(t, lost.ID+".0", i)
	}
	if _, err := e.node.RepairAsset(t.Context(), lost.ID); !errors.Is(err, node.ErrUnavailable) {
		t.Fatalf("RepairAsset(lost) = %v, want ErrUnavailable (too few shards left)", err)
	}
	e.clock.Advance(58 * time.Minute)
	photo := e.putFile(t, randomBytes(t, 3<<19), node.PutOptions{Name: `<b>"photo".jpg</b>`, Mode: "ec", K: 2, N: 6})
	e.loseShard(t, photo.ID+".0", 5)
	e.breakShardWrites(t)
	if rep, err := e.node.RepairAsset(t.Context(), photo.ID); err != nil || rep.Unplaced != 1 || rep.Asset.State != node.AssetStored {
		t.Fatalf("RepairAsset(photo) = %+v, %v; want one shard unplaced, the photo still stored", rep, err)
	}
	e.clock.Advance(2 * time.Minute)
	cookie := e.login(t)

	resp, body := e.do(t, "GET", "/storage", nil, map[string]string{"Cookie": cookie})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "<!doctype html>") {
		t.Fatalf("GET /storage = %d, want a full page", resp.StatusCode)
	}
	for _, id := range []string{"dropzone", "file-input", "put-mode", "put-k", "put-n", "put-r", "put-progress",
		"assets-table", "asset-row", "asset-state", "asset-download", "feed", "feed-status", "nav-storage", "nav-dashboard"} {
		if !hasTestID(body, id) {
			t.Errorf("GET /storage has no data-testid=%q", id)
		}
	}
	wantAll(t, "storage page", body,
		`&amp;view=storage"`, `aria-current="page"`,
		`data-asset-id="`+photo.ID+`"`, `title="`+photo.ID+`"`, photo.ID[:10]+"…",
		`&lt;b&gt;&#34;photo&#34;.jpg&lt;/b&gt;`, "1.5 MiB", "ec 2/6", "5/6", "1/4",
		`data-state="stored"`, `data-state="lost"`, `href="/ui/assets/`+photo.ID+`/download"`,
		"2m 0s ago", "1h 0m ago", "2 files")
	if strings.Contains(body, `<b>"photo"`) {
		t.Error("the asset name is not escaped")
	}
	if got := strings.Count(body, `data-testid="asset-download"`); got != 1 {
		t.Errorf("download links = %d, want 1 (none for the lost file)", got)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, " style=") {
		t.Error("the page has an inline script or style, which the CSP refuses")
	}

	resp, body = e.do(t, "GET", "/ui/assets", nil, map[string]string{"Cookie": cookie, "HX-Request": "true"})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, `<section id="assets-card"`) || strings.Contains(body, "<html") {
		t.Errorf("htmx GET /ui/assets = %d, want the assets card alone:\n%.200s", resp.StatusCode, body)
	}
	// The dashboard links to the storage page too.
	_, body = e.do(t, "GET", "/", nil, map[string]string{"Cookie": cookie})
	wantAll(t, "dashboard", body, `href="/storage"`, `ws-connect="/ui/ws?after=`)
}

func TestDownloadAsset(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	// Four stripes of one 1 MiB shard each, so that a later stripe can
	// fail after the first went out. (The node refuses names with line
	// breaks; a tab is a control character too.)
	data := randomBytes(t, 3<<20+17)
	name := `Ñuñoa "survey"` + "\t" + `report.pdf`
	a := e.putFile(t, data, node.PutOptions{Name: name, Mode: "ec", K: 1, N: 1})
	if a.Stripes != 4 {
		t.Fatalf("stored in %d stripes, want 4", a.Stripes)
	}
	download := "/ui/assets/" + a.ID + "/download"
	cookie := e.login(t)

	resp, body := e.do(t, "GET", download, nil, map[string]string{"Cookie": cookie})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("download = %d:\n%.300s", resp.StatusCode, body)
	}
	if body != string(data) {
		t.Errorf("downloaded %d bytes, want the %d stored (equal: %v)", len(body), len(data), body == string(data))
	}
	hd := resp.Header
	for k, want := range map[string]string{
		"Content-Type":           "application/octet-stream",
		"Content-Length":         fmt.Sprint(len(data)),
		"X-Content-Type-Options": "nosniff",
		"Content-Disposition":    `attachment; filename="_u_oa _survey__report.pdf"; filename*=UTF-8''%C3%91u%C3%B1oa%20%22survey%22_report.pdf`,
	} {
		if got := hd.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if _, params, err := mime.ParseMediaType(hd.Get("Content-Disposition")); err != nil || params["filename"] != `Ñuñoa "survey"_report.pdf` {
		t.Errorf("Content-Disposition parses to %q (%v), want the UTF-8 name back", params["filename"], err)
	}

	t.Run("missing", func(t *testing.T) {
		for _, path := range []string{"/ui/assets/nope00/download", "/ui/assets/" + strings.Repeat("a", 200) + "/download", "/ui/assets/a%20b/download"} {
			resp, body := e.do(t, "GET", path, nil, map[string]string{"Cookie": cookie})
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("GET %s = %d, want 404", path, resp.StatusCode)
			}
			if !hasTestID(body, "download-error") || !strings.Contains(body, "no stored file with that ID") ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
				t.Errorf("GET %s: want a readable error page, got:\n%.300s", path, body)
			}
		}
	})

	t.Run("unavailable", func(t *testing.T) {
		e := newTestEnv(t, envOptions{})
		a := e.putFile(t, []byte("clinic opening hours"), node.PutOptions{Name: "hours.txt", Mode: "ec", K: 1, N: 1})
		if err := os.Remove(e.shardBlob(t, a.ID+".0", 0)); err != nil {
			t.Fatal(err)
		}
		cookie := e.login(t)
		resp, body := e.do(t, "GET", "/ui/assets/"+a.ID+"/download", nil, map[string]string{"Cookie": cookie})
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "stripe 0") || strings.Contains(body, "unavailable:") {
			t.Errorf("download = %d, want 503 with the node's reason:\n%.400s", resp.StatusCode, body)
		}
		if resp.Header.Get("Content-Disposition") != "" {
			t.Error("an error page is sent as an attachment")
		}
	})

	t.Run("fails mid-way", func(t *testing.T) {
		// Stripe 2's only shard is gone from disk.
		if err := os.Remove(e.shardBlob(t, a.ID+".2", 0)); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", e.srv.URL+download, nil)
		req.Header.Set("Cookie", cookie)
		resp, err := e.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, want 200 (the failure comes after the first stripe)", resp.StatusCode)
		}
		got, err := io.ReadAll(resp.Body)
		if err == nil {
			t.Fatalf("read %d of %d bytes without an error: a truncated download looks complete", len(got), len(data))
		}
		if len(got) >= len(data) {
			t.Errorf("read %d bytes, want fewer than %d", len(got), len(data))
		}
	})
}

func TestContentDisposition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, want string
	}{
		{"photo.jpg", `attachment; filename="photo.jpg"; filename*=UTF-8''photo.jpg`},
		{`say "hi".txt`, `attachment; filename="say _hi_.txt"; filename*=UTF-8''say%20%22hi%22.txt`},
		{"a\r\nSet-Cookie: x=1", `attachment; filename="a__Set-Cookie: x=1"; filename*=UTF-8''a__Set-Cookie%3A%20x%3D1`},
		{"日本語.txt", `attachment; filename="___.txt"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.txt`},
		{`..\..\etc/passwd`, `attachment; filename=".._.._etc_passwd"; filename*=UTF-8''.._.._etc_passwd`},
		{"100%.txt", `attachment; filename="100_.txt"; filename*=UTF-8''100%25.txt`},
		{"bad\xffutf8", `attachment; filename="bad_utf8"; filename*=UTF-8''bad_utf8`},
		{"semi;colon,comma", `attachment; filename="semi;colon,comma"; filename*=UTF-8''semi%3Bcolon%2Ccomma`},
		{"  ", `attachment; filename="offgrid-id42"; filename*=UTF-8''offgrid-id42`},
		{"..", `attachment; filename="offgrid-id42"; filename*=UTF-8''offgrid-id42`},
	}
	for _, tt := range tests {
		got := contentDisposition(tt.name, "id42")
		if got != tt.want {
			t.Errorf("contentDisposition(%q)\n got %s\nwant %s", tt.name, got, tt.want)
		}
		if strings.ContainsAny(got, "\r\n\x00") {
			t.Errorf("contentDisposition(%q) has a control character", tt.name)
		}
		if _, _, err := mime.ParseMediaType(got); err != nil {
			t.Errorf("contentDisposition(%q) = %q does not parse: %v", tt.name, got, err)
		}
	}
}

func TestFeedStorage(t *testing.T) {
	leakCheck(t)
	e := newTestEnv(t, envOptions{handler: func(h *Handler) { h.assetsThrottle = 50 * time.Millisecond }})
	cookie := e.login(t)
	storage := e.dialFeedURL(t, cookie, "/ui/ws?view=storage")
	dash := e.dialFeed(t, cookie)

	photo := e.putFile(t, randomBytes(t, 64<<10), node.PutOptions{Name: "photo.jpg", Mode: "ec", K: 2, N: 6})
	msg := readUntil(t, storage, `data-kind="asset"`)
	wantAll(t, "asset (storage view)", msg,
		`<ul id="feed-list" hx-swap-oob="afterbegin">`, `data-kind="asset"`, `data-state="stored"`,
		"photo.jpg stored: 6/6 shards on every stripe; survives 0 host losses.",
		`<section id="assets-card" class="card wide" aria-labelledby="assets-title" hx-get="/ui/assets" hx-trigger="put-done from:body" hx-swap="outerHTML" hx-swap-oob="true">`,
		`data-testid="asset-row" data-asset-id="`+photo.ID+`"`)
	msg = readUntil(t, dash, `data-kind="asset"`)
	wantAll(t, "asset (dashboard view)", msg, "photo.jpg stored")
	if strings.Contains(msg, "assets-card") {
		t.Errorf("the dashboard, which has no assets card, gets one:\n%s", msg)
	}

	// A host serves a shard that is not the one stored: this node lost
	// the bytes of broken.bin's shard, and a different shard was stored
	// under its address since. Reading the file catches it.
	broken := e.putFile(t, randomBytes(t, 1000), node.PutOptions{Name: "broken.bin", Mode: "ec", K: 1, N: 1})
	// Its (throttled) row in the card comes before anything else happens.
	readUntil(t, storage, `data-testid="asset-row" data-asset-id="`+broken.ID+`"`)
	readUntil(t, dash, "broken.bin stored")
	e.loseShard(t, broken.ID+".0", 0)
	// The read that found the blob gone announced it.
	msg = readUntil(t, storage, `data-kind="shard_lost"`)
	wantAll(t, "shard lost", msg, "Hosted shard 0 of asset "+broken.ID[:12]+"… was lost or corrupt on this node&#39;s disk (found by read)")
	if _, err := e.node.StoreShard(t.Context(), broken.ID+".0", 0, bytes.NewReader(randomBytes(t, broken.ShardSize)), "", "admin"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.node.OpenAsset(t.Context(), broken.ID); !errors.Is(err, node.ErrUnavailable) {
		t.Fatalf("OpenAsset(broken) = %v, want ErrUnavailable", err)
	}
	msg = readUntil(t, storage, `data-kind="corrupt"`)
	wantAll(t, "corrupt", msg, "Corrupt shard 0 of stripe 0 (file "+broken.ID[:12]+"…) from host "+testEndpoint+" ignored")
	if strings.Contains(msg, "assets-card") {
		t.Errorf("a corrupt shard refreshes the list:\n%s", msg)
	}
	readUntil(t, dash, `data-kind="corrupt"`)

	// The storage view leaves out events that are not about storage, and
	// never refreshes cards it does not have.
	for _, active := range []bool{false, true} {
		if _, err := e.node.SetActive(t.Context(), active); err != nil {
			t.Fatal(err)
		}
		readUntil(t, dash, `data-kind="toggle"`)
	}

	// The photo loses three of its six shards, below its repair threshold
	// of four; a burst of repairs cannot rebuild them (the node cannot
	// write) and each reports it. The list is refreshed at most every
	// 50 ms, and the last refresh shows the last state.
	for i := range 3 {
		e.loseShard(t, photo.ID+".0", i)
	}
	e.breakShardWrites(t)
	start := time.Now()
	for range 20 {
		if _, err := e.node.RepairAsset(t.Context(), photo.ID); err != nil && !errors.Is(err, node.ErrUnavailable) {
			t.Fatalf("RepairAsset: %v", err)
		}
	}
	var items, cards int
	var last string
	deadline := time.Now().Add(10 * time.Second)
	for items < 20 || !strings.Contains(last, "3/6") {
		if time.Now().After(deadline) {
			t.Fatalf("after the burst: %d items, %d card refreshes, last card %q; want 20 items and a card showing 3/6", items, cards, last)
		}
		msg := readMsg(t, storage)
		if strings.Contains(msg, "toggle") || strings.Contains(msg, "status-live") {
			t.Fatalf("storage view got a toggle message:\n%s", msg)
		}
		items += strings.Count(msg, `data-kind="asset"`)
		if strings.Contains(msg, `id="assets-card"`) {
			cards++
			last = msg[strings.Index(msg, `id="assets-card"`):]
		}
	}
	checkThrottled(t, "assets card", cards, start, e.h.assetsThrottle)
	if !strings.Contains(last, `data-state="degraded"`) {
		t.Errorf("last assets card does not show the degraded state:\n%s", last)
	}
	storage.Close()
	dash.Close()
}

func TestAssetText(t *testing.T) {
	t.Parallel()
	base := node.Asset{ID: "0123456789abcdef", Name: "photo.jpg", K: 12, N: 20}
	tests := []struct {
		state    node.AssetState
		shards   []int
		survives int
		want     string
	}{
		{node.AssetStored, []int{20, 20}, 8, "photo.jpg stored: 20/20 shards on every stripe; survives 8 host losses."},
		{node.AssetStored, []int{20, 18}, 1, "photo.jpg stored: at least 18/20 shards on every stripe; survives 1 host loss."},
		{node.AssetPending, []int{20, 0, 0}, 0, "photo.jpg uploading: 1 of 3 stripes written so far."},
		{node.AssetPending, []int{20, 14}, 0, "photo.jpg uploading: at least 14/20 shards on every stripe so far."},
		{node.AssetDegraded, []int{20, 15}, 3, "photo.jpg degraded: a stripe is down to 15/20 shards; survives 3 host losses; repair rebuilds it unless its hosts come back first."},
		{node.AssetLost, []int{20, 9}, 0, "photo.jpg lost: a stripe has only 9/20 shards, fewer than the 12 it needs."},
	}
	for _, tt := range tests {
		a := base
		a.State, a.StripeShards, a.Stripes, a.Survives = tt.state, tt.shards, len(tt.shards), tt.survives
		if got := assetText(a); got != tt.want {
			t.Errorf("assetText(%s %v) = %q, want %q", tt.state, tt.shards, got, tt.want)
		}
	}
}
