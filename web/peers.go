package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/offgrid-net/offgrid/node"
)

// networkThrottle is the least time between two refreshes of the peers
// card (or the mesh card) on one live feed connection: beacons from many
// peers arrive in bursts.
const networkThrottle = 500 * time.Millisecond

// peersPageView is the data of the peers page.
type peersPageView struct {
	Peers   peersView
	Cluster clusterView
	Feed    feedHistory
}

// up counts the peers whose state is up.
func (v peersView) up() int {
	n := 0
	for _, p := range v.Peers {
		if p.State == node.PeerUp {
			n++
		}
	}
	return n
}

// networkPeers serves the peers page: the peer table and the peer events
// feed.
func (h *Handler) networkPeers(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	feed := h.feedHistoryFor(viewPeers)
	v := peersPageView{Peers: h.peersView(ctx), Cluster: h.clusterView(), Feed: feed}
	h.renderPage(w, r, http.StatusOK, "Peers", navPeers, peersBody(v))
}

// peersTable serves the peers page's table card.
func (h *Handler) peersTable(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	h.renderPart(w, r, http.StatusOK, "Peers", peerTableCard(h.peersView(ctx), false))
}

// peersViewFor reads the peer table under the node call timeout.
func (h *Handler) peersViewFor(ctx context.Context) peersView {
	ctx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
	defer cancel()
	return h.peersView(ctx)
}

// transport describes one way a peer can be heard.
type transport struct {
	Label, Title string
}

// transports are the known values of node.Peer.Via.
var transports = map[string]transport{
	"static": {"static", "Configured peer, asked for its announce every few seconds"},
	"udp":    {"UDP", "Heard by a signed beacon over UDP multicast on the local network"},
	"lora":   {"LoRa", "Heard by a signed beacon over LoRa radio"},
	"ble":    {"BLE", "Heard by a signed beacon over Bluetooth Low Energy"},
	"bt_lr":  {"BT LR", "Heard by a signed beacon over Bluetooth long range (coded PHY)"},
	"file":   {"file", "Heard by a signed beacon on the shared file bus"},
	"gossip": {"gossip", "Learned from the cluster's membership gossip"},
}

// viaLabel is the short name of a transport, for the badge.
func viaLabel(via string) string {
	if t, ok := transports[via]; ok {
		return t.Label
	}
	return orDash(via)
}

// viaTitle explains a transport, for the badge's tooltip.
func viaTitle(via string) string {
	if t, ok := transports[via]; ok {
		return t.Title
	}
	return "Heard over " + orDash(via)
}

// viaClass picks the badge colour; unknown transports share one.
func viaClass(via string) string {
	if _, ok := transports[via]; ok {
		return "via-" + via
	}
	return "via-other"
}

// peerLabel names a peer for people: its name, else its short node ID,
// else its endpoint.
func peerLabel(p node.Peer) string {
	switch {
	case p.Name != "":
		return p.Name
	case p.ID != "":
		return shortNodeID(p.ID)
	default:
		return p.Endpoint
	}
}

// peerText is the live feed's line for a changed peer.
func peerText(p node.Peer) string {
	who := fmt.Sprintf("%s (%s)", peerLabel(p), viaLabel(p.Via))
	switch p.State {
	case node.PeerUp:
		if p.Active {
			return who + " is up, taking work."
		}
		return who + " is up, not taking new work."
	case node.PeerDown:
		return who + " went down."
	default:
		return who + " is known; not heard from yet."
	}
}

// isoTime formats t for a datetime attribute.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// unixMilli is t as a data attribute for app.js's relative times.
func unixMilli(t time.Time) string {
	return fmt.Sprint(t.UnixMilli())
}

// peerStateClass picks the state badge's colour: anything but up and down
// is grey.
func peerStateClass(s node.PeerState) string {
	switch s {
	case node.PeerUp, node.PeerDown:
		return string(s)
	default:
		return "unknown"
	}
}

// peerStatus is a peer's one state for people, from its reachability and
// whether it takes work: a peer that is down shows "down" whatever it last
// said about taking work, so the two never contradict each other.
type peerStatus struct {
	// Class is "up", "idle", "down" or "unknown" (badge colour and
	// data-status).
	Class string
	Label string
	Title string
}

// peerStatusOf is p's one state.
func peerStatusOf(p node.Peer) peerStatus {
	switch {
	case p.State == node.PeerUp && p.Active:
		return peerStatus{"up", "up", "Reachable and taking jobs and storage"}
	case p.State == node.PeerUp:
		return peerStatus{"idle", "up, not taking work", "Reachable, but switched off: takes no new jobs or storage"}
	case p.State == node.PeerDown:
		return peerStatus{"down", "down", "Not reachable: its announce or beacons stopped"}
	default:
		return peerStatus{"unknown", "not heard yet", "Known, but not heard from yet"}
	}
}

// peerKey is the key of a peer's page: its node ID once known, else its
// endpoint.
func peerKey(p node.Peer) string {
	if p.ID != "" {
		return string(p.ID)
	}
	return p.Endpoint
}

// peerURL is a peer's page.
func peerURL(p node.Peer) string {
	return "/network/peers/" + url.PathEscape(peerKey(p))
}
