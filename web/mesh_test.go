package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/offgrid-net/offgrid/node"
)

func TestMeshPage(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t)
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
	if hasTestID(body, "mesh-none") || !strings.Contains(body, `ws-connect="/ui/ws?view=mesh"`) {
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
	tests := []struct {
		name    string
		mesh    node.MeshMetrics
		err     error
		want    []string
		notWant []string
		ok      string
	}{
		{"no daemon", node.MeshMetrics{Source: "none", Proto: "none"}, nil,
			[]string{`data-testid="mesh-none"`, "No mesh daemon found", "batman-adv or babeld", "DATA/mesh.json"},
			[]string{`data-testid="mesh-neighbors"`}, "false"},
		{"daemon, nothing heard", node.MeshMetrics{Source: "file", Proto: "babel", InterfacesUp: 1}, nil,
			[]string{`data-testid="mesh-neighbors"`, "No neighbours:", "No routes yet:"},
			[]string{`data-testid="mesh-none"`}, "false"},
		{"bad file", node.MeshMetrics{}, fmt.Errorf("%w: mesh metrics file /data/mesh.json: unexpected EOF", node.ErrUnavailable),
			[]string{`data-testid="mesh-error"`, "mesh metrics file /data/mesh.json: unexpected EOF."},
			[]string{`data-testid="mesh-neighbors"`, `data-testid="mesh-ok"`}, ""},
		{"other error", node.MeshMetrics{}, errors.New("node: stopped at 0xdeadbeef"),
			[]string{`data-testid="mesh-error"`, "could not be read."}, []string{"deadbeef"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newTestEnv(t)
			e.fake.mu.Lock()
			e.fake.mesh, e.fake.meshErr = tt.mesh, tt.err
			e.fake.mu.Unlock()
			cookie := e.login(t)
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
	e := newTestEnvH(t, func(h *Handler) { h.networkThrottle = 50 * time.Millisecond })
	cookie := e.login(t)
	mesh := e.dialFeedURL(t, cookie, "/ui/ws?view=mesh")

	// Peer events are not listed on the mesh page.
	e.fake.setPeer(node.Peer{Endpoint: "http://10.42.0.30:7420", Via: "udp", State: node.PeerUp})
	m := node.MeshMetrics{Source: "file", Proto: "babel", MeshOK: false, InterfacesUp: 1, ReadAt: e.clock.Now(),
		Neighbors: []node.MeshNeighbor{{Address: "fe80::1", Iface: "mesh0", Metric: 96}}}
	e.fake.setMesh(m)
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

	// A burst: throttled, and the last card shows the last metrics.
	for i := range 20 {
		m.MeshOK = true
		m.InterfacesUp = i + 1
		e.fake.setMesh(m)
	}
	var n, cards int
	var last string
	deadline := time.Now().Add(5 * time.Second)
	for n < 20 || !strings.Contains(last, `data-testid="mesh-interfaces">20<`) {
		if time.Now().After(deadline) {
			t.Fatalf("after the burst: %d items, %d cards; last card lacks 20 interfaces:\n%s", n, cards, last)
		}
		msg := readMsg(t, mesh)
		n += len(byTestID(msg, "feed-item"))
		if strings.Contains(msg, `id="mesh-card"`) {
			cards++
			last = msg
		}
	}
	if cards > 10 {
		t.Errorf("%d card refreshes for 20 mesh events, want them throttled", cards)
	}
	if ok := byTestID(last, "mesh-ok"); len(ok) != 1 || ok[0].Attrs["data-ok"] != "true" {
		t.Errorf("last mesh-ok = %+v, want true", ok)
	}
	mesh.Close()
}
