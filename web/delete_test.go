package web

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"mime/multipart"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/storage"
)

// diskBlobs returns the number of shard blobs in the node's data dir and
// their total size.
func (e *testEnv) diskBlobs(t *testing.T) (n int, bytes int64) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(e.dir, "shards", "blobs"), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n++
		bytes += info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, bytes
}

var hostedAttrs = regexp.MustCompile(`data-testid="hosted" data-shards="(\d+)" data-bytes="(\d+)"`)

// hosted returns the shard count and bytes the storage card reports.
func hosted(t *testing.T, body string) (int, int64) {
	t.Helper()
	m := hostedAttrs.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the storage card reports no hosted shards:\n%.400s", body)
	}
	n, _ := strconv.Atoi(m[1])
	b, _ := strconv.ParseInt(m[2], 10, 64)
	return n, b
}

// TestDeleteAssetFromList deletes a file with the list's Delete button:
// the card says what happened, the file is no longer listed, its shards
// are gone from the disk, and the hosted bytes the card reports match the
// blobs on disk before and after.
func TestDeleteAssetFromList(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	keep := e.putFile(t, randomBytes(t, 50<<10), node.PutOptions{Name: "keep.bin", Mode: "ec", K: 2, N: 3})
	drop := e.putFile(t, randomBytes(t, 70<<10), node.PutOptions{Name: "drop.bin", Mode: "ec", K: 2, N: 4})
	cookie := e.login(t)
	hdr := map[string]string{"Cookie": cookie, "HX-Request": "true"}

	_, body := e.do(t, "GET", "/storage", nil, map[string]string{"Cookie": cookie})
	if !strings.Contains(body, `hx-delete="/ui/assets/`+drop.ID+`"`) || !strings.Contains(body, `hx-confirm="Delete drop.bin (`) {
		t.Fatalf("the list has no Delete button with a confirmation for %s", drop.ID)
	}
	shards, bytes := hosted(t, body)
	diskN, diskB := e.diskBlobs(t)
	if shards != 7 || diskN != 7 || bytes != diskB {
		t.Fatalf("card reports %d shards, %d bytes; disk holds %d blobs, %d bytes; want 7 shards and the same bytes", shards, bytes, diskN, diskB)
	}

	sub := e.subscribe(t)
	tests := []struct {
		name, id   string
		wantNotice string
		wantClass  string
	}{
		{"delete", drop.ID, "Deleted " + drop.ID[:10] + "…: its hosts dropped 4 shards.", "alert ok"},
		{"again", drop.ID, "There is no stored file with that ID; it may have been deleted already.", "alert error"},
		{"bad id", "..", "There is no stored file with that ID.", "alert error"},
	}
	for _, tt := range tests {
		resp, body := e.do(t, "DELETE", "/ui/assets/"+tt.id, nil, hdr)
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, `<section id="assets-card"`) {
			t.Fatalf("%s: DELETE /ui/assets/%s = %d, want the assets card", tt.name, tt.id, resp.StatusCode)
		}
		notice, ok := testIDText(body, "assets-notice")
		if !ok || notice != tt.wantNotice || !strings.Contains(body, `class="`+tt.wantClass+`"`) {
			t.Errorf("%s: notice %q (found %v), want %q in %q", tt.name, notice, ok, tt.wantNotice, tt.wantClass)
		}
		if strings.Contains(body, `data-asset-id="`+drop.ID+`"`) || !strings.Contains(body, `data-asset-id="`+keep.ID+`"`) {
			t.Errorf("%s: the list should show keep.bin and not drop.bin", tt.name)
		}
		shards, bytes := hosted(t, body)
		diskN, diskB := e.diskBlobs(t)
		if shards != 3 || diskN != 3 || bytes != diskB {
			t.Errorf("%s: card reports %d shards, %d bytes; disk holds %d blobs, %d bytes; want 3 and the same bytes",
				tt.name, shards, bytes, diskN, diskB)
		}
	}
	if _, err := e.node.Asset(t.Context(), drop.ID); err == nil {
		t.Error("the node still has the deleted file")
	}
	var deleted []node.AssetDeleted
	for _, ev := range published(sub) {
		if d, ok := ev.(node.AssetDeleted); ok {
			deleted = append(deleted, d)
		}
	}
	if want := []node.AssetDeleted{{ID: drop.ID, Name: "drop.bin"}}; !slices.Equal(deleted, want) {
		t.Errorf("published deletions %v, want %v", deleted, want)
	}
}

// postImport sends file as the import card's form does.
func (e *testEnv) postImport(t *testing.T, cookie string, file []byte) (*http.Response, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("manifest", "share.json")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(file); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest("POST", e.srv.URL+"/ui/assets/import", &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Cookie", cookie)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return e.send(t, req)
}

// shareFor returns a share manifest from a fresh owner for the node
// whose ID and X25519 key (hex) are given.
func shareFor(t *testing.T, id identity.NodeID, boxHex string) []byte {
	t.Helper()
	owner, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	box, err := hex.DecodeString(boxHex)
	if err != nil {
		t.Fatal(err)
	}
	key, prefix, err := storage.NewAssetKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	w, err := storage.WrapKey(rand.Reader, key, prefix, box, "shared-"+string(id[len(id)-8:]))
	if err != nil {
		t.Fatal(err)
	}
	s, err := storage.SignShare(owner, storage.Share{AssetID: "shared-" + string(id[len(id)-8:]), Name: "from-a-friend.txt",
		Size: 5, FileHash: strings.Repeat("ab", 32), Mode: "ec", K: 1, N: 1, ShardSize: 4096, Stripes: 1,
		Recipient: string(id), Key: w, Shards: []storage.ShareShard{{Hash: strings.Repeat("cd", 32),
			HostID: string(owner.ID()), Endpoint: "http://127.0.0.1:9"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestImportFromDashboard imports share manifests with the import card:
// one made for this node is listed, and one made for another node, a
// second import and a file that is no manifest are refused in words.
func TestImportFromDashboard(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	cookie := e.login(t)
	_, page := e.do(t, "GET", "/storage", nil, map[string]string{"Cookie": cookie})
	if !hasTestID(page, "import-input") || !strings.Contains(page, `hx-post="/ui/assets/import"`) {
		t.Fatal("the storage page has no import card")
	}
	info := e.node.Info()
	other, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	mine := shareFor(t, info.ID, info.BoxKey)
	tests := []struct {
		name    string
		file    []byte
		wantID  string
		wantMsg string
	}{
		{"for this node", mine, "import-ok", "Imported <strong class=\"break\">from-a-friend.txt</strong> (5 B); it is in the list below."},
		{"again", mine, "import-error", "exists"},
		{"for another node", shareFor(t, other.ID(), hex.EncodeToString(other.BoxPublic())), "import-error", "not for this node"},
		{"not a manifest", []byte("hello"), "import-error", "invalid share manifest"},
	}
	for _, tt := range tests {
		resp, body := e.postImport(t, cookie, tt.file)
		if resp.StatusCode != http.StatusOK || !hasTestID(body, tt.wantID) || !strings.Contains(body, tt.wantMsg) {
			t.Errorf("%s: %d %q; want %s saying %q", tt.name, resp.StatusCode, body, tt.wantID, tt.wantMsg)
		}
		if got, want := resp.Header.Get("HX-Trigger"), map[bool]string{true: "put-done"}[tt.wantID == "import-ok"]; got != want {
			t.Errorf("%s: HX-Trigger %q, want %q", tt.name, got, want)
		}
	}
	as, err := e.node.Assets(t.Context())
	if err != nil || len(as) != 1 || as[0].Name != "from-a-friend.txt" {
		t.Errorf("after the imports the node lists %+v, %v; want the one shared file", as, err)
	}
}
