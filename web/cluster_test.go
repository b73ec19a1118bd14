package web

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/offgrid-net/offgrid/radio"
)

// TestClusterCard: a node with no document says it runs alone and offers
// to start a cluster; once it has, a stranger's beacon shows it as a
// pending node (not a peer) with an Admit button, and Admit makes it a
// member.
func TestClusterCard(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{alone: true, links: []radio.Via{"udp"}})
	cookie := e.login(t)
	hdr := map[string]string{"Cookie": cookie, "HX-Request": "true"}

	_, body := e.do(t, "GET", "/network/peers", nil, hdr)
	if len(byTestID(body, "cluster-alone")) != 1 || len(byTestID(body, "cluster-init")) != 1 {
		t.Fatalf("peers page of a node alone lacks the runs-alone note or the start button:\n%s", body)
	}

	resp, body := e.do(t, "POST", "/ui/cluster/init", url.Values{}, hdr)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /ui/cluster/init = %d:\n%s", resp.StatusCode, body)
	}
	members := byTestID(body, "cluster-member")
	if len(members) != 1 || members[0].Attrs["data-node-id"] != string(e.node.Info().ID) {
		t.Errorf("members after start = %+v, want this node", members)
	}
	resp, _ = e.do(t, "POST", "/ui/cluster/init", url.Values{}, hdr)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("a second start = %d, want 409", resp.StatusCode)
	}

	p := newTestPeer(t, "http://10.42.0.30:7420", "visitor")
	e.beacon(t, "udp", p, true)
	waitFor(t, "the visitor pending", func() bool { return len(e.node.PendingNodes()) == 1 })
	if _, ok := e.peer(t, p.endpoint); ok {
		t.Fatal("a non-member's beacon put it in the peer table")
	}
	_, body = e.do(t, "GET", "/ui/cluster", nil, hdr)
	pending := byTestID(body, "pending-node")
	if len(pending) != 1 || pending[0].Attrs["data-node-id"] != string(p.keys.ID()) || len(byTestID(body, "admit-button")) != 1 {
		t.Fatalf("pending nodes = %+v, want the visitor with an Admit button", pending)
	}

	dash := e.dialFeed(t, cookie)
	resp, body = e.do(t, "POST", "/ui/cluster/admit", url.Values{"node_id": {string(p.keys.ID())}}, hdr)
	if resp.StatusCode != http.StatusOK || len(byTestID(body, "cluster-member")) != 2 {
		t.Fatalf("POST /ui/cluster/admit = %d, want the visitor among 2 members:\n%s", resp.StatusCode, body)
	}
	if !e.node.IsMember(p.keys.ID()) || len(e.node.PendingNodes()) != 0 {
		t.Errorf("after Admit: member %v, pending %v", e.node.IsMember(p.keys.ID()), e.node.PendingNodes())
	}
	wantAll(t, "cluster change on the dashboard feed", readMsg(t, dash), `data-kind="cluster"`, "version 2 installed: 2 members")
	resp, _ = e.do(t, "POST", "/ui/cluster/admit", url.Values{"node_id": {"nobody"}}, hdr)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("admit of a bad node ID = %d, want 400", resp.StatusCode)
	}
	e.hear(t, "udp", p, true)
}

// TestMemberCannotTakeOverAnotherMembersEndpoint: a beacon by one member
// naming another live member's endpoint leaves that member's row as it is.
func TestMemberCannotTakeOverAnotherMembersEndpoint(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{links: []radio.Via{"udp"}})
	owner := newTestPeer(t, "http://10.42.0.40:7420", "owner")
	e.hear(t, "udp", owner, true)
	other := newTestPeer(t, owner.endpoint, "other")
	e.admit(t, other.keys.ID())
	e.beacon(t, "udp", other, true)
	// A third member's beacon, sent after on the same link, marks that the
	// other's was handled.
	e.hear(t, "udp", newTestPeer(t, "http://10.42.0.41:7420", "marker"), true)
	if p, _ := e.peer(t, owner.endpoint); p.ID != owner.keys.ID() || p.Name != "owner" {
		t.Errorf("row of %s = %s %q, want the owner's", owner.endpoint, p.ID, p.Name)
	}
}
