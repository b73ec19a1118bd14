package web

import (
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/api/gen"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/radio"
	"github.com/offgrid-net/offgrid/storage"
)

var auditAttrs = regexp.MustCompile(`data-testid="file-audits" data-passed="(\d+)" data-failed="(\d+)"`)

// TestFilePageAudits runs the node's audits often, loses a shard so one
// fails, and checks that the file's page shows at least the passed and
// failed audits the node had recorded before it was read.
func TestFilePageAudits(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{node: func(c *node.Config) {
		c.Assets.AuditInterval = 20 * time.Millisecond
		c.Assets.AuditShards = 8
	}})
	a := e.putFile(t, randomBytes(t, 20<<10), node.PutOptions{Name: "audited.bin", Mode: "ec", K: 2, N: 3})
	// The blob goes without loseShard's read: the audits, every 20 ms,
	// would race it to finding the loss, and finding it is theirs to show.
	if err := os.Remove(e.shardBlob(t, a.ID+".0", 1)); err != nil {
		t.Fatal(err)
	}
	var rec node.Asset
	waitFor(t, "a passed and a failed audit", func() bool {
		var err error
		rec, err = e.node.Asset(t.Context(), a.ID)
		return err == nil && rec.AuditsPassed > 0 && rec.AuditsFailed > 0
	})
	cookie := e.login(t)
	_, body := e.do(t, "GET", "/storage/"+a.ID, nil, map[string]string{"Cookie": cookie})
	m := auditAttrs.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the file page shows no audits:\n%.600s", body)
	}
	passed, _ := strconv.Atoi(m[1])
	failed, _ := strconv.Atoi(m[2])
	if passed < rec.AuditsPassed || failed < rec.AuditsFailed {
		t.Errorf("page shows %d passed, %d failed; the node had recorded %d and %d before", passed, failed, rec.AuditsPassed, rec.AuditsFailed)
	}
	if !strings.Contains(body, `<span class="audit-failed">`+m[2]+` failed</span>`) {
		t.Errorf("failed audits are not marked on the page")
	}
}

// TestDeleteFromFilePage deletes a file with its page's Delete button: a
// success sends the browser to the storage page, which says what the
// delete did; a second delete and a bad ID are alerts on the page; a
// storage link that claims a delete of a file the node still has says
// nothing.
func TestDeleteFromFilePage(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	keep := e.putFile(t, randomBytes(t, 30<<10), node.PutOptions{Name: "keep.bin", Mode: "ec", K: 2, N: 3})
	drop := e.putFile(t, randomBytes(t, 30<<10), node.PutOptions{Name: "drop.bin", Mode: "ec", K: 2, N: 4})
	cookie := e.login(t)
	hdr := map[string]string{"Cookie": cookie, "HX-Request": "true"}

	_, page := e.do(t, "GET", "/storage/"+drop.ID, nil, map[string]string{"Cookie": cookie})
	if !strings.Contains(page, `hx-delete="/ui/assets/`+drop.ID+`?from=file"`) || !strings.Contains(page, `hx-confirm="Delete drop.bin (`) {
		t.Fatal("the file page has no Delete button with a confirmation")
	}
	wantRedirect := "/storage?deleted=" + drop.ID + "&dropped=4&pending=0"
	tests := []struct {
		name, id     string
		wantRedirect string
		wantAlert    string
	}{
		{"delete", drop.ID, wantRedirect, ""},
		{"again", drop.ID, "", "There is no stored file with that ID; it may have been deleted already."},
		{"bad id", "..", "", "There is no stored file with that ID."},
	}
	for _, tt := range tests {
		resp, body := e.do(t, "DELETE", "/ui/assets/"+tt.id+"?from=file", nil, hdr)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", tt.name, resp.StatusCode)
		}
		if got := resp.Header.Get("HX-Redirect"); got != tt.wantRedirect {
			t.Errorf("%s: HX-Redirect %q, want %q", tt.name, got, tt.wantRedirect)
		}
		alert, _ := testIDText(body, "file-delete-error")
		if alert != tt.wantAlert {
			t.Errorf("%s: alert %q, want %q", tt.name, alert, tt.wantAlert)
		}
	}
	if _, err := e.node.Asset(t.Context(), drop.ID); err == nil {
		t.Error("the node still has the deleted file")
	}
	n, _ := e.diskBlobs(t)
	if n != 3 {
		t.Errorf("%d shard blobs on disk after the delete, want keep.bin's 3", n)
	}

	for _, tc := range []struct {
		name, path, want string
	}{
		{"after the delete", wantRedirect, "Deleted " + drop.ID[:10] + "…: its hosts dropped 4 shards."},
		{"a file the node has", "/storage?deleted=" + keep.ID + "&dropped=4&pending=0", ""},
		{"counts not numbers", "/storage?deleted=" + drop.ID + "&dropped=x&pending=0", ""},
		{"negative counts", "/storage?deleted=" + drop.ID + "&dropped=-1&pending=0", ""},
		{"bad id", "/storage?deleted=" + url.QueryEscape("<b>") + "&dropped=1&pending=0", ""},
	} {
		_, body := e.do(t, "GET", tc.path, nil, map[string]string{"Cookie": cookie})
		got, _ := testIDText(body, "assets-notice")
		if got != tc.want {
			t.Errorf("%s: notice %q, want %q", tc.name, got, tc.want)
		}
	}
}

// TestShareFromFilePage shares a file from its page with a peer whose
// API answers GET /pubkeys on loopback: the answer is the download
// NAME.share.json, a manifest signed by this node, naming the peer, whose
// key only the peer can unwrap. A node not in the peer table, none
// picked, a peer that answers as another node and an unknown file are
// refused in words.
func TestShareFromFilePage(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{links: []radio.Via{"udp"}})
	a := e.putFile(t, randomBytes(t, 10<<10), node.PutOptions{Name: "report.pdf", Mode: "ec", K: 1, N: 1})
	cookie := e.login(t)

	_, page := e.do(t, "GET", "/storage/"+a.ID, nil, map[string]string{"Cookie": cookie})
	if !hasTestID(page, "file-share-none") {
		t.Error("with no peers the page should say there is no one to share with")
	}

	friend := newTestPeer(t, "", "friend-pi")
	impostor := newTestPeer(t, "", "impostor-pi")
	other := newTestPeer(t, "", "other-pi")
	// The impostor's endpoint answers with the friend's keys.
	for _, tp := range []struct{ p, keys *testPeer }{{friend, friend}, {impostor, friend}} {
		k := tp.keys.keys
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/pubkeys" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(gen.Pubkeys{NodeId: string(k.ID()), Name: tp.keys.name,
				BoxKey: hex.EncodeToString(k.BoxPublic()), VerifyKey: hex.EncodeToString(k.SignPublic())})
		}))
		t.Cleanup(srv.Close)
		tp.p.endpoint = srv.URL
		e.hear(t, "udp", tp.p, true)
	}

	_, page = e.do(t, "GET", "/storage/"+a.ID, nil, map[string]string{"Cookie": cookie})
	for _, p := range []*testPeer{friend, impostor} {
		if !strings.Contains(page, `<option value="`+string(p.keys.ID())+`">`) {
			t.Errorf("the share form does not offer %s", p.name)
		}
	}

	resp, body := e.do(t, "POST", "/ui/assets/"+a.ID+"/share", url.Values{"to": {string(friend.keys.ID())}}, map[string]string{"Cookie": cookie})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("share: %d %s %.300s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if got, want := resp.Header.Get("Content-Disposition"), `attachment; filename="report.pdf.share.json"`; !strings.HasPrefix(got, want) {
		t.Errorf("Content-Disposition %q, want it to start with %q", got, want)
	}
	s, err := storage.DecodeShare([]byte(body))
	if err != nil {
		t.Fatalf("the download is no valid share manifest: %v", err)
	}
	if s.Owner != string(e.node.Info().ID) || s.Recipient != string(friend.keys.ID()) || s.AssetID != a.ID || s.Name != "report.pdf" {
		t.Errorf("manifest owner %s, recipient %s, asset %s %q", s.Owner, s.Recipient, s.AssetID, s.Name)
	}
	if _, _, err := storage.UnwrapKey(friend.keys.BoxPrivate(), s.Key, a.ID); err != nil {
		t.Errorf("the friend cannot unwrap the file key: %v", err)
	}
	if _, _, err := storage.UnwrapKey(other.keys.BoxPrivate(), s.Key, a.ID); err == nil {
		t.Error("another node unwrapped the file key")
	}

	for _, tc := range []struct {
		name, path, to string
		status         int
		want           string
	}{
		{"nobody picked", "/ui/assets/" + a.ID + "/share", "", http.StatusBadRequest, "Pick the node to share the file with."},
		{"not a peer", "/ui/assets/" + a.ID + "/share", string(other.keys.ID()), http.StatusBadRequest, "That node is not in the peer table; pick one from the list."},
		{"answers as another node", "/ui/assets/" + a.ID + "/share", string(impostor.keys.ID()), http.StatusBadGateway, "it answers as " + string(friend.keys.ID())},
	} {
		resp, body := e.do(t, "POST", tc.path, url.Values{"to": {tc.to}}, map[string]string{"Cookie": cookie})
		msg, _ := testIDText(body, "file-share-error")
		if resp.StatusCode != tc.status || !strings.Contains(msg, tc.want) || !hasTestID(body, "file-page") {
			t.Errorf("%s: %d, error %q; want %d and the file page saying %q", tc.name, resp.StatusCode, msg, tc.status, tc.want)
		}
	}
	resp, _ = e.do(t, "POST", "/ui/assets/a00000000000000000000000000000000/share", url.Values{"to": {string(friend.keys.ID())}}, map[string]string{"Cookie": cookie})
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("share of an unknown file: %d, want 404", resp.StatusCode)
	}
}
