package web

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/offgrid-net/offgrid/node"
)

// countTestID counts the elements carrying data-testid=id with the given
// extra attribute text (e.g. `data-state="live"`).
func countTestID(body, id, attr string) int {
	re := regexp.MustCompile(`data-testid="` + regexp.QuoteMeta(id) + `"[^>]*` + regexp.QuoteMeta(attr))
	return len(re.FindAllString(body, -1))
}

// TestFilePage stores a file on a real node, loses one shard, and checks
// the file's page: its facts, its one host (this node) with live and dead
// shard counts, each stripe's shards by state, paging of the stripes, the
// download link, and the link from the storage list.
func TestFilePage(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	// About 40 stripes of 3 shards (k=2, n=3, 4 KiB shards): two pages of
	// stripes.
	shardSize := 4 << 10
	a := e.putFile(t, randomBytes(t, 40*2*shardSize), node.PutOptions{Name: "notes.txt", Mode: "ec", K: 2, N: 3, ShardSize: shardSize})
	S := a.Stripes
	if S <= stripesPerPage || S > 2*stripesPerPage {
		t.Fatalf("stripes = %d, want two pages' worth", S)
	}
	second, last := "#"+strconv.Itoa(stripesPerPage), "#"+strconv.Itoa(S-1)
	// Shard 1 of stripe 3 is lost and, with the disk unable to write,
	// repair marks it dead without rebuilding it.
	e.loseShard(t, a.ID+".3", 1)
	e.breakShardWrites(t)
	if rep, err := e.node.RepairAsset(t.Context(), a.ID); err != nil || rep.Unplaced != 1 {
		t.Fatalf("RepairAsset = %+v, %v; want one shard unplaced", rep, err)
	}
	cookie := e.login(t)

	_, list := e.do(t, "GET", "/storage", nil, map[string]string{"Cookie": cookie})
	if !strings.Contains(list, `href="/storage/`+a.ID+`"`) {
		t.Errorf("storage list does not link to the file's page")
	}

	for _, tc := range []struct {
		name        string
		path        string
		stripes     int
		first, last string
		next, prev  bool
	}{
		{name: "first page", path: "/storage/" + a.ID, stripes: stripesPerPage, first: "#0", last: "#31", next: true},
		{name: "second page", path: "/storage/" + a.ID + "?page=2", stripes: S - stripesPerPage, first: second, last: last, prev: true},
		{name: "page past the end shows the last", path: "/storage/" + a.ID + "?page=99", stripes: S - stripesPerPage, first: second, last: last, prev: true},
		{name: "bad page shows the first", path: "/storage/" + a.ID + "?page=-3", stripes: stripesPerPage, first: "#0", last: "#31", next: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", tc.path, nil, map[string]string{"Cookie": cookie})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d, want 200", tc.path, resp.StatusCode)
			}
			wantAll(t, "file page", body, `data-testid="file-name">notes.txt<`, `data-testid="file-id">`+a.ID+`<`,
				`href="/ui/assets/`+a.ID+`/download" data-testid="file-download"`, "ec 2/3; "+strconv.Itoa(S)+" stripes of 4.0 KiB shards",
				`data-testid="file-host" data-host-id="`+string(e.node.Info().ID)+`"`, ">this node<",
				`>`+tc.first+`<`, `>`+tc.last+`<`)
			if got := countTestID(body, "file-stripe", ""); got != tc.stripes {
				t.Errorf("%d stripes shown, want %d", got, tc.stripes)
			}
			if got := countTestID(body, "file-shard", ""); got != 3*tc.stripes {
				t.Errorf("%d shards shown, want %d", got, 3*tc.stripes)
			}
			if strings.Contains(body, `rel="next"`) != tc.next || strings.Contains(body, `rel="prev"`) != tc.prev {
				t.Errorf("pager next/prev = %v/%v, want %v/%v", strings.Contains(body, `rel="next"`), strings.Contains(body, `rel="prev"`), tc.next, tc.prev)
			}
		})
	}
	_, body := e.do(t, "GET", "/storage/"+a.ID, nil, map[string]string{"Cookie": cookie})
	wantAll(t, "host counts", body, `data-live="`+strconv.Itoa(3*S-1)+`" data-dead="1"`, `title="shard 1 on this node: dead"`)
	if got := countTestID(body, "file-shard", `data-state="dead"`); got != 1 {
		t.Errorf("%d dead shards shown on page 1, want 1 (stripe 3, shard 1)", got)
	}
	if got := countTestID(body, "file-stripe", `data-live="2"`); got != 1 {
		t.Errorf("%d stripes with two live shards on page 1, want 1", got)
	}

	for _, tc := range []struct{ name, path string }{
		{"unknown ID", "/storage/a00000000000000000000000000000000"},
		{"dots", "/storage/.."},
		{"bad characters", "/storage/a%3Cb%3E"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", tc.path, nil, map[string]string{"Cookie": cookie})
			if resp.StatusCode != http.StatusNotFound || !hasTestID(body, "file-error") {
				t.Errorf("GET %s = %d, want 404 with the error card", tc.path, resp.StatusCode)
			}
		})
	}
	if resp, _ := e.do(t, "GET", "/storage/"+a.ID, nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET file page without a session = %d, want 303 to the login", resp.StatusCode)
	}
}
