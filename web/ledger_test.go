package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/offgrid-net/offgrid/node"
)

// TestLedgerPage: the page lists the node's blocks and, for the selected
// block, each receipt with the data the browser checks its inclusion
// proof with (the check itself runs in web/e2e/ledger.mjs).
func TestLedgerPage(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	cookie := e.login(t)
	hdr := map[string]string{"Cookie": cookie}
	_, body := e.do(t, "GET", "/ledger", nil, hdr)
	if c := byTestID(body, "blocks-count"); len(c) != 1 || !strings.Contains(c[0].Inner, "0 blocks") {
		t.Fatalf("empty ledger count = %+v", c)
	}
	for _, job := range []string{"a", "b", "c"} {
		if _, err := e.node.RunJob(t.Context(), node.RunRequest{JobID: job, Metrics: map[string]float64{node.UnitsMetric: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	b, ok, err := e.node.SealBlock(t.Context())
	if err != nil || !ok {
		t.Fatalf("SealBlock = %v, %v", ok, err)
	}
	resp, body := e.do(t, "GET", "/ledger", nil, hdr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /ledger = %d", resp.StatusCode)
	}
	if links := byTestID(body, "nav-ledger"); len(links) != 1 || links[0].Attrs["aria-current"] != "page" {
		t.Errorf("Ledger link = %+v, want it marked current", links)
	}
	rows := byTestID(body, "block-row")
	if len(rows) != 1 || rows[0].Attrs["data-name"] != b.Name().String() {
		t.Fatalf("block rows = %+v, want the sealed block", rows)
	}
	checks := byTestID(body, "proof-check")
	if len(checks) != 3 {
		t.Fatalf("%d proof buttons, want 3", len(checks))
	}
	for i, c := range checks {
		if c.Attrs["data-root"] != b.Root || c.Attrs["data-size"] != "3" || c.Attrs["data-index"] != string(rune('0'+i)) || c.Attrs["data-leaf"] == "" {
			t.Errorf("proof button %d = %+v", i, c.Attrs)
		}
	}
	_, body = e.do(t, "GET", "/ledger?block="+strings.Repeat("0", 64), nil, hdr)
	if !strings.Contains(body, "The block could not be read") {
		t.Errorf("an unknown block shows no error")
	}
	if resp, _ := e.do(t, "GET", "/ledger", nil, nil); resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Errorf("GET /ledger without a session = %d, want a redirect to the login", resp.StatusCode)
	}
}
