package web

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
)

// meshView is the data of the mesh card.
type meshView struct {
	Mesh node.MeshMetrics
	Now  time.Time
	// Err is a user-facing message when the metrics could not be read.
	Err string
}

// networkMesh serves the mesh page: the mesh health card and the mesh
// events feed.
func (h *Handler) networkMesh(w http.ResponseWriter, r *http.Request) {
	feed := h.feedHistoryFor(viewMesh)
	v := h.meshViewFor(r.Context())
	h.renderPage(w, r, http.StatusOK, "Mesh", navMesh, meshBody(v, feed))
}

// meshPart serves the mesh card.
func (h *Handler) meshPart(w http.ResponseWriter, r *http.Request) {
	h.renderPart(w, r, http.StatusOK, "Mesh", meshCard(h.meshViewFor(r.Context()), false))
}

// meshViewFor reads the mesh metrics under the node call timeout.
func (h *Handler) meshViewFor(ctx context.Context) meshView {
	ctx, cancel := context.WithTimeout(ctx, nodeCallTimeout)
	defer cancel()
	m, err := h.node.Mesh(ctx)
	if err != nil {
		h.log.Warn("Read mesh metrics for dashboard", "err", err)
		msg := "The mesh metrics could not be read."
		if c := problem.Classify(err); c.Public {
			// The node's reason says what is wrong (e.g. it has stopped).
			msg = "The mesh metrics could not be read: " + sentence(c.Reason)
		}
		return meshView{Err: msg, Now: h.now()}
	}
	return meshView{Mesh: m, Now: h.now()}
}

// meshFound reports whether any routing daemon or metrics file answered.
func meshFound(m node.MeshMetrics) bool {
	return m.Source != "" && m.Source != "none"
}

// meshText is the live feed's line for new mesh metrics.
func meshText(m node.MeshMetrics) string {
	if !meshFound(m) {
		return "No mesh daemon found any more."
	}
	ok := "mesh OK"
	if !m.MeshOK {
		ok = "mesh NOT OK"
	}
	return orDash(m.Proto) + ": " + ok + ", " +
		strconv.Itoa(len(m.Neighbors)) + " " + plural(len(m.Neighbors), "neighbour", "neighbours") + ", " +
		strconv.Itoa(len(m.Routes)) + " " + plural(len(m.Routes), "route", "routes") + ", " +
		strconv.Itoa(m.InterfacesUp) + " " + plural(m.InterfacesUp, "interface", "interfaces") + " up."
}

// metric formats a link or route metric (batman-adv TQ, babel cost) with
// at most three decimals.
func metric(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return strconv.FormatFloat(math.Round(v*1000)/1000, 'f', -1, 64)
}

// sourceLabel explains where mesh metrics came from.
func sourceLabel(source string) string {
	switch source {
	case "file":
		return "metrics file"
	case "", "none":
		return "none"
	default:
		return source
	}
}
