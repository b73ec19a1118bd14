package web

import (
	"bytes"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/node"
)

// chartPath is a chart line's path data.
var chartPath = regexp.MustCompile(`<path class="chart-line s\d" d="([^"]+)" data-testid="chart-line"`)

// TestOverview records the history of a real node over an hour (shards
// stored for another node, a file of its own) and checks the overview:
// the current figures match the node's, the charts have lines from the
// samples in the chosen range, and an empty range says so.
func TestOverview(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{node: func(c *node.Config) { c.History.Interval = -1 }})
	ctx := t.Context()
	for i := range 30 {
		if i == 10 {
			if _, err := e.node.StoreShard(ctx, "a0ther", 0, bytes.NewReader(make([]byte, 5<<10)), "", "did:key:z6MkOther"); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.node.RecordHistory(ctx); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(2 * time.Minute)
	}
	e.putFile(t, randomBytes(t, 10<<10), node.PutOptions{Name: "mine.txt", Mode: "rep", R: 1})
	u, err := e.node.Usage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cookie := e.login(t)

	for _, tc := range []struct {
		name, path string
		lines      int
		empty      bool
	}{
		{"default day", "/", 4, false},
		{"hour", "/?range=1h", 4, false},
		{"bad range is the day", "/?range=year", 4, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", tc.path, nil, map[string]string{"Cookie": cookie})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d", tc.path, resp.StatusCode)
			}
			wantAll(t, "overview", body, `data-testid="overview"`,
				`data-testid="stat-hosted" data-shards="1" data-bytes="5120"`,
				`data-testid="stat-files" data-owned="1" data-healthy="1"`,
				`data-testid="stat-peers" data-up="0" data-total="0"`,
				`data-testid="chart-peers"`, `data-testid="chart-traffic"`, `data-testid="chart-hosted"`, `<rect class="meter-fill" x="0" y="0" height="6" width="`)
			if u.DiskFree <= 0 || !strings.Contains(body, `data-testid="stat-disk" data-used="`) {
				t.Errorf("disk figures missing (node says free %d)", u.DiskFree)
			}
			paths := chartPath.FindAllStringSubmatch(body, -1)
			if len(paths) != tc.lines {
				t.Fatalf("%d chart lines, want %d", len(paths), tc.lines)
			}
			for _, p := range paths {
				if !strings.HasPrefix(p[1], "M") || strings.Contains(p[1], "NaN") {
					t.Errorf("bad path %q", p[1])
				}
			}
		})
	}
	// The hosted-bytes line rises when the shard was stored: it starts at
	// the bottom and ends higher.
	_, body := e.do(t, "GET", "/?range=1h", nil, map[string]string{"Cookie": cookie})
	hosted := body[strings.Index(body, `data-testid="chart-hosted"`):]
	m := chartPath.FindStringSubmatch(hosted)
	if m == nil {
		t.Fatal("no hosted line")
	}
	fields := strings.Fields(m[1])
	if first, last := fields[1], fields[len(fields)-1]; first != "59.0" || last != "1.0" {
		t.Errorf("hosted line goes from y=%s to y=%s, want 59.0 (nothing) to 1.0 (the top)", first, last)
	}

	// A week later the hour has no samples.
	e.clock.Advance(8 * 24 * time.Hour)
	cookie = e.login(t) // the session has expired
	_, body = e.do(t, "GET", "/?range=1h", nil, map[string]string{"Cookie": cookie})
	if len(chartPath.FindAllString(body, -1)) != 0 || !strings.Contains(body, "No history recorded in this range yet") {
		t.Errorf("an empty range should draw no lines and say so")
	}
}
