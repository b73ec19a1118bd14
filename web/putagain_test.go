package web

import (
	"bytes"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/zeebo/blake3"
)

// hashedFile returns n random bytes and their BLAKE3 hash in hex, as app.js
// computes it.
func hashedFile(t *testing.T, n int) ([]byte, string) {
	t.Helper()
	data := randomBytes(t, n)
	sum := blake3.Sum256(data)
	return data, hex.EncodeToString(sum[:])
}

// putHashed uploads data as the page does, with the content hash hash.
func (e *testEnv) putHashed(t *testing.T, cookie string, q url.Values, data []byte, hash string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", e.srv.URL+"/ui/assets?"+q.Encode(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Cookie", cookie)
	req.Header.Set("Offgrid-Content-Hash", hash)
	return e.send(t, req)
}

// TestPutAssetContentHash: an upload from the dashboard that sends the
// content hash (app.js does) is stored under the content's ID; the same
// file again is answered 200 "already stored" with nothing uploaded, and
// one with other parameters is a new asset. A malformed hash is refused.
func TestPutAssetContentHash(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	cookie := e.login(t)
	data, hash := hashedFile(t, 3000)
	put := func(q url.Values, hash string) (*http.Response, string) {
		return e.putHashed(t, cookie, q, data, hash)
	}
	adaptive := url.Values{paramName: {"small.txt"}, paramMode: {"ec"}}
	resp, body := put(adaptive, hash)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `data-already-stored="false"`) {
		t.Fatalf("first upload = %d:\n%s", resp.StatusCode, body)
	}
	as, err := e.node.Assets(t.Context())
	if err != nil || len(as) != 1 || as[0].FileHash != hash {
		t.Fatalf("assets after the first upload = %+v (%v), want one with the hash sent", as, err)
	}
	id := as[0].ID
	resp, body = put(adaptive, hash)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("second upload = %d, want 200:\n%s", resp.StatusCode, body)
	}
	wantAll(t, "second upload", body, `data-already-stored="true"`, `data-testid="put-result-already"`,
		"Already stored as "+id+" (ec 1/1): nothing uploaded.")
	resp, body = put(url.Values{paramName: {"small.txt"}, paramMode: {"rep"}, paramR: {"2"}, paramShared: {"1"}}, hash)
	if resp.StatusCode != http.StatusCreated || strings.Contains(body, `data-asset-id="`+id+`"`) {
		t.Fatalf("upload as rep r=2 = %d, want a new asset:\n%s", resp.StatusCode, body)
	}
	if as, err := e.node.Assets(t.Context()); err != nil || len(as) != 2 {
		t.Fatalf("assets after the upload with other parameters = %+v (%v), want 2", as, err)
	}
	resp, body = put(adaptive, strings.ToUpper(hash))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `data-testid="put-error"`) {
		t.Errorf("upload with a malformed hash = %d, want 400:\n%s", resp.StatusCode, body)
	}
}

// probeStored asks GET /ui/assets/stored as the page does before it
// sends a file, and returns the status and body.
func (e *testEnv) probeStored(t *testing.T, cookie string, q url.Values, hash string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", e.srv.URL+"/ui/assets/stored?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	if hash != "" {
		req.Header.Set("Offgrid-Content-Hash", hash)
	}
	resp, body := e.send(t, req)
	return resp.StatusCode, body
}

// TestStoredAssetProbe: GET /ui/assets/stored answers what a POST of the
// same query and hash would, without a body: 204 before the file is
// stored and for other parameters, 200 with the "already stored" result
// after, and 400 for a missing or malformed hash or bad parameters. It
// changes nothing, and needs the login.
func TestStoredAssetProbe(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	cookie := e.login(t)
	data, hash := hashedFile(t, 3000)
	probe := func(q url.Values, hash, cookie string) (int, string) {
		t.Helper()
		return e.probeStored(t, cookie, q, hash)
	}
	adaptive := url.Values{paramName: {"small.txt"}, paramMode: {"ec"}}
	if st, body := probe(adaptive, hash, cookie); st != http.StatusNoContent || body != "" {
		t.Fatalf("probe before the upload = %d %q, want 204 and no body", st, body)
	}
	if resp, _ := e.putHashed(t, cookie, adaptive, data, hash); resp.StatusCode != http.StatusCreated {
		t.Fatalf("upload = %d", resp.StatusCode)
	}
	as, err := e.node.Assets(t.Context())
	if err != nil || len(as) != 1 {
		t.Fatalf("assets after the upload = %+v (%v)", as, err)
	}
	st, body := probe(adaptive, hash, cookie)
	if st != http.StatusOK {
		t.Fatalf("probe after the upload = %d, want 200:\n%s", st, body)
	}
	wantAll(t, "probe after the upload", body, `data-already-stored="true"`, `data-asset-id="`+as[0].ID+`"`,
		"Already stored as "+as[0].ID)
	other := url.Values{paramName: {"small.txt"}, paramMode: {"rep"}, paramR: {"2"}, paramShared: {"on"}}
	if st, body := probe(other, hash, cookie); st != http.StatusNoContent {
		t.Errorf("probe with other parameters = %d, want 204:\n%s", st, body)
	}
	for _, tt := range []struct {
		name string
		q    url.Values
		hash string
	}{
		{"no hash", adaptive, ""},
		{"upper-case hash", adaptive, strings.ToUpper(hash)},
		{"short hash", adaptive, hash[:10]},
		{"no name", url.Values{paramMode: {"ec"}}, hash},
		{"bad mode", url.Values{paramName: {"a"}, paramMode: {"raid"}}, hash},
		{"k without n", url.Values{paramName: {"a"}, paramK: {"2"}}, hash},
		{"negative size", url.Values{paramName: {"a"}, paramSize: {"-1"}}, hash},
		{"size not a number", url.Values{paramName: {"a"}, paramSize: {"1e3"}}, hash},
	} {
		if st, body := probe(tt.q, tt.hash, cookie); st != http.StatusBadRequest || !strings.Contains(body, `data-testid="put-error"`) {
			t.Errorf("probe with %s = %d, want 400 with the reason:\n%s", tt.name, st, body)
		}
	}
	// The put's own refusals come from the probe too, with the put's
	// status and reason, so the page sends nothing it would refuse: this
	// lone node cannot give 3 shards 3 distinct hosts.
	wide := url.Values{paramName: {"wide.txt"}, paramMode: {"ec"}, paramK: {"2"}, paramN: {"3"}}
	st, body = probe(wide, hash, cookie)
	resp, putBody := e.putHashed(t, cookie, wide, data, hash)
	if st != http.StatusConflict || resp.StatusCode != st {
		t.Errorf("probe and upload with n above the live hosts = %d and %d, want 409 for both:\n%s", st, resp.StatusCode, body)
	}
	for _, b := range []string{body, putBody} {
		wantAll(t, "refused k/n", b, `data-testid="put-error"`, "needs 3 distinct live hosts and this node found 1")
	}
	// Stored content needs no host: with this node inactive (no live,
	// active host at all) the probe and a put again still say stored.
	if _, err := e.node.SetActive(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if st, body := probe(adaptive, hash, cookie); st != http.StatusOK || !strings.Contains(body, "Already stored as "+as[0].ID) {
		t.Errorf("probe of stored content with no live host = %d, want 200 already stored:\n%s", st, body)
	}
	if resp, body := e.putHashed(t, cookie, adaptive, data, hash); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Already stored as "+as[0].ID) {
		t.Errorf("put again of stored content with no live host = %d, want 200 already stored:\n%s", resp.StatusCode, body)
	}
	if _, err := e.node.SetActive(t.Context(), true); err != nil {
		t.Fatal(err)
	}
	if st, _ := probe(adaptive, hash, ""); st == http.StatusOK || st == http.StatusNoContent {
		t.Errorf("probe without the login = %d, want it refused", st)
	}
	if as, err := e.node.Assets(t.Context()); err != nil || len(as) != 1 {
		t.Errorf("assets after the probes = %d (%v), want the one upload", len(as), err)
	}
}
