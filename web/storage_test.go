package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

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
	resp, err := e.client().Do(req)
	if err != nil {
		t.Fatalf("POST /ui/assets: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST /ui/assets: read body: %v", err)
	}
	return resp, string(b)
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPutAssetStreams(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	cookie := e.login(t)

	// The body goes through a pipe, and the writer never gets more than
	// window bytes ahead of what the node has read. A handler that read
	// the whole body before calling PutAsset would stall here.
	const total = 16 << 20
	const window = 1 << 20
	data := randomBytes(t, total)
	pr, pw := io.Pipe()
	writeErr := make(chan error, 1)
	go func() {
		for off := 0; off < total; off += 64 << 10 {
			deadline := time.Now().Add(5 * time.Second)
			for int64(off)-e.fake.putRead.Load() > window {
				if time.Now().After(deadline) {
					err := fmt.Errorf("the node had read %d bytes after %d were sent: the handler is not streaming", e.fake.putRead.Load(), off)
					pw.CloseWithError(err)
					writeErr <- err
					return
				}
				time.Sleep(time.Millisecond)
			}
			if _, err := pw.Write(data[off : off+64<<10]); err != nil {
				writeErr <- err
				return
			}
		}
		writeErr <- pw.Close()
	}()
	q := url.Values{paramName: {"river survey.tar"}, paramMode: {"ec"}, paramK: {"10"}, paramN: {"16"}}
	resp, body := e.put(t, cookie, q.Encode(), pr, -1)
	if err := <-writeErr; err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /ui/assets = %d, want 201:\n%s", resp.StatusCode, body)
	}
	calls := e.fake.putCalls()
	if len(calls) != 1 {
		t.Fatalf("PutAsset calls = %d, want 1", len(calls))
	}
	want := node.PutOptions{Name: "river survey.tar", Size: -1, Mode: "ec", K: 10, N: 16}
	if diff := cmp.Diff(want, calls[0]); diff != "" {
		t.Errorf("PutOptions mismatch (-want +got):\n%s", diff)
	}
	as, _ := e.fake.Assets(t.Context())
	if len(as) != 1 {
		t.Fatalf("fake has %d assets, want 1", len(as))
	}
	a := as[0]
	sum := sha256.Sum256(data)
	if a.Size != total || a.FileHash != fmt.Sprintf("%x", sum) {
		t.Errorf("the node got %d bytes with SHA-256 %s, want %d bytes with %x", a.Size, a.FileHash, total, sum)
	}
	wantAll(t, "put result", body, `data-testid="put-result"`, `data-asset-id="`+a.ID+`"`, `data-state="stored"`,
		"river survey.tar", "16.0 MiB", "ec 10/16", `data-testid="put-result-id">`+a.ID+`<`)
	if strings.Contains(body, "<html") {
		t.Error("put result is a full page, want a fragment")
	}

	// With a Content-Length, Size is that length.
	small := randomBytes(t, 1000)
	resp, body = e.put(t, cookie, url.Values{paramName: {"a.bin"}, paramMode: {"rep"}, paramR: {"3"}}.Encode(), bytes.NewReader(small), int64(len(small)))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /ui/assets = %d:\n%s", resp.StatusCode, body)
	}
	calls = e.fake.putCalls()
	want = node.PutOptions{Name: "a.bin", Size: 1000, Mode: "rep", R: 3}
	if diff := cmp.Diff(want, calls[1]); diff != "" {
		t.Errorf("PutOptions mismatch (-want +got):\n%s", diff)
	}
}

func TestPutAssetBadParams(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
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
	if calls := e.fake.putCalls(); len(calls) != 0 {
		t.Errorf("PutAsset called %d times for bad requests, want 0: %+v", len(calls), calls)
	}
}

func TestPutAssetErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		wantStatus int
		want       string
		notWant    string
	}{
		{"invalid", fmt.Errorf("%w: k (12) must be less than n (8)", node.ErrInvalid), 400, "k (12) must be less than n (8).", "invalid request"},
		{"too large", fmt.Errorf("%w: 5.0 GiB is over the 4 GiB limit", node.ErrTooLarge), 413, "5.0 GiB is over the 4 GiB limit.", "too large:"},
		{"unavailable", fmt.Errorf("put: %w: 7 live hosts, 20 needed", node.ErrUnavailable), 503, "7 live hosts, 20 needed", ""},
		{"not found", fmt.Errorf("resume: %w", node.ErrNotFound), 404, "resume: not found.", ""},
		{"internal", errors.New("sqlite: disk I/O error at sector 7"), 500, "its log has the details", "sector 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			e.fake.mu.Lock()
			e.fake.putErr = tt.err
			e.fake.mu.Unlock()
			cookie := e.login(t)
			resp, body := e.put(t, cookie, "name=photo.jpg", strings.NewReader("hello"), 5)
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
	e := newTestEnv(t)
	e.fake.addAsset(node.Asset{ID: "abc123", Name: "a.txt", Size: 2, State: node.AssetStored}, []byte("hi"))
	tests := []struct {
		method, path string
		hdr          map[string]string
		wantStatus   int
	}{
		{"GET", "/storage", nil, http.StatusSeeOther},
		{"GET", "/storage", map[string]string{"HX-Request": "true"}, http.StatusUnauthorized},
		{"GET", "/ui/assets", map[string]string{"HX-Request": "true"}, http.StatusUnauthorized},
		{"GET", "/ui/assets/abc123/download", nil, http.StatusSeeOther},
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
	if calls := e.fake.putCalls(); len(calls) != 0 {
		t.Errorf("PutAsset called without a session: %+v", calls)
	}
}

func TestStoragePage(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	now := e.clock.Now()
	e.fake.addAsset(node.Asset{ID: "1111aaaa2222bbbb3333", Name: "lost.img", Size: 3 << 30, Mode: "ec", K: 12, N: 20,
		State: node.AssetLost, StripeShards: []int{20, 9}, Hosts: 11, CreatedAt: now.Add(-time.Hour)}, nil)
	e.fake.addAsset(node.Asset{ID: "4444cccc5555dddd6666", Name: `<b>"photo".jpg</b>`, Size: 5 << 20, Mode: "ec", K: 12, N: 20,
		State: node.AssetStored, StripeShards: []int{20, 20, 19}, Hosts: 20, CreatedAt: now.Add(-2 * time.Minute)}, []byte("x"))
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
		`ws-connect="/ui/ws?view=storage"`, `aria-current="page"`,
		`data-asset-id="4444cccc5555dddd6666"`, `title="4444cccc5555dddd6666"`, "4444cccc55…",
		`&lt;b&gt;&#34;photo&#34;.jpg&lt;/b&gt;`, "5.0 MiB", "ec 12/20", "19/20", "9/20",
		`data-state="stored"`, `data-state="lost"`, `href="/ui/assets/4444cccc5555dddd6666/download"`,
		"2m 0s ago", "2 files")
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
	wantAll(t, "dashboard", body, `href="/storage"`, `ws-connect="/ui/ws"`)
}

func TestDownloadAsset(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
	data := randomBytes(t, 3<<20+17)
	name := `Ñuñoa "survey"` + "\n" + `report.pdf`
	e.fake.addAsset(node.Asset{ID: "c0ffee00112233", Name: name, Size: int64(len(data)), State: node.AssetStored}, data)
	cookie := e.login(t)

	resp, body := e.do(t, "GET", "/ui/assets/c0ffee00112233/download", nil, map[string]string{"Cookie": cookie})
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
		e := newTestEnv(t)
		e.fake.mu.Lock()
		e.fake.openErr = fmt.Errorf("open: %w: stripe 0 has 11 of the 12 shards it needs", node.ErrUnavailable)
		e.fake.mu.Unlock()
		cookie := e.login(t)
		resp, body := e.do(t, "GET", "/ui/assets/c0ffee00112233/download", nil, map[string]string{"Cookie": cookie})
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "stripe 0 has 11 of the 12 shards it needs.") {
			t.Errorf("download = %d, want 503 with the node's reason:\n%.400s", resp.StatusCode, body)
		}
		if resp.Header.Get("Content-Disposition") != "" {
			t.Error("an error page is sent as an attachment")
		}
	})

	t.Run("fails mid-way", func(t *testing.T) {
		e.fake.mu.Lock()
		e.fake.failAfter = 1 << 20
		e.fake.mu.Unlock()
		req, _ := http.NewRequest("GET", e.srv.URL+"/ui/assets/c0ffee00112233/download", nil)
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
	e := newTestEnvH(t, func(h *Handler) { h.assetsThrottle = 50 * time.Millisecond })
	cookie := e.login(t)
	storage := e.dialFeedURL(t, cookie, "/ui/ws?view=storage")
	dash := e.dialFeed(t, cookie)

	a := node.Asset{ID: "feedbeef00112233aabb", Name: "photo.jpg", Size: 5 << 20, Mode: "ec", K: 12, N: 20,
		Stripes: 2, StripeShards: []int{20, 20}, Hosts: 20, State: node.AssetStored, CreatedAt: e.clock.Now()}
	e.fake.setAsset(a, []byte("x"))
	msg := readMsg(t, storage)
	wantAll(t, "asset (storage view)", msg,
		`<ul id="feed-list" hx-swap-oob="afterbegin">`, `data-kind="asset"`, `data-state="stored"`,
		"photo.jpg stored: 20/20 shards on every stripe.",
		`<section id="assets-card" class="card wide" aria-labelledby="assets-title" hx-get="/ui/assets" hx-trigger="put-done from:body" hx-swap="outerHTML" hx-swap-oob="true">`,
		`data-testid="asset-row" data-asset-id="feedbeef00112233aabb"`)
	msg = readMsg(t, dash)
	wantAll(t, "asset (dashboard view)", msg, `data-kind="asset"`, "photo.jpg stored")
	if strings.Contains(msg, "assets-card") {
		t.Errorf("the dashboard, which has no assets card, gets one:\n%s", msg)
	}

	e.fake.bus.Publish(node.ShardCorrupt{AssetID: "feedbeef00112233aabb", Stripe: 3, Index: 17, Host: "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH"})
	msg = readMsg(t, storage)
	wantAll(t, "corrupt", msg, `data-kind="corrupt"`, "Corrupt shard 17 of stripe 3 (file feedbeef0011…) from host z6MkpTHR…sdvktH ignored")
	if strings.Contains(msg, "assets-card") {
		t.Errorf("a corrupt shard refreshes the list:\n%s", msg)
	}
	readMsg(t, dash)

	// The storage view leaves out events that are not about storage, and
	// never refreshes cards it does not have.
	if _, err := e.fake.SetActive(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	wantAll(t, "toggle (dashboard)", readMsg(t, dash), `data-kind="toggle"`)

	// A burst of changes: the list is refreshed at most every 50 ms, and
	// the last refresh shows the last state.
	for i := range 20 {
		b := a
		b.StripeShards = []int{20, 20 - i%5}
		b.State = node.AssetDegraded
		if i == 19 {
			b.StripeShards = []int{20, 13}
		}
		e.fake.setAsset(b, nil)
	}
	var items, cards int
	var last string
	deadline := time.Now().Add(5 * time.Second)
	for items < 20 || !strings.Contains(last, "13/20") {
		if time.Now().After(deadline) {
			t.Fatalf("after the burst: %d items, %d card refreshes, last card %q; want 20 items and a card showing 13/20", items, cards, last)
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
	if cards > 10 {
		t.Errorf("%d card refreshes for a burst of 20 changes, want them throttled", cards)
	}
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
		state  node.AssetState
		shards []int
		want   string
	}{
		{node.AssetStored, []int{20, 20}, "photo.jpg stored: 20/20 shards on every stripe."},
		{node.AssetStored, []int{20, 18}, "photo.jpg stored: at least 18/20 shards on every stripe."},
		{node.AssetPending, []int{20, 0, 0}, "photo.jpg uploading: 1 of 3 stripes written so far."},
		{node.AssetPending, []int{20, 14}, "photo.jpg uploading: at least 14/20 shards on every stripe so far."},
		{node.AssetDegraded, []int{20, 15}, "photo.jpg degraded: a stripe is down to 15/20 shards; repair will rebuild it."},
		{node.AssetLost, []int{20, 9}, "photo.jpg lost: a stripe has only 9/20 shards, fewer than the 12 it needs."},
	}
	for _, tt := range tests {
		a := base
		a.State, a.StripeShards, a.Stripes = tt.state, tt.shards, len(tt.shards)
		if got := assetText(a); got != tt.want {
			t.Errorf("assetText(%s %v) = %q, want %q", tt.state, tt.shards, got, tt.want)
		}
	}
}
