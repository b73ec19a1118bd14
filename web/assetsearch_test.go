package web

import (
	"fmt"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/node"
)

// TestAssetsSearchAndPages stores 25 files on a real node and checks the
// storage list's paging and search, and that the page's live feed
// refreshes the list with the same search and page.
func TestAssetsSearchAndPages(t *testing.T) {
	leakCheck(t)
	e := newTestEnv(t, envOptions{})
	for i := range 25 {
		e.putFile(t, randomBytes(t, 512), node.PutOptions{Name: fmt.Sprintf("file-%d.txt", i), Mode: "rep", R: 1})
		e.clock.Advance(time.Second) // newest first: file-24 leads
	}
	cookie := e.login(t)
	for _, tc := range []struct {
		name, path  string
		rows        int
		pager       string // data-page/data-pages, "" for none
		count       string
		contains    []string
		notContains []string
	}{
		{"first page", "/storage", 20, `data-page="1" data-pages="2"`, "25 files", []string{">file-24.txt<", `rel="next"`, `href="/storage?page=2"`}, []string{">file-4.txt<"}},
		{"second page", "/storage?page=2", 5, `data-page="2" data-pages="2"`, "25 files", []string{">file-0.txt<", `rel="prev"`}, []string{">file-24.txt<"}},
		{"past the end", "/storage?page=9", 5, `data-page="2" data-pages="2"`, "25 files", []string{">file-0.txt<"}, nil},
		{"search", "/storage?q=FILE-1", 11, "", "11 of 25 files", []string{">file-1.txt<", ">file-19.txt<", `value="FILE-1"`, `data-testid="assets-clear"`}, []string{">file-2.txt<"}},
		{"no match", "/storage?q=nothing", 0, "", "0 of 25 files", []string{"No stored file's name or ID contains “nothing”."}, nil},
		{"card fragment keeps the search", "/ui/assets?q=file-2&page=1", 6, "", "6 of 25 files", []string{`hx-get="/ui/assets?q=file-2"`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", tc.path, nil, map[string]string{"Cookie": cookie})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d", tc.path, resp.StatusCode)
			}
			if got := countTestID(body, "asset-row", ""); got != tc.rows {
				t.Errorf("%d rows, want %d", got, tc.rows)
			}
			if got := hasTestID(body, "assets-pager"); got != (tc.pager != "") || !strings.Contains(body, tc.pager) {
				t.Errorf("pager shown %v, want %q", got, tc.pager)
			}
			if c, _ := testIDText(body, "assets-count"); !strings.Contains(strings.Join(strings.Fields(c), " "), tc.count) {
				t.Errorf("count %q, want %q", c, tc.count)
			}
			wantAll(t, tc.name, body, tc.contains...)
			for _, s := range tc.notContains {
				if strings.Contains(body, s) {
					t.Errorf("page has %q", s)
				}
			}
		})
	}

	// The searched page's feed refreshes the list with the same search.
	_, feed := e.pageFeed(t, cookie, "/storage?q=file-2")
	if !strings.Contains(feed, "q=file-2") {
		t.Fatalf("feed URL %q does not carry the search", feed)
	}
	conn := e.dialFeedReplay(t, cookie, feed)
	readUntil(t, conn, `data-state="live"`)
	e.putFile(t, randomBytes(t, 512), node.PutOptions{Name: "file-2-new.txt", Mode: "rep", R: 1})
	msg := html.UnescapeString(readUntil(t, conn, `id="assets-card"`))
	if got := countTestID(msg, "asset-row", ""); got != 7 || !strings.Contains(msg, ">file-2-new.txt<") || strings.Contains(msg, ">file-3.txt<") {
		t.Errorf("refreshed card has %d rows, want the 7 matching file-2:\n%s", got, msg)
	}
}
