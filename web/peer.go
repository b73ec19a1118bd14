package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/offgrid-net/offgrid/node"
)

// maxPeerKey bounds the key of a peer page (a node ID or an endpoint URL).
const maxPeerKey = 512

// peerPageView is the data of a peer's page.
type peerPageView struct {
	node.PeerDetail
	Status peerStatus
	// Neighbor is the routing daemon's neighbour entry for the peer's
	// address, when it has one.
	Neighbor *node.MeshNeighbor
	// MeshSource is where the mesh metrics came from ("none" without a
	// routing daemon or metrics file).
	MeshSource string
	Now        time.Time
	// Timeline is the peer's up/down history drawn as bars across the
	// last node.PeerTimelineWindow; UpPercent the share of it the peer
	// was up.
	Timeline  []timelineBar
	UpPercent int
}

// timelineBar is one state span of a peer's timeline, placed on a
// timelineWidth-wide axis.
type timelineBar struct {
	X, W     string
	State    string
	From, To time.Time
}

// timelineWidth is the width of the timeline's SVG coordinate space.
const timelineWidth = 1000

// timelineOf places each span on the timeline's axis. Spans too short to
// show still get a bar one unit wide, so a short outage is visible; an
// empty span is dropped unless it is the last (the state the peer is in
// now, entered this instant).
func timelineOf(spans []node.PeerStateSpan, now time.Time) (bars []timelineBar, upPercent int) {
	start := now.Add(-node.PeerTimelineWindow)
	var up time.Duration
	for i, sp := range spans {
		from, to := sp.From, sp.To
		if from.Before(start) {
			from = start
		}
		if to.After(now) {
			to = now
		}
		if to.Before(from) || to.Equal(from) && i < len(spans)-1 {
			continue
		}
		if sp.State == node.PeerUp {
			up += to.Sub(from)
		}
		x := float64(from.Sub(start)) / float64(node.PeerTimelineWindow) * timelineWidth
		w := max(float64(to.Sub(from))/float64(node.PeerTimelineWindow)*timelineWidth, 1)
		x = min(x, timelineWidth-w)
		bars = append(bars, timelineBar{
			X: strconv.FormatFloat(x, 'f', 1, 64), W: strconv.FormatFloat(w, 'f', 1, 64),
			State: string(sp.State), From: from, To: to,
		})
	}
	return bars, int(100 * up / node.PeerTimelineWindow)
}

// upText says how much of the window the peer was up; a peer up for less
// than 1% (it came up minutes ago) does not read 0%.
func upText(pct int, bars []timelineBar) string {
	if pct == 0 && slices.ContainsFunc(bars, func(b timelineBar) bool { return b.State == string(node.PeerUp) }) {
		return "up under 1% of the time"
	}
	return "up " + strconv.Itoa(pct) + "% of the time"
}

// rttText is a round-trip time for people: milliseconds, with a decimal
// below ten.
func rttText(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	if ms < 10 {
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
}

// rttHow says how a round-trip time was measured.
func rttHow(via string) string {
	if via == "poll" {
		return "announce request"
	}
	return "gossip probe"
}

// peerPage serves one peer's page: identity, how it is heard, its one
// state, mesh metrics, last seen, and the shards each side holds for the
// other.
func (h *Handler) peerPage(w http.ResponseWriter, r *http.Request) {
	key, err := url.PathUnescape(chi.URLParam(r, "id"))
	if err != nil || key == "" || len(key) > maxPeerKey {
		h.peerMissing(w, r)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	d, err := h.node.PeerDetail(ctx, key)
	if errors.Is(err, node.ErrNotFound) {
		h.peerMissing(w, r)
		return
	}
	if err != nil {
		h.log.Error("Read peer for its page", "peer", key, "err", err)
		p := h.pageMeta("Peer", true)
		p.Nav = navPeers
		h.render(w, r, http.StatusInternalServerError, layout(p, peerError("The peer's record could not be read.")))
		return
	}
	v := peerPageView{PeerDetail: d, Status: peerStatusOf(d.Peer), Now: h.now(), MeshSource: "none"}
	v.Timeline, v.UpPercent = timelineOf(d.Timeline, v.Now)
	if m, err := h.node.Mesh(ctx); err == nil {
		v.MeshSource = m.Source
		v.Neighbor = neighborOf(m, d.Peer.Endpoint)
	}
	h.renderPage(w, r, http.StatusOK, peerLabel(d.Peer), navPeers, peerBody(v))
}

// peerMissing answers a peer page for a key no peer has.
func (h *Handler) peerMissing(w http.ResponseWriter, r *http.Request) {
	p := h.pageMeta("No such peer", true)
	p.Nav = navPeers
	h.render(w, r, http.StatusNotFound, layout(p, peerError("This node knows no peer with that ID or endpoint.")))
}

// neighborOf is the mesh neighbour whose address is the endpoint's host,
// or nil.
func neighborOf(m node.MeshMetrics, endpoint string) *node.MeshNeighbor {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	for i, n := range m.Neighbors {
		if host != "" && (n.Address == host || ip != nil && ip.Equal(net.ParseIP(n.Address))) {
			return &m.Neighbors[i]
		}
	}
	return nil
}
