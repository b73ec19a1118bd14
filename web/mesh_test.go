package web

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/radio"
	"github.com/offgrid-net/offgrid/radio/radiotest"
)

// The metrics file of a mesh with two neighbours and two routes.
const meshTwoNeighbours = `{"proto":"batman-adv","health":{"interfaces_up":2,"mesh_ok":true},
"neighbors":[{"address":"fe80::c8a3:1bff:fe22:4d01","iface":"wlan0-mesh","metric":255},
             {"address":"fe80::7e4f:2aff:fe10:99b2","iface":"wlan0-mesh","metric":187.5}],
"routes":[{"destination":"10.42.0.8","via":"fe80::c8a3:1bff:fe22:4d01","metric":255},
          {"destination":"10.42.0.12","via":"fe80::7e4f:2aff:fe10:99b2","metric":121.3333}]}`

// meshFile returns a metrics file with one neighbour and the given health.
func meshFile(ok bool, interfacesUp int) string {
	return fmt.Sprintf(`{"proto":"babel","health":{"interfaces_up":%d,"mesh_ok":%v},
"neighbors":[{"address":"fe80::1","iface":"mesh0","metric":96}],"routes":[]}`, interfacesUp, ok)
}

// writeMesh replaces the node's mesh metrics file (DATA/mesh.json) with
// content in one rename, so the node never reads half of it, and waits
// until the node's mesh metrics satisfy done.
func (e *testEnv) writeMesh(t *testing.T, content string, done func(node.MeshMetrics) bool) {
	t.Helper()
	tmp := filepath.Join(e.dir, "mesh.json.tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(e.dir, "mesh.json")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the node to read mesh.json", func() bool {
		m, err := e.node.Mesh(t.Context())
		return err == nil && done(m)
	})
}

// fromFile reports metrics read from the metrics file.
func fromFile(m node.MeshMetrics) bool { return m.Source == "file" }

func TestMeshPage(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	e.writeMesh(t, meshTwoNeighbours, fromFile)
	cookie := e.login(t)
	resp, body := e.do(t, "GET", "/network/mesh", nil, map[string]string{"Cookie": cookie})
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(body, "<!doctype html>") {
		t.Fatalf("GET /network/mesh = %d, want a full page", resp.StatusCode)
	}
	if links := byTestID(body, "nav-mesh"); len(links) != 1 || links[0].Attrs["aria-current"] != "page" {
		t.Errorf("Mesh link = %+v, want it marked current", links)
	}
	if ok := byTestID(body, "mesh-ok"); len(ok) != 1 || ok[0].Attrs["data-ok"] != "true" {
		t.Errorf("mesh-ok badge = %+v, want data-ok=true", ok)
	}
	// The protocol is reported as the file wrote it.
	for id, want := range map[string]string{"mesh-proto": "batman-adv", "mesh-interfaces": "2", "mesh-source": "metrics file"} {
		if got, _ := testIDText(body, id); got != want {
			t.Errorf("%s = %q, want %q", id, got, want)
		}
	}
	nb := byTestID(body, "mesh-neighbors")
	if len(nb) != 1 {
		t.Fatalf("%d neighbour tables, want 1", len(nb))
	}
	rows := byTestID(nb[0].Inner, "mesh-neighbor")
	if len(rows) != 2 || rows[0].Attrs["data-address"] != "fe80::c8a3:1bff:fe22:4d01" || !strings.Contains(rows[1].text(), "wlan0-mesh 187.5") {
		t.Errorf("neighbour rows = %+v", rows)
	}
	rt := byTestID(body, "mesh-routes")
	if len(rt) != 1 {
		t.Fatalf("%d route tables, want 1", len(rt))
	}
	routes := byTestID(rt[0].Inner, "mesh-route")
	if len(routes) != 2 || routes[1].Attrs["data-destination"] != "10.42.0.12" || !strings.Contains(routes[1].text(), "121.333") {
		t.Errorf("route rows = %+v", routes)
	}
	if hasTestID(body, "mesh-none") || !strings.Contains(body, `&amp;view=mesh"`) {
		t.Error("mesh page: wrong empty state or no mesh live feed")
	}

	// The card alone, for the refresh button.
	_, card := e.do(t, "GET", "/ui/network/mesh", nil, map[string]string{"Cookie": cookie, "HX-Request": "true"})
	if strings.Contains(card, "<html") || hasTestID(card, "feed") || len(byTestID(card, "mesh-routes")) != 1 {
		t.Errorf("GET /ui/network/mesh is not the card alone:\n%s", card)
	}
}

func TestMeshPageEmptyStates(t *testing.T) {
	t.Parallel()
	noDaemon := []string{`data-testid="mesh-none"`, "No mesh daemon found", "batman-adv or babeld", "DATA/mesh.json"}
	tests := []struct {
		name string
		// prepare brings the node into the state under test.
		prepare func(t *testing.T, e *testEnv)
		want    []string
		notWant []string
		ok      string
	}{
		{"no daemon", func(*testing.T, *testEnv) {}, noDaemon, []string{`data-testid="mesh-neighbors"`}, "false"},
		{"daemon, nothing heard", func(t *testing.T, e *testEnv) {
			e.writeMesh(t, `{"proto":"babel","neighbors":[],"routes":[],"health":{"interfaces_up":1,"mesh_ok":false}}`, fromFile)
		}, []string{`data-testid="mesh-neighbors"`, "No neighbours:", "No routes yet:"}, []string{`data-testid="mesh-none"`}, "false"},
		// A file that goes bad is no source any more: the node says so
		// rather than keep its last metrics.
		{"bad file", func(t *testing.T, e *testEnv) {
			e.writeMesh(t, meshTwoNeighbours, fromFile)
			e.writeMesh(t, `{"proto":"batman-adv","neighbors":[`, func(m node.MeshMetrics) bool { return m.Source == "none" })
		}, noDaemon, []string{`data-testid="mesh-neighbors"`, `data-testid="mesh-error"`}, "false"},
		{"stopped node", func(_ *testing.T, e *testEnv) { e.stopNode() },
			[]string{`data-testid="mesh-error"`, "The mesh metrics could not be read: node stopped."},
			[]string{`data-testid="mesh-neighbors"`, `data-testid="mesh-ok"`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t, envOptions{})
			cookie := e.login(t)
			tt.prepare(t, e)
			resp, body := e.do(t, "GET", "/network/mesh", nil, map[string]string{"Cookie": cookie})
			if resp.StatusCode != http.StatusOK {
				t.Errorf("status %d, want 200", resp.StatusCode)
			}
			wantAll(t, tt.name, body, tt.want...)
			for _, nw := range tt.notWant {
				if strings.Contains(body, nw) {
					t.Errorf("page shows %q", nw)
				}
			}
			if tt.ok != "" {
				if ok := byTestID(body, "mesh-ok"); len(ok) != 1 || ok[0].Attrs["data-ok"] != tt.ok {
					t.Errorf("mesh-ok = %+v, want data-ok=%s", ok, tt.ok)
				}
			}
		})
	}
}

func TestFeedMesh(t *testing.T) {
	leakCheck(t)
	e := newTestEnv(t, envOptions{links: []radio.Via{"udp"}, handler: func(h *Handler) { h.networkThrottle = 50 * time.Millisecond }})
	cookie := e.login(t)
	mesh := e.dialFeedURL(t, cookie, "/ui/ws?view=mesh")

	// Peer events are not listed on the mesh page.
	e.hear(t, "udp", newTestPeer(t, "http://10.42.0.30:7420", "node-3"), true)
	e.writeMesh(t, meshFile(false, 1), fromFile)
	msg := readMsg(t, mesh)
	if strings.Contains(msg, `data-kind="peer"`) {
		t.Errorf("mesh view lists a peer event:\n%s", msg)
	}
	items := byTestID(msg, "feed-item")
	if len(items) != 1 || items[0].Attrs["data-kind"] != "mesh" || items[0].Attrs["data-state"] != "not-ok" ||
		!strings.Contains(items[0].text(), "babel: mesh NOT OK, 1 neighbour, 0 routes, 1 interface up.") {
		t.Errorf("mesh feed item = %+v", items)
	}
	if !strings.Contains(msg, `id="mesh-card"`) || !strings.Contains(msg, `hx-swap-oob="true"`) {
		t.Fatalf("mesh message does not replace the card out of band:\n%s", msg)
	}
	if ok := byTestID(msg, "mesh-ok"); len(ok) != 1 || ok[0].Attrs["data-ok"] != "false" {
		t.Errorf("mesh-ok after the event = %+v, want false", ok)
	}
	if nb := byTestID(msg, "mesh-neighbor"); len(nb) != 1 || nb[0].Attrs["data-address"] != "fe80::1" {
		t.Errorf("neighbours after the event = %+v", nb)
	}

	// A burst of changes, each read by the node: throttled, and the last
	// card shows the last metrics.
	start := time.Now()
	for i := range 20 {
		e.writeMesh(t, meshFile(true, i+2), func(m node.MeshMetrics) bool { return m.InterfacesUp == i+2 })
	}
	var n, cards int
	var last string
	deadline := time.Now().Add(10 * time.Second)
	for n < 20 || !strings.Contains(last, `data-testid="mesh-interfaces">21<`) {
		if time.Now().After(deadline) {
			t.Fatalf("after the burst: %d items, %d cards; last card lacks 21 interfaces:\n%s", n, cards, last)
		}
		msg := readMsg(t, mesh)
		n += len(byTestID(msg, "feed-item"))
		if strings.Contains(msg, `id="mesh-card"`) {
			cards++
			last = msg
		}
	}
	checkThrottled(t, "mesh card", cards, start, e.h.networkThrottle)
	if ok := byTestID(last, "mesh-ok"); len(ok) != 1 || ok[0].Attrs["data-ok"] != "true" {
		t.Errorf("last mesh-ok = %+v, want true", ok)
	}
	mesh.Close()
}

// noticedLink is a radio link that runs in a reduced mode, as a BLE link
// on an adapter without extended advertising does.
type noticedLink struct {
	radio.Link
	notice string
}

func (l noticedLink) Notice() string { return l.notice }

// TestMeshPageLinkNotice: a link that fell back says so on the Mesh page.
func TestMeshPageLinkNotice(t *testing.T) {
	t.Parallel()
	const notice = "ble: legacy name beacon (adapter hci0 has no extended advertising: BlueZ reports no secondary channels)"
	e := newTestEnv(t, envOptions{node: func(c *node.Config) {
		mesh := radiotest.NewMesh()
		c.Peers.Links = append(c.Peers.Links, noticedLink{mesh.Link(radio.ViaBLE), notice}, mesh.Link(radio.ViaUDP))
	}})
	cookie := e.login(t)
	_, body := e.do(t, "GET", "/network/mesh", nil, map[string]string{"Cookie": cookie})
	got := byTestID(body, "link-notice")
	if len(got) != 1 || got[0].text() != notice {
		t.Errorf("link notices = %+v, want one saying %q", got, notice)
	}
}
