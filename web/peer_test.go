package web

import (
	"bytes"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/node"
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
	// school-laptop reads its 3 KiB shard back: bytes sent to it.
	rc, _, err := e.node.OpenShard(t.Context(), "a0f00d", 0, string(school.keys.ID()))
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
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
			`data-testid="peer-bytes-received" data-bytes="8192">8.0 KiB<`,
			`data-testid="peer-bytes-sent" data-bytes="3072">3.0 KiB<`,
			// Heard by beacon only: no round trip measured.
			`data-testid="peer-rtt" data-rtt-us="0" data-rtt-via=""`, "not measured yet",
			`data-testid="peer-timeline-span" data-state="up"`, "up under 1% of the time",
		}},
		{"idle peer by endpoint", "/network/peers/" + url.PathEscape(idle.endpoint), []string{
			`data-testid="peer-name">node-3<`, `data-state="up" data-status="idle" data-active="false">up, not taking work<`,
			`data-testid="peer-held-for-them" data-shards="0"`, `data-testid="peer-neighbor" data-neighbor="false"`,
			`data-testid="peer-bytes-received" data-bytes="0"`, `data-testid="peer-bytes-sent" data-bytes="0"`,
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
	// Its timeline: not heard for 22 h, up for the 2 h the clock moved,
	// then down. The change is recorded just after the table says down.
	spans := regexp.MustCompile(`data-testid="peer-timeline-span" data-state="(\w+)"`)
	var states []string
	waitFor(t, "school's timeline ends down", func() bool {
		_, body = e.do(t, "GET", schoolURL, nil, map[string]string{"Cookie": cookie})
		states = states[:0]
		for _, m := range spans.FindAllStringSubmatch(body, -1) {
			states = append(states, m[1])
		}
		return len(states) > 0 && states[len(states)-1] == "down"
	})
	wantAll(t, "school down", body, `data-state="down" data-status="down"`, ">down<")
	if want := []string{"unknown", "up", "down"}; !slices.Equal(states, want) {
		t.Errorf("school's timeline spans %v, want %v", states, want)
	}
	wantAll(t, "school up share", body, `data-testid="peer-up-percent" data-percent="8">up 8% of the time<`)
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

// TestTimelineOf places state spans on the timeline's axis: clipped to the
// window, at least one unit wide, with the share of time up.
func TestTimelineOf(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	start := now.Add(-node.PeerTimelineWindow)
	tests := []struct {
		name   string
		spans  []node.PeerStateSpan
		want   []timelineBar
		wantUp int
	}{
		{"none", nil, nil, 0},
		{"up all day", []node.PeerStateSpan{{From: start.Add(-time.Hour), To: now, State: node.PeerUp}},
			[]timelineBar{{X: "0.0", W: "1000.0", State: "up", From: start, To: now}}, 100},
		{"unknown, up 6 h, down a second", []node.PeerStateSpan{
			{From: start, To: now.Add(-6 * time.Hour), State: node.PeerUnknown},
			{From: now.Add(-6 * time.Hour), To: now.Add(-time.Second), State: node.PeerUp},
			{From: now.Add(-time.Second), To: now, State: node.PeerDown},
		}, []timelineBar{
			{X: "0.0", W: "750.0", State: "unknown", From: start, To: now.Add(-6 * time.Hour)},
			{X: "750.0", W: "250.0", State: "up", From: now.Add(-6 * time.Hour), To: now.Add(-time.Second)},
			{X: "999.0", W: "1.0", State: "down", From: now.Add(-time.Second), To: now},
		}, 24},
		{"empty span dropped, the current one kept", []node.PeerStateSpan{
			{From: start, To: now, State: node.PeerUnknown},
			{From: now, To: now, State: node.PeerDown},
			{From: now, To: now, State: node.PeerUp},
		}, []timelineBar{
			{X: "0.0", W: "1000.0", State: "unknown", From: start, To: now},
			{X: "999.0", W: "1.0", State: "up", From: now, To: now},
		}, 0},
		{"outside the window", []node.PeerStateSpan{{From: start.Add(-2 * time.Hour), To: start.Add(-time.Hour), State: node.PeerUp}}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bars, up := timelineOf(tt.spans, now)
			if !slices.Equal(bars, tt.want) || up != tt.wantUp {
				t.Errorf("timelineOf() = %+v, %d%%; want %+v, %d%%", bars, up, tt.want, tt.wantUp)
			}
		})
	}
}
