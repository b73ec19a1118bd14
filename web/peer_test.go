package web

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/offgrid-net/offgrid/radio"
)

// TestPeerPage hears two peers on a real node, stores shards for one, and
// checks each peer's page: identity, transport, its one state, last seen,
// the mesh neighbour entry for its address, and the shards this node holds
// for it; unknown keys get 404 and the table links to the pages.
func TestPeerPage(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{links: []radio.Via{"udp"}})
	e.writeMesh(t, `{"proto":"batman-adv","health":{"interfaces_up":1,"mesh_ok":true},
"neighbors":[{"address":"10.42.0.8","iface":"wlan0-mesh","metric":187.5}],
"routes":[{"destination":"10.42.0.8","via":"10.42.0.8","metric":121}]}`, fromFile)
	school := newTestPeer(t, "http://10.42.0.8:7420", "school-laptop")
	e.hear(t, "udp", school, true)
	idle := newTestPeer(t, "http://10.42.0.20:7420", "node-3")
	e.hear(t, "udp", idle, false)
	// This node stores two shards for school-laptop (3 KiB and 5 KiB)
	// and one for the admin.
	for i, size := range []int{3 << 10, 5 << 10} {
		if _, err := e.node.StoreShard(t.Context(), "a0f00d", i, bytes.NewReader(make([]byte, size)), "", string(school.keys.ID())); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.node.StoreShard(t.Context(), "a0f00d", 2, bytes.NewReader(make([]byte, 1<<10)), "", "admin"); err != nil {
		t.Fatal(err)
	}
	cookie := e.login(t)

	_, table := e.do(t, "GET", "/network/peers", nil, map[string]string{"Cookie": cookie})
	schoolURL := "/network/peers/" + url.PathEscape(string(school.keys.ID()))
	if !strings.Contains(table, `href="`+schoolURL+`"`) {
		t.Errorf("peer table does not link to %s", schoolURL)
	}

	for _, tc := range []struct {
		name, path string
		wants      []string
	}{
		{"school by node ID", schoolURL, []string{
			`data-testid="peer-name">school-laptop<`, `data-testid="peer-id">` + string(school.keys.ID()) + `<`,
			`data-testid="peer-endpoint">http://10.42.0.8:7420<`, `data-via="udp"`,
			`data-state="up" data-status="up" data-active="true">up<`,
			`data-testid="peer-held-for-them" data-shards="2" data-bytes="8192"`, "2 shards · 8.0 KiB",
			`data-testid="peer-held-for-us" data-shards="0" data-bytes="0"`,
			"wlan0-mesh", "187.5", "Metrics from</dt><dd>file",
		}},
		{"idle peer by endpoint", "/network/peers/" + url.PathEscape(idle.endpoint), []string{
			`data-testid="peer-name">node-3<`, `data-state="up" data-status="idle" data-active="false">up, not taking work<`,
			`data-testid="peer-held-for-them" data-shards="0"`, `data-testid="peer-neighbor" data-neighbor="false"`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(t, "GET", tc.path, nil, map[string]string{"Cookie": cookie})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %d, want 200", tc.path, resp.StatusCode)
			}
			wantAll(t, tc.name, body, tc.wants...)
		})
	}
	// school-laptop's address is the mesh daemon's neighbour, with a route.
	_, body := e.do(t, "GET", schoolURL, nil, map[string]string{"Cookie": cookie})
	wantAll(t, "school mesh", body, `data-testid="peer-neighbor" data-neighbor="true"`, `data-testid="peer-metric">121 `)

	// Down, the peer reads "down" and nothing says it is active.
	e.silence(t, school.endpoint)
	_, body = e.do(t, "GET", schoolURL, nil, map[string]string{"Cookie": cookie})
	wantAll(t, "school down", body, `data-state="down" data-status="down"`, ">down<")
	if strings.Contains(body, ">up<") || strings.Contains(body, "taking jobs") {
		t.Errorf("a down peer's page still says up or taking work")
	}

	for _, path := range []string{"/network/peers/did:key:z6MkNobody", "/network/peers/" + strings.Repeat("x", maxPeerKey+1)} {
		resp, body := e.do(t, "GET", path, nil, map[string]string{"Cookie": cookie})
		if resp.StatusCode != http.StatusNotFound || !hasTestID(body, "peer-error") {
			t.Errorf("GET %s = %d, want 404 with the error card", path[:min(len(path), 40)], resp.StatusCode)
		}
	}
	if resp, _ := e.do(t, "GET", schoolURL, nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("GET peer page without a session = %d, want 303 to the login", resp.StatusCode)
	}
}
