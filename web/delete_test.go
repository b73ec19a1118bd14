package web

import (
	"io/fs"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/offgrid-net/offgrid/node"
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
}
