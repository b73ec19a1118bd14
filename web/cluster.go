package web

import (
	"context"
	"net/http"

	"github.com/offgrid-net/offgrid/cluster"
	"github.com/offgrid-net/offgrid/identity"
	"github.com/offgrid-net/offgrid/node"
	"github.com/offgrid-net/offgrid/problem"
)

// clusterView is the data of the peers page's Cluster card.
type clusterView struct {
	// Alone: the node has no cluster document.
	Alone    bool
	Doc      cluster.Document
	Self     identity.NodeID
	Pending  []node.PendingNode
	Proposal bool
	// Err is shown instead of a change that failed.
	Err string
}

// isAdmin reports whether this node's key may change the cluster.
func (v clusterView) isAdmin() bool { return !v.Alone && v.Doc.IsAdmin(v.Self) }

func (h *Handler) clusterView() clusterView {
	d, ok := h.node.Cluster()
	_, proposed := h.node.ClusterProposal()
	return clusterView{Alone: !ok, Doc: d, Self: h.node.Info().ID, Pending: h.node.PendingNodes(), Proposal: proposed}
}

// clusterPart serves the Cluster card alone (its Refresh button).
func (h *Handler) clusterPart(w http.ResponseWriter, r *http.Request) {
	h.renderPart(w, r, http.StatusOK, "Cluster", clusterCard(h.clusterView()))
}

// clusterInit starts a cluster with this node as admin and first member.
func (h *Handler) clusterInit(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	_, _, err := h.node.InitCluster(ctx, nil, 0)
	h.clusterAnswer(w, r, err, "The cluster could not be started")
}

// clusterAdmit admits a pending node (form field node_id).
func (h *Handler) clusterAdmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), nodeCallTimeout)
	defer cancel()
	_, _, err := h.node.AdmitNode(ctx, identity.NodeID(r.PostForm.Get("node_id")), "")
	h.clusterAnswer(w, r, err, "The node could not be admitted")
}

// clusterAnswer renders the card after a change, with what went wrong.
func (h *Handler) clusterAnswer(w http.ResponseWriter, r *http.Request, err error, what string) {
	v := h.clusterView()
	status := http.StatusOK
	if err != nil {
		c := problem.Classify(err)
		status = c.Status
		v.Err = what + "."
		if c.Public {
			v.Err = what + ": " + err.Error()
		}
		h.log.Warn("Cluster change from dashboard failed", "err", err)
	}
	h.renderPart(w, r, status, "Cluster", clusterCard(v))
}
