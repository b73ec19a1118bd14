package web

import (
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/peerclient"
	"github.com/offgrid-net/offgrid/radio"
)

// testElem is an element found by its data-testid: its opening tag's
// attributes and what follows up to the matching close tag (no nesting of
// the same tag inside).
type testElem struct {
	Attrs map[string]string
	Inner string
}

var attrRe = regexp.MustCompile(`([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:="([^"]*)")?`)

// byTestID returns every element carrying data-testid=id, in order.
func byTestID(body, id string) []testElem {
	re := regexp.MustCompile(`(?s)<([a-z][a-z0-9]*)(\s[^>]*data-testid="` + regexp.QuoteMeta(id) + `"[^>]*)>`)
	var out []testElem
	for _, m := range re.FindAllStringSubmatchIndex(body, -1) {
		tag := body[m[2]:m[3]]
		el := testElem{Attrs: map[string]string{}}
		for _, a := range attrRe.FindAllStringSubmatch(body[m[4]:m[5]], -1) {
			el.Attrs[a[1]] = a[2]
		}
		rest := body[m[1]:]
		if end := strings.Index(rest, "</"+tag+">"); end >= 0 {
			el.Inner = rest[:end]
		}
		out = append(out, el)
	}
	return out
}

// text strips tags and squeezes spaces.
func (el testElem) text() string {
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]*>`).ReplaceAllString(el.Inner, " ")), " ")
}

// peerRows returns the peer rows of a page or message by endpoint.
func peerRows(t *testing.T, body string) map[string]testElem {
	t.Helper()
	rows := map[string]testElem{}
	for _, r := range byTestID(body, "peer-row") {
		ep := r.Attrs["data-endpoint"]
		if _, dup := rows[ep]; dup {
			t.Errorf("two rows for %s", ep)
		}
		rows[ep] = r
	}
	return rows
}

// rowState returns the data-state of the row's state badge.
func rowState(t *testing.T, row testElem) string {
	t.Helper()
	b := byTestID(row.Inner, "peer-state")
	if len(b) != 1 {
		t.Fatalf("row has %d state badges, want 1: %s", len(b), row.Inner)
	}
	return b[0].Attrs["data-state"]
}

// testPeer is another node, known to the test's node only by the signed
// beacons the test sends for it over a radio link.
type testPeer struct {
	keys           *identity.Keys
	endpoint, name string
	// counter numbers the peer's beacons; the node refuses a repeat.
	counter uint32
}

func newTestPeer(t *testing.T, endpoint, name string) *testPeer {
	t.Helper()
	k, err := identity.Generate(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testPeer{keys: k, endpoint: endpoint, name: name}
}

// beacon sends one signed beacon of p on the test's end of the via link,
// first admitting p to the node's cluster (these tests are about showing
// peers; admission has its own tests in server and cmd/offgrid).
func (e *testEnv) beacon(t *testing.T, via radio.Via, p *testPeer, active bool) {
	t.Helper()
	if e.admin != nil && !e.node.IsMember(p.keys.ID()) {
		e.admit(t, p.keys.ID())
	}
	p.counter++
	frame, err := radio.EncodeFrame(p.keys, radio.Frame{Type: radio.FrameBeacon, Epoch: 1, Counter: p.counter,
		Endpoint: p.endpoint, Name: p.name, Active: active})
	if err != nil {
		t.Fatalf("EncodeFrame: %v", err)
	}
	link, ok := e.radio[via]
	if !ok {
		t.Fatalf("the node has no %s link (envOptions.links)", via)
	}
	if err := link.Send(t.Context(), frame); err != nil {
		t.Fatalf("send beacon on %s: %v", via, err)
	}
}

// hear sends p's beacon and waits until the node's peer table has p up,
// with that active flag, heard at the current time.
func (e *testEnv) hear(t *testing.T, via radio.Via, p *testPeer, active bool) {
	t.Helper()
	e.beacon(t, via, p, active)
	now := e.clock.Now()
	waitFor(t, p.name+" heard up", func() bool {
		q, ok := e.peer(t, p.endpoint)
		return ok && q.State == node.PeerUp && q.Active == active && q.LastSeen.Equal(now)
	})
}

// peer returns the node's peer table entry for endpoint.
func (e *testEnv) peer(t *testing.T, endpoint string) (node.Peer, bool) {
	t.Helper()
	ps, err := e.node.Peers(t.Context())
	if err != nil {
		t.Fatalf("Peers: %v", err)
	}
	for _, p := range ps {
		if p.Endpoint == endpoint {
			return p, true
		}
	}
	return node.Peer{}, false
}

// silence moves the clock past the node's DownAfter (newTestEnv sets an
// hour), so peers heard only by beacons go down, and waits until the peer
// at endpoint is down.
func (e *testEnv) silence(t *testing.T, endpoint string) {
	t.Helper()
	e.clock.Advance(2 * time.Hour)
	waitFor(t, endpoint+" down", func() bool {
		p, ok := e.peer(t, endpoint)
		return ok && p.State == node.PeerDown
	})
}

func TestNetworkSessionRequired(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	htmx := map[string]string{"HX-Request": "true"}
	tests := []struct {
		path       string
		hdr        map[string]string
		wantStatus int
	}{
		{"/network/peers", nil, http.StatusSeeOther},
		{"/network/mesh", nil, http.StatusSeeOther},
		{"/network/peers", htmx, http.StatusUnauthorized},
		{"/network/mesh", htmx, http.StatusUnauthorized},
		{"/ui/network/peers", htmx, http.StatusUnauthorized},
		{"/ui/network/mesh", htmx, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		resp, body := e.do(t, "GET", tt.path, nil, tt.hdr)
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("GET %s (%v) = %d, want %d", tt.path, tt.hdr, resp.StatusCode, tt.wantStatus)
		}
		if hasTestID(body, "peers-table") || hasTestID(body, "mesh-card") {
			t.Errorf("GET %s without a session shows data:\n%s", tt.path, body)
		}
		if tt.wantStatus == http.StatusSeeOther && resp.Header.Get("Location") != "/login" {
			t.Errorf("GET %s redirects to %q, want /login", tt.path, resp.Header.Get("Location"))
		}
	}
	for _, view := range []string{"peers", "mesh"} {
		wsURL := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/ui/ws?view=" + view
		_, resp, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Origin": {e.srv.URL}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("dial ?view=%s without session: %v, want status 401", view, err)
		}
	}
}

func TestPeersPage(t *testing.T) {
	t.Parallel()
	// A static peer that accepts the poll's connection but never answers
	// stays unknown; one where nothing listens goes down.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { silent.Close() })
	unknownEP, downEP := "http://"+silent.Addr().String(), "http://127.0.0.1:1"
	pollClient := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(pollClient.CloseIdleConnections)
	e := newTestEnv(t, envOptions{links: []radio.Via{"udp", "lora"}, node: func(c *node.Config) {
		c.Connect = peerclient.Connect(pollClient, pollClient)
		c.Peers.StaticPeers = []string{unknownEP, downEP}
		c.Peers.PollInterval, c.Peers.PollTimeout = time.Hour, time.Hour
	}})
	waitFor(t, "the refused static peer down", func() bool {
		p, ok := e.peer(t, downEP)
		return ok && p.State == node.PeerDown
	})
	// clinic-nuc was heard over LoRa two hours ago and went silent;
	// school-laptop and node-3 were heard over UDP 12 and 3 seconds ago.
	clinic := newTestPeer(t, "http://10.42.0.12:7420", "clinic-nuc")
	e.hear(t, "lora", clinic, false)
	e.silence(t, clinic.endpoint)
	school := newTestPeer(t, "http://10.42.0.8:7420", "school-laptop")
	e.hear(t, "udp", school, true)
	e.clock.Advance(9 * time.Second)
	e.hear(t, "udp", newTestPeer(t, "http://10.42.0.20:7420", "node-3"), false)
	e.clock.Advance(3 * time.Second)
	cookie := e.login(t)

	resp, body := e.do(t, "GET", "/network/peers", nil, map[string]string{"Cookie": cookie})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /network/peers = %d, want 200", resp.StatusCode)
	}
	if !strings.HasPrefix(body, "<!doctype html>") {
		t.Error("GET /network/peers is not a full page")
	}
	for _, nav := range []string{"nav-dashboard", "nav-storage", "nav-peers", "nav-mesh"} {
		if !hasTestID(body, nav) {
			t.Errorf("header lacks the %s link", nav)
		}
	}
	if links := byTestID(body, "nav-peers"); len(links) != 1 || links[0].Attrs["aria-current"] != "page" || links[0].Attrs["href"] != "/network/peers" {
		t.Errorf("Peers link = %+v, want href /network/peers marked current", links)
	}
	if tables := byTestID(body, "peers-table"); len(tables) != 1 {
		t.Fatalf("%d peers tables, want 1", len(tables))
	}
	sum := byTestID(body, "peers-summary")
	if len(sum) != 1 || sum[0].Attrs["data-up"] != "2" || sum[0].Attrs["data-total"] != "5" || sum[0].text() != "2 up of 5" {
		t.Errorf("summary = %+v, want 2 up of 5", sum)
	}
	feeds := byTestID(body, "feed")
	if len(feeds) != 1 || !strings.Contains(body, `&amp;view=peers"`) {
		t.Errorf("the page has no peers live feed")
	}

	rows := peerRows(t, body)
	if len(rows) != 5 {
		t.Fatalf("%d peer rows, want 5", len(rows))
	}
	tests := []struct {
		endpoint, state, via, status, static string
		texts                                []string
	}{
		{"http://10.42.0.8:7420", "up", "udp", "up", "false", []string{"school-laptop", shortNodeID(school.keys.ID()), "12s ago", "up"}},
		{unknownEP, "unknown", "static", "unknown", "true", []string{"static", "never", "not heard yet"}},
		{downEP, "down", "static", "down", "true", []string{"static", "never", "down"}},
		{"http://10.42.0.12:7420", "down", "lora", "down", "false", []string{"clinic-nuc", "LoRa", "2h 0m ago", "down"}},
		{"http://10.42.0.20:7420", "up", "udp", "idle", "false", []string{"node-3", "UDP", "just now", "up, not taking work"}},
	}
	for _, tt := range tests {
		row, ok := rows[tt.endpoint]
		if !ok {
			t.Errorf("no row for %s", tt.endpoint)
			continue
		}
		if got := rowState(t, row); got != tt.state {
			t.Errorf("%s: state badge %q, want %q", tt.endpoint, got, tt.state)
		}
		if v := byTestID(row.Inner, "peer-via"); len(v) != 1 || v[0].Attrs["data-via"] != tt.via {
			t.Errorf("%s: via badge %+v, want %q", tt.endpoint, v, tt.via)
		}
		// One state per peer: a peer that is down never also reads "active".
		if b := byTestID(row.Inner, "peer-state"); len(b) != 1 || b[0].Attrs["data-status"] != tt.status {
			t.Errorf("%s: state badge %+v, want status %s", tt.endpoint, b, tt.status)
		}
		if row.Attrs["data-static"] != tt.static {
			t.Errorf("%s: row static = %q, want %s", tt.endpoint, row.Attrs["data-static"], tt.static)
		}
		if ep := byTestID(row.Inner, "peer-endpoint"); len(ep) != 1 || ep[0].text() != tt.endpoint {
			t.Errorf("%s: endpoint cell %+v", tt.endpoint, ep)
		}
		text := row.text()
		for _, want := range tt.texts {
			if !strings.Contains(text, want) {
				t.Errorf("%s: row %q lacks %q", tt.endpoint, text, want)
			}
		}
	}
	// The full node ID is in the short ID's title.
	if ids := byTestID(rows["http://10.42.0.8:7420"].Inner, "peer-id"); len(ids) != 1 ||
		ids[0].Attrs["title"] != string(school.keys.ID()) {
		t.Errorf("node ID cell %+v, want the full ID as title", ids)
	}

	// htmx gets the body only; the card route gets the card only.
	resp, frag := e.do(t, "GET", "/network/peers", nil, map[string]string{"Cookie": cookie, "HX-Request": "true"})
	if resp.StatusCode != http.StatusOK || strings.Contains(frag, "<html") || len(peerRows(t, frag)) != 5 {
		t.Errorf("htmx GET /network/peers = %d, want the body fragment with 5 rows:\n%s", resp.StatusCode, frag)
	}
	resp, card := e.do(t, "GET", "/ui/network/peers", nil, map[string]string{"Cookie": cookie, "HX-Request": "true"})
	if resp.StatusCode != http.StatusOK || strings.Contains(card, "<html") || hasTestID(card, "feed") || len(peerRows(t, card)) != 5 {
		t.Errorf("GET /ui/network/peers = %d, want the table card alone:\n%s", resp.StatusCode, card)
	}
}

func TestPeersPageEmptyAndError(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	cookie := e.login(t)
	_, body := e.do(t, "GET", "/network/peers", nil, map[string]string{"Cookie": cookie})
	if len(peerRows(t, body)) != 0 || !strings.Contains(body, "No peers yet.") {
		t.Errorf("empty peer table does not explain itself:\n%s", body)
	}
	if s := byTestID(body, "peers-summary"); len(s) != 1 || s[0].text() != "0 up of 0" {
		t.Errorf("summary %+v, want 0 up of 0", s)
	}

	e.breakTable(t, "node_peers")
	resp, body := e.do(t, "GET", "/network/peers", nil, map[string]string{"Cookie": cookie})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "The peer table could not be read.") ||
		strings.Contains(body, "node_peers") || strings.Contains(body, "no such table") {
		t.Errorf("peer table error: status %d, body:\n%s", resp.StatusCode, body)
	}
}

// readItemAndTable reads peer feed messages until it has seen a feed item
// containing text and, in that message or a later one, the peer table
// card. It returns the item's text and the message with the table.
func readItemAndTable(t *testing.T, conn *websocket.Conn, text string) (item, table string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for item == "" || table == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no feed item %q followed by the table (item %q)", text, item)
		}
		msg := readMsg(t, conn)
		for _, it := range byTestID(msg, "feed-item") {
			if strings.Contains(it.text(), text) {
				item = it.text()
			}
		}
		if item != "" && strings.Contains(msg, `id="peer-table-card"`) {
			table = msg
		}
	}
	return item, table
}

func TestFeedPeers(t *testing.T) {
	leakCheck(t)
	e := newTestEnv(t, envOptions{links: []radio.Via{"udp"}, handler: func(h *Handler) { h.networkThrottle = 50 * time.Millisecond }})
	// Before the feeds open: one peer went silent, one is up.
	clinic := newTestPeer(t, "http://10.42.0.12:7420", "clinic-nuc")
	e.hear(t, "udp", clinic, false)
	e.silence(t, clinic.endpoint)
	e.hear(t, "udp", newTestPeer(t, "http://10.42.0.8:7420", "school-laptop"), true)
	// node-3 is admitted now, so that the feeds below see its beacon only.
	p := newTestPeer(t, "http://10.42.0.30:7420", "node-3")
	e.admit(t, p.keys.ID())
	cookie := e.login(t)
	peers := e.dialFeedURL(t, cookie, "/ui/ws?view=peers")
	dash := e.dialFeed(t, cookie)

	// Events about other things are not listed on the peers page.
	if _, err := e.node.StoreShard(t.Context(), "a", 1, strings.NewReader("x"), "", "admin"); err != nil {
		t.Fatal(err)
	}
	wantAll(t, "shard (dashboard)", readMsg(t, dash), `data-kind="shard"`)

	// A new peer appears: a feed entry, and the table with its row.
	ep := p.endpoint
	e.beacon(t, "udp", p, true)
	msg := readMsg(t, peers)
	if strings.Contains(msg, `data-kind="shard"`) {
		t.Errorf("peers view lists a shard event:\n%s", msg)
	}
	items := byTestID(msg, "feed-item")
	if len(items) != 1 || items[0].Attrs["data-kind"] != "peer" || items[0].Attrs["data-state"] != "up" ||
		!strings.Contains(items[0].text(), "node-3 (UDP) is up") {
		t.Errorf("peer feed item = %+v, want node-3 (UDP) is up", items)
	}
	if !strings.Contains(msg, `id="peer-table-card"`) || !strings.Contains(msg, `hx-swap-oob="true"`) {
		t.Fatalf("peer message does not replace the table card out of band:\n%s", msg)
	}
	row, ok := peerRows(t, msg)[ep]
	if !ok || rowState(t, row) != "up" {
		t.Errorf("table after the new peer: row %+v, want %s up", row, ep)
	}
	if s := byTestID(msg, "peers-summary"); len(s) != 1 || s[0].Attrs["data-up"] != "2" || s[0].Attrs["data-total"] != "3" {
		t.Errorf("summary after the new peer = %+v, want 2 up of 3", s)
	}
	// The dashboard lists it but has no peer table card to replace.
	msg = readMsg(t, dash)
	if !strings.Contains(msg, "node-3 (UDP) is up") || strings.Contains(msg, "peer-table-card") {
		t.Errorf("dashboard peer message:\n%s", msg)
	}

	// It goes silent (and so down), then is heard again: each time the
	// entry is listed and the row follows (in the same message, or in the
	// throttled one after).
	e.silence(t, ep)
	item, table := readItemAndTable(t, peers, "node-3 (UDP) went down.")
	if rowState(t, peerRows(t, table)[ep]) != "down" {
		t.Errorf("after down, item %q, table:\n%s", item, table)
	}
	e.beacon(t, "udp", p, true)
	item, table = readItemAndTable(t, peers, "node-3 (UDP) is up")
	if rowState(t, peerRows(t, table)[ep]) != "up" {
		t.Errorf("after coming back, item %q, table:\n%s", item, table)
	}

	// A burst of newcomers: the table is throttled, and the last one is
	// current.
	start := time.Now()
	for i := range 20 {
		e.beacon(t, "udp", newTestPeer(t, fmt.Sprintf("http://10.42.1.%d:7420", i), fmt.Sprintf("burst-%d", i)), true)
	}
	var n, cards int
	var last string
	deadline := time.Now().Add(10 * time.Second)
	for n < 20 || !strings.Contains(last, `data-total="23"`) {
		if time.Now().After(deadline) {
			t.Fatalf("after the burst: %d items, %d tables; last table lacks 23 peers", n, cards)
		}
		msg := readMsg(t, peers)
		for _, it := range byTestID(msg, "feed-item") {
			if strings.Contains(it.text(), "burst-") {
				n++
			}
		}
		if strings.Contains(msg, `id="peer-table-card"`) {
			cards++
			last = msg
		}
	}
	checkThrottled(t, "peer table", cards, start, e.h.networkThrottle)
	peers.Close()
	dash.Close()
}

func TestPeerText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p    node.Peer
		want string
	}{
		{node.Peer{Name: "node-3", Via: "udp", State: node.PeerUp, Active: true}, "node-3 (UDP) is up, taking work."},
		{node.Peer{Name: "node-3", Via: "bt_lr", State: node.PeerUp}, "node-3 (BT LR) is up, not taking new work."},
		{node.Peer{ID: "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf", Via: "lora", State: node.PeerDown}, "z6MknGc3…uXSdxf (LoRa) went down."},
		{node.Peer{Endpoint: "http://10.0.0.1:7420", Via: "static", State: node.PeerUnknown}, "http://10.0.0.1:7420 (static) is known; not heard from yet."},
		{node.Peer{Name: "x", Via: "carrier-pigeon", State: node.PeerDown}, "x (carrier-pigeon) went down."},
	}
	for _, tt := range tests {
		if got := peerText(tt.p); got != tt.want {
			t.Errorf("peerText(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}
