package web

import (
	"bytes"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/zeebo/blake3"
)

// TestPutAssetContentHash: an upload from the dashboard that sends the
// content hash (app.js does) is stored under the content's ID; the same
// file again is answered 200 "already stored" with nothing uploaded, and
// one with other parameters is a new asset. A malformed hash is refused.
func TestPutAssetContentHash(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	cookie := e.login(t)
	data := randomBytes(t, 3000)
	sum := blake3.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	put := func(q url.Values, hash string) (*http.Response, string) {
		req, err := http.NewRequest("POST", e.srv.URL+"/ui/assets?"+q.Encode(), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("Cookie", cookie)
		req.Header.Set("Offgrid-Content-Hash", hash)
		resp, err := e.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
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
